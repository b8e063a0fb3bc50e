"""The dataset a real run writes: schema-valid, typed, leak-free, deterministic, loadable by `datasets` and TRL."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dataset_fakes import PROVENANCE, answer, make_query
from jsonschema import Draft202012Validator

from fitsense_luigi.config import load_schema
from fitsense_luigi.contracts import files, splits, stages
from fitsense_luigi.contracts.encoding import dumps_row
from fitsense_luigi.dataset.build import build_dataset
from fitsense_luigi.dataset.filters import REASONS
from tests.support import params as test_params
from tests.support.harness import run_luigi
from tests.support.layout import RunFiles, read_jsonl

SPLIT_FILES = {split: files.records(split).name for split in splits.SPLITS}  # Hugging Face's names, ours too
TRL_KEYS = ("prompt", "chosen", "rejected", "completion", "messages", "label")  # keys TRL's data utils dispatch on
rows = read_jsonl


@pytest.fixture(scope="module")
def dataset_dir(built_run) -> Path:
    return built_run.files.directory(stages.DATASET)


@pytest.fixture(scope="module")
def manifest(built_run) -> dict:
    return built_run.files.document(built_run.files.manifest(stages.DATASET))


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


def test_every_record_matches_the_schema_and_the_files_agree(built_run, dataset_dir, manifest):
    validator = Draft202012Validator(load_schema("distillation_record.schema.json"))
    everything = built_run.files.records()
    assert everything, "the small run keeps records"
    assert not (dataset_dir / "all_records.jsonl").exists(), "the records are stored once, in the split files"
    for record in everything:
        errors = list(validator.iter_errors(record))
        assert not errors, (record["record_id"], errors[0].message)
    by_split = {name: rows(dataset_dir / f) for name, f in SPLIT_FILES.items()}
    assert len({r["record_id"] for r in everything}) == len(everything)
    for name, part in by_split.items():
        assert all(r["split"] == name for r in part)
    summary = manifest["summary"]
    assert summary["records"] == len(everything)
    assert summary["records"] + summary["rejected"] == summary["input_queries"]
    assert list(summary["rejected_by_reason"]) == list(REASONS)
    assert summary["split_sizes"] == {s: len(by_split[s]) for s in splits.SPLITS}
    record = everything[0]
    run_id = built_run.run_id
    assert record["metadata"]["source_run_ids"] == {"queries": run_id, "teacher": run_id}
    assert record["metadata"]["source_run_id"] == run_id


def common_shape(named_rows):
    """The one shape of every (file name, row): an AssertionError names the first row and key that differ."""
    common = None
    for where, row in named_rows:
        common = shape(row) if common is None else merge_shapes(common, shape(row), where)
    return common


def test_every_split_has_the_same_keys_and_types_and_rejected_rows_agree_among_themselves(dataset_dir):
    """One shape across the three splits (a trainer concatenates them), not only within a file."""
    names = tuple(files.records(split).name for split in splits.SPLITS)
    shaped = [(f"{name}:{k + 1}", row) for name in names for k, row in enumerate(rows(dataset_dir / name))]
    assert {where.split(":")[0] for where, _ in shaped} == set(names), "every split holds records"
    common_shape(shaped)
    rejected = rows(dataset_dir / files.REJECTED.name)
    common_shape((f"{files.REJECTED.name}:{k + 1}", row) for k, row in enumerate(rejected))


def test_each_record_is_stored_once_in_the_split_its_field_names(dataset_dir, manifest):
    """The split files together are every kept record, each once (no second copy such as an all_records file), in
    the split its ``split`` field names; nothing else is in the dataset's directory but what the card lists."""
    in_splits: Counter[str] = Counter()
    for split in splits.SPLITS:
        name = files.records(split).name
        part = rows(dataset_dir / name)
        assert {r["split"] for r in part} <= {split}, name
        in_splits.update(r["record_id"] for r in part)
    assert max(in_splits.values()) == 1, "a record is stored twice"
    assert sum(in_splits.values()) == manifest["summary"]["records"]
    jsonl = sorted(p.name for p in dataset_dir.glob("*.jsonl"))
    assert jsonl == sorted(files.records(part).name for part in splits.DATASET_FILES)


def test_the_split_tables_share_one_schema(dataset_dir):
    """Parquet copies: the same column types in every split, so that they load as one dataset."""
    schemas = {
        split: pq.read_schema(dataset_dir / files.records_table(split).name).remove_metadata()
        for split in splits.SPLITS
    }
    first = schemas["train"]
    for split, schema in schemas.items():
        assert schema.equals(first), (split, schema.to_string())


def test_no_user_is_in_two_splits(dataset_dir):
    owners: dict[str, set[str]] = {}
    for name, f in SPLIT_FILES.items():
        for r in rows(dataset_dir / f):
            owners.setdefault(r["user_id"], set()).add(name)
    assert owners and all(len(held) == 1 for held in owners.values())


def test_messages_are_system_user_assistant_in_trl_conversational_form(built_run):
    for record in built_run.files.records():
        assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant"]
        assert all(set(m) == {"role", "content"} and m["content"].strip() for m in record["messages"])
        assert record["messages"][1]["content"] == record["instruction"]
        assert record["messages"][2]["content"] == record["response"]
        # TRL picks the dataset type from these keys: only `messages` -> conversational language modelling
        assert {k for k in record if k in TRL_KEYS} == {"messages"}
        assert record["request"] and record["instruction"].startswith(record["request"] + "\n\n")
        json.loads(record["response"])  # the assistant turn is the JSON plan itself


def test_parquet_copies_hold_the_same_rows(dataset_dir):
    for split in splits.SPLITS:
        table = pq.read_table(dataset_dir / files.records_table(split).name)
        assert table.to_pylist() == rows(dataset_dir / files.records(split).name)


def test_datasets_loads_the_json_files_with_the_expected_split_sizes(dataset_dir, manifest, offline_hf):
    datasets, cache = offline_hf
    data_files = {name: str(dataset_dir / f) for name, f in SPLIT_FILES.items()}
    loaded = datasets.load_dataset("json", data_files=data_files, cache_dir=str(cache))
    sizes = manifest["summary"]["split_sizes"]
    assert {k: v.num_rows for k, v in loaded.items()} == sizes
    for part in loaded.values():
        for messages in part["messages"]:
            assert [m["role"] for m in messages] == ["system", "user", "assistant"]


def test_datasets_loads_the_directory_through_the_card(dataset_dir, manifest, offline_hf):
    """`load_dataset(<dir>)` reads the card's configs (which files) and features (which types)."""
    datasets, cache = offline_hf
    loaded = datasets.load_dataset(str(dataset_dir), cache_dir=str(cache))
    sizes = manifest["summary"]["split_sizes"]
    assert {k: v.num_rows for k, v in loaded.items()} == sizes
    card = datasets.load_dataset_builder(str(dataset_dir), cache_dir=str(cache)).info.features
    assert loaded["train"].features == card
    assert loaded["train"].features["metadata"]["latency_ms"].dtype == "int64"


def test_a_run_that_fills_only_some_splits_still_loads_through_the_card(tmp_path, offline_hf):
    """One user: every record lands in one split, and the card declares only that one."""
    datasets, cache = offline_hf
    queries = [make_query(k, user=0) for k in range(3)]
    result = build_dataset(test_params.config(), queries, [answer(q) for q in queries], PROVENANCE)
    written = {}
    for file, part in result.row_files():
        (tmp_path / file.name).parent.mkdir(exist_ok=True)
        written[file.name] = (tmp_path / file.name).write_bytes("".join(dumps_row(r) + "\n" for r in part).encode())
    (tmp_path / files.DATASET_CARD.name).write_text(result.card(result.sizes(written)))
    loaded = datasets.load_dataset(str(tmp_path), cache_dir=str(cache))
    filled = [s for s in splits.SPLITS if result.splits[s]]
    assert len(filled) == 1 and {k: v.num_rows for k, v in loaded.items()} == {filled[0]: 3}


def test_the_card_reports_the_counts(dataset_dir, manifest):
    card = (dataset_dir / files.DATASET_CARD.name).read_text()
    summary = manifest["summary"]
    assert card.startswith("---\n") and "\n---\n" in card[4:]
    assert "Synthetic data." in card and "## Risks, bias and limitations" in card and "## Intended use" in card
    assert f"{summary['records']} records kept out of {summary['input_queries']} queries" in card
    for reason, count in summary["rejected_by_reason"].items():
        assert f"| `{reason}` |" in card and card.split(f"| `{reason}` |")[1].split("\n")[0].endswith(f"| {count} |")
    assert manifest["config_fingerprint"][:16] in card


def test_rebuilding_gives_byte_identical_files(built_run, dataset_dir, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(built_run.data_root, copy)
    rebuilt_dir = RunFiles(copy, built_run.run_id).directory(stages.DATASET)
    shutil.rmtree(rebuilt_dir)
    result = run_luigi("BuildDistillationDataset", built_run.run_id, copy, built_run.params)
    assert result.returncode == 0, result.output[-3000:]

    def listing(directory: Path) -> list[str]:
        found = (p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
        return sorted(name for name in found if name != stages.DATASET.manifest_name)

    names = listing(dataset_dir)
    assert names == listing(rebuilt_dir) and "prompt_completion/train.jsonl" in names
    for name in names:
        assert (rebuilt_dir / name).read_bytes() == (dataset_dir / name).read_bytes(), name
