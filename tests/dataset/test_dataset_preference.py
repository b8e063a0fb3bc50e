"""Preference pairs from a run whose teacher answers each query twice and sometimes errs (the mock's flaws).

The mock teacher gives a share of its answers a realistic flaw (cut off at max_tokens, prose instead of JSON, a
contraindicated exercise, a constraint left out); with two samples per query and re-asks, a query often has a
kept answer and a failed one. The pairs are checked against outside references: TRL's conversational DPO keys,
``jsonschema`` on the plan schema for the rejected side, ``datasets`` loading the ``preference`` config.
"""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from fitsense_luigi.config import load_schema
from fitsense_luigi.contracts import files, splits, stages
from tests.support.harness import build_run
from tests.support.layout import read_jsonl

TWO_SAMPLES_WITH_FLAWS = {"teacher": {"samples_per_query": 2, "mock": {"flaw_rate": 0.3}}}


@pytest.fixture(scope="module")
def flawed_run(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("pairs"), TWO_SAMPLES_WITH_FLAWS, task="BuildDistillationDataset")


@pytest.fixture(scope="module")
def pairs(flawed_run) -> list[dict]:
    directory = flawed_run.files.directory(stages.DATASET)
    return [p for s in splits.SPLITS for p in read_jsonl(directory / files.form(splits.PREFERENCE, s).name)]


def plan_errors(text: str) -> list[str]:
    try:
        plan = json.loads(text)
    except json.JSONDecodeError as exc:
        return [f"not JSON: {exc.msg}"]
    return [e.message for e in Draft202012Validator(load_schema("plan_response.schema.json")).iter_errors(plan)]


def test_pairs_hold_the_records_prompt_and_answer_against_a_failed_answer(flawed_run, pairs):
    records = {r["record_id"]: r for r in flawed_run.files.records()}
    assert len(pairs) >= 5, "a 30 % flaw rate over two samples of 48 queries makes pairs"
    assert {p["rejected_source"] for p in pairs} == {"sample", "reask"}
    for pair in pairs:
        record = records[pair["record_id"]]
        assert {"prompt", "chosen", "rejected"} <= pair.keys()  # TRL's preference keys, conversational
        assert pair["prompt"] == record["messages"][:-1] and pair["chosen"] == record["messages"][-1:]
        assert [m["role"] for m in pair["prompt"]] == ["system", "user"]
        assert [m["role"] for m in pair["chosen"] + pair["rejected"]] == ["assistant", "assistant"]
        assert pair["split"] == record["split"], "a pair never crosses the user split"
        assert pair["chosen"][0]["content"] != pair["rejected"][0]["content"]
        assert not plan_errors(pair["chosen"][0]["content"])
        rejected = pair["rejected"][0]["content"]
        if pair["rejected_reason"] == "schema_invalid":
            assert plan_errors(rejected), "the plan schema refuses it too"
        if pair["rejected_reason"] == "safety_flagged":  # <rule_id>:<exercise> (<why>), e.g. "... (tag high_impact)"
            exercise = pair["rejected_detail"].split(":")[1].split(" (")[0]
            assert exercise in rejected and exercise not in pair["chosen"][0]["content"]
        if pair["rejected_reason"] == "constraints_not_addressed":
            missing = pair["rejected_detail"].removeprefix("missing: ").split(", ")
            assert set(missing) <= set(record["metadata"]["quality"]["constraints_addressed"])
    assert len({p["pair_id"] for p in pairs}) == len(pairs)


def test_the_card_declares_the_preference_config_and_datasets_loads_it(flawed_run, pairs, offline_hf):
    datasets, cache = offline_hf
    directory = flawed_run.files.directory(stages.DATASET)
    summary = flawed_run.files.document(flawed_run.files.manifest(stages.DATASET))["summary"]
    assert sum(summary["preference_pairs"].values()) == len(pairs)
    loaded = datasets.load_dataset(str(directory), name=splits.PREFERENCE, cache_dir=str(cache))
    assert sum(part.num_rows for part in loaded.values()) == len(pairs)
    assert loaded[next(iter(loaded))].column_names[:5] == ["pair_id", "record_id", "prompt", "chosen", "rejected"]
    card = (directory / files.DATASET_CARD.name).read_text()
    assert 'name="preference"' in card and "DPOTrainer" in card


def test_every_config_the_card_declares_loads(flawed_run, offline_hf):
    """Each `configs` entry of the card loads by name, with the split sizes its `dataset_info` states."""
    import yaml

    datasets, cache = offline_hf
    directory = flawed_run.files.directory(stages.DATASET)
    front = yaml.safe_load((directory / files.DATASET_CARD.name).read_text().split("---\n")[1])
    names = [c["config_name"] for c in front["configs"]]
    assert names == ["default", splits.PROMPT_COMPLETION, splits.NO_SYSTEM, splits.PREFERENCE]
    for info in front["dataset_info"]:
        loaded = datasets.load_dataset(str(directory), name=info["config_name"], cache_dir=str(cache))
        assert {s["name"]: s["num_examples"] for s in info["splits"]} == {k: v.num_rows for k, v in loaded.items()}
        assert all(s["num_bytes"] > 0 for s in info["splits"])
        assert set(loaded) <= set(splits.SPLITS)
    assert front["license"] == "other" and front["license_name"] and (directory / front["license_link"]).is_file()
