"""The dataset a real run writes: schema-valid, typed, leak-free, deterministic, loadable by `datasets` and TRL."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dataset_fakes import PROVENANCE, answer, make_config, make_query
from jsonschema import Draft202012Validator

from fitsense_luigi.config import load_schema
from fitsense_luigi.contracts.encoding import dumps_row
from fitsense_luigi.dataset.build import build_dataset
from fitsense_luigi.dataset.filters import REASONS
from tests.conftest import run_luigi

SPLIT_FILES = {"train": "train.jsonl", "validation": "val.jsonl", "test": "test.jsonl"}
HF_NAMES = {"train": "train", "validation": "val", "test": "test"}  # Hugging Face split -> our split
TRL_KEYS = ("prompt", "chosen", "rejected", "completion", "messages", "label")  # keys TRL's data utils dispatch on


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def dataset_dir(built_run) -> Path:
    return built_run.path("raw", "distillation_dataset", built_run.run_id)


@pytest.fixture(scope="module")
def manifest(dataset_dir) -> dict:
    return json.loads((dataset_dir / "manifest.json").read_text())


def shape(value):
    """A row's structure: keys and the JSON type of every leaf (null stands for any type)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return ["list", *[shape(v) for v in value[:1]]]
    return None if value is None else type(value).__name__


def merge_shapes(a, b, where="row"):
    """The common shape of two rows, or an AssertionError naming the first key that differs."""
    if a is None or b is None:
        return a if b is None else b
    if isinstance(a, dict) or isinstance(b, dict):
        assert isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys(), f"{where}: keys differ"
        return {k: merge_shapes(a[k], b[k], f"{where}.{k}") for k in a}
    if isinstance(a, list) or isinstance(b, list):
        assert isinstance(a, list) and isinstance(b, list), f"{where}: list against {a if isinstance(b, list) else b}"
        if len(a) == 1 or len(b) == 1:  # an empty list fits any element type
            return a if len(b) == 1 else b
        return ["list", merge_shapes(a[1], b[1], f"{where}[]")]
    assert a == b, f"{where}: {a} against {b}"
    return a


def test_every_record_matches_the_schema_and_the_files_agree(dataset_dir, manifest):
    validator = Draft202012Validator(load_schema("distillation_record.schema.json"))
    everything = rows(dataset_dir / "all_records.jsonl")
    assert everything, "the small run keeps records"
    for record in everything:
        errors = list(validator.iter_errors(record))
        assert not errors, (record["record_id"], errors[0].message)
    by_split = {name: rows(dataset_dir / f) for name, f in SPLIT_FILES.items()}
    assert sorted(r["record_id"] for part in by_split.values() for r in part) == sorted(
        r["record_id"] for r in everything
    )
    for hf_name, part in by_split.items():
        assert all(r["split"] == SPLIT_FILES[hf_name].removesuffix(".jsonl") for r in part)
    summary = manifest["summary"]
    assert summary["records"] == len(everything)
    assert summary["records"] + summary["rejected"] == summary["input_queries"]
    assert list(summary["rejected_by_reason"]) == list(REASONS)
    assert summary["split_sizes"] == {s: len(by_split[hf]) for hf, s in HF_NAMES.items()}
    record = everything[0]
    assert record["metadata"]["source_run_ids"] == {"queries": "2026-02-17", "teacher": "2026-02-17"}
    assert record["metadata"]["source_run_id"] == "2026-02-17"


def test_same_keys_and_same_types_on_every_row(dataset_dir):
    for name in ("all_records.jsonl", "rejected.jsonl", *SPLIT_FILES.values()):
        common = None
        for k, row in enumerate(rows(dataset_dir / name)):
            common = shape(row) if common is None else merge_shapes(common, shape(row), f"{name}:{k + 1}")


def test_no_user_is_in_two_splits(dataset_dir):
    owners: dict[str, set[str]] = {}
    for name, f in SPLIT_FILES.items():
        for r in rows(dataset_dir / f):
            owners.setdefault(r["user_id"], set()).add(name)
    assert owners and all(len(splits) == 1 for splits in owners.values())


def test_messages_are_system_user_assistant_in_trl_conversational_form(dataset_dir):
    for record in rows(dataset_dir / "all_records.jsonl"):
        assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant"]
        assert all(set(m) == {"role", "content"} and m["content"].strip() for m in record["messages"])
        assert record["messages"][1]["content"] == record["instruction"]
        assert record["messages"][2]["content"] == record["response"]
        # TRL picks the dataset type from these keys: only `messages` -> conversational language modelling
        assert {k for k in record if k in TRL_KEYS} == {"messages"}
        json.loads(record["response"])  # the assistant turn is the JSON plan itself


def test_parquet_copies_hold_the_same_rows(dataset_dir):
    for split in ("train", "val", "test"):
        table = pq.read_table(dataset_dir / f"{split}.parquet")
        assert table.to_pylist() == rows(dataset_dir / f"{split}.jsonl")


@pytest.fixture(scope="module")
def offline_hf(tmp_path_factory):
    """`datasets` with no network and a private cache, as on a training box without the Hub."""
    home = tmp_path_factory.mktemp("hf_home")
    saved = {k: os.environ.get(k) for k in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "HF_HOME")}
    os.environ.update({"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(home)})
    import datasets

    yield datasets, home / "cache"
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_datasets_loads_the_json_files_with_the_expected_split_sizes(dataset_dir, manifest, offline_hf):
    datasets, cache = offline_hf
    files = {name: str(dataset_dir / f) for name, f in SPLIT_FILES.items()}
    loaded = datasets.load_dataset("json", data_files=files, cache_dir=str(cache))
    sizes = manifest["summary"]["split_sizes"]
    assert {k: v.num_rows for k, v in loaded.items()} == {hf: sizes[s] for hf, s in HF_NAMES.items()}
    for part in loaded.values():
        for messages in part["messages"]:
            assert [m["role"] for m in messages] == ["system", "user", "assistant"]


def test_datasets_loads_the_directory_through_the_card(dataset_dir, manifest, offline_hf):
    """`load_dataset(<dir>)` reads the card's configs (which files) and features (which types)."""
    datasets, cache = offline_hf
    loaded = datasets.load_dataset(str(dataset_dir), cache_dir=str(cache))
    sizes = manifest["summary"]["split_sizes"]
    assert {k: v.num_rows for k, v in loaded.items()} == {hf: sizes[s] for hf, s in HF_NAMES.items()}
    card = datasets.load_dataset_builder(str(dataset_dir), cache_dir=str(cache)).info.features
    assert loaded["train"].features == card
    assert loaded["train"].features["metadata"]["latency_ms"].dtype == "int64"


def test_a_run_that_fills_only_some_splits_still_loads_through_the_card(tmp_path, offline_hf):
    """One user: every record lands in one split, and the card declares only that one."""
    datasets, cache = offline_hf
    queries = [make_query(k, user=0) for k in range(3)]
    result = build_dataset(make_config(), queries, [answer(q) for q in queries], PROVENANCE)
    for split, part in result.splits.items():
        (tmp_path / f"{split}.jsonl").write_text("".join(dumps_row(r) + "\n" for r in part))
    (tmp_path / "README.md").write_text(result.card)
    loaded = datasets.load_dataset(str(tmp_path), cache_dir=str(cache))
    filled = [hf for hf, s in HF_NAMES.items() if result.splits[s]]
    assert len(filled) == 1 and {k: v.num_rows for k, v in loaded.items()} == {filled[0]: 3}


def test_the_card_reports_the_counts(dataset_dir, manifest):
    card = (dataset_dir / "README.md").read_text()
    summary = manifest["summary"]
    assert card.startswith("---\n") and "\n---\n" in card[4:]
    assert "Synthetic data." in card and "## Known limits" in card and "## Intended use" in card
    assert f"{summary['records']} records kept out of {summary['input_queries']} queries" in card
    for reason, count in summary["rejected_by_reason"].items():
        assert f"| `{reason}` |" in card and card.split(f"| `{reason}` |")[1].split("\n")[0].endswith(f"| {count} |")
    assert manifest["config_fingerprint"][:16] in card


def test_rebuilding_gives_byte_identical_files(built_run, dataset_dir, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(built_run.data_root, copy)
    rebuilt_dir = copy / "raw" / "distillation_dataset" / built_run.run_id
    shutil.rmtree(rebuilt_dir)
    result = run_luigi("BuildDistillationDataset", built_run.run_id, copy, built_run.params)
    assert result.returncode == 0, result.output[-3000:]
    names = sorted(p.name for p in dataset_dir.iterdir() if p.name != "manifest.json")
    assert names == sorted(p.name for p in rebuilt_dir.iterdir() if p.name != "manifest.json")
    for name in names:
        assert (rebuilt_dir / name).read_bytes() == (dataset_dir / name).read_bytes(), name
