"""Every row a run writes has the shape its contract declares (``fitsense_luigi.contracts.rows``).

The expected keys and value types are read off the TypedDict annotations by
``contracts.shapes``, not from a second list kept here: a producer that adds,
drops or retypes a field fails this test until the contract says so too. The
run is the real pipeline through the ``luigi`` command at small scale, with a
mock teacher that flaws a share of its answers, so that every file of rows
(``rejected.jsonl`` too) has rows to check.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from fitsense_luigi.contracts import files, stages
from fitsense_luigi.contracts.files import StageFile
from fitsense_luigi.contracts.rows import Query
from fitsense_luigi.contracts.shapes import shape_problems
from fitsense_luigi.pipeline.store import RunStore
from fitsense_luigi.synth.schema import TABLES
from tests.support.harness import build_run
from tests.support.params import SMALL

SHARDS = SMALL["teacher"]["shards"]


@pytest.fixture(scope="module")
def flawed_run(tmp_path_factory: pytest.TempPathFactory) -> RunStore:
    """The pipeline up to the dataset (the last stage that writes rows), with 30 % flawed teacher answers."""
    # 40 requests of each type: enough records after the 30% flaws that every split (val and test too) has rows
    per_type = dict.fromkeys(("plan_creation", "plan_modification", "safety_adjustment", "progress_adaptation"), 40)
    overrides = {"teacher": {"mock": {"flaw_rate": 0.3}}, "queries": {"per_type": per_type}}
    run = build_run(tmp_path_factory.mktemp("row_shapes"), overrides, task="BuildDistillationDataset")
    return RunStore(run.data_root, run.run_id)


def declared_row_files(store: RunStore) -> dict[str, StageFile]:
    """Key -> declared file, for every file of rows the contracts list (each shard's file too)."""
    declared = {}
    for file in files.ROW_FILES:
        variants = [file.sharded(k) for k in range(SHARDS)] if file.stage == stages.TEACHER_SHARD else [file]
        declared.update({store.key(v): v for v in variants})
    return declared


def rows_of(store: RunStore, file: StageFile) -> list[dict[str, Any]]:
    return store.read_table(file).to_pylist() if file.name.endswith(".parquet") else store.read_jsonl(file)


def test_every_row_of_every_stage_has_its_declared_shape(flawed_run: RunStore) -> None:
    store = flawed_run
    declared = declared_row_files(store)
    built = [stages.PROFILES, stages.WORKOUTS, stages.QUERIES]
    built += [stages.TEACHER_SHARD.sharded(k) for k in range(SHARDS)] + [stages.TEACHER, stages.DATASET]
    checked: dict[str, int] = {}
    for stage in built:
        for key, entry in store.manifest(stage)["files"].items():
            name = key.rsplit("/", 1)[-1]
            if stage in (stages.PROFILES, stages.WORKOUTS) and name.endswith(".parquet"):
                table = name.removesuffix(".parquet")
                schema = pq.read_schema(Path(store.uri(key)))
                assert schema.equals(TABLES[table].schema), f"{key}: not the Arrow schema synth.schema declares"
                checked[key] = entry["rows"]
                continue
            if entry["rows"] is None:
                continue  # a document (summary, card, split report), not rows
            assert key in declared, f"{key}: rows without a declared shape in contracts.files.ROW_FILES"
            file = declared[key]
            rows = rows_of(store, file)
            assert len(rows) == entry["rows"]
            problems = [p for n, row in enumerate(rows, 1) for p in shape_problems(row, file.rows, f"{key}:{n}")]
            assert problems == [], "\n".join(problems[:10])
            checked[key] = len(rows)
    assert set(declared) <= set(checked), f"declared but not written: {sorted(set(declared) - set(checked))}"
    empty = sorted(key for key, count in checked.items() if not count)
    assert empty == [], "every file of rows has rows to check"


def test_the_check_names_what_breaks_a_shape(flawed_run: RunStore) -> None:
    query = flawed_run.read_jsonl(files.QUERIES)[0]
    assert shape_problems(query, Query) == []
    broken = copy.deepcopy(query)
    del broken["user_id"]
    broken["surprise"] = 1
    broken["context_summary"]["age"] = "53"
    broken["context_summary"]["top_lifts"] = [{"exercise": "Squat", "estimated_1rm_kg": True, "change_kg": None}]
    broken["messages"][0] = {"role": "system"}
    problems = shape_problems(broken, Query)
    assert "row: missing key 'user_id' (Query)" in problems
    assert "row: unexpected key 'surprise' (Query)" in problems
    assert any(p.startswith("row.context_summary.age: expected int, got str") for p in problems)
    assert any(p.startswith("row.context_summary.top_lifts[0].estimated_1rm_kg: expected float") for p in problems)
    assert "row.messages[0]: missing key 'content' (Message)" in problems
    assert len(problems) == 5
