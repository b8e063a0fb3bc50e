"""The run store over a data root: reads limited to a task's requirements, writes limited to its stage,
temporaries swept, earlier runs found. S3 gets the same tests against moto in tests/ops/test_ops_s3.py."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from fitsense_luigi.contracts import files, stages
from fitsense_luigi.pipeline import tasks
from fitsense_luigi.pipeline.history import previous_successful_run
from fitsense_luigi.pipeline.roots import open_data_root
from fitsense_luigi.pipeline.store import RunStore
from tests.support.harness import finish_run
from tests.support.layout import RunFiles


def test_a_store_reads_only_the_stages_its_task_requires(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "r1")
    with store.writer(stages.QUERIES, fingerprint="f") as out:
        out.jsonl(files.QUERIES, [{"a": 1}])
    assert store.reading_only([stages.QUERIES]).read_jsonl(files.QUERIES) == [{"a": 1}]
    with pytest.raises(RuntimeError, match=r"reads queries\.jsonl of stage queries, which its task does not require"):
        store.reading_only([stages.TEACHER]).read_jsonl(files.QUERIES)


def test_every_task_requires_the_stages_it_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the manifests list as inputs (a changed input stage is visible in the stage built from it)."""
    monkeypatch.setenv("FITSENSE_DATA_ROOT", str(tmp_path))
    chain = (tasks.Bootstrap, tasks.GenerateProfiles, tasks.GenerateWorkouts, tasks.QueryPlan, tasks.GenerateQueries)
    inputs = {cls.__name__: [s.name for s in cls(run_id="r1").required_stages()] for cls in chain}
    assert inputs == {  # the default 1000 users make one world part
        "Bootstrap": [],
        "GenerateProfiles": ["bootstrap", "profiles_part_000"],
        "GenerateWorkouts": ["profiles", "workouts_part_000"],
        "QueryPlan": ["profiles"],
        "GenerateQueries": ["query_plan", "queries_shard_000"],
    }
    parts = {cls.__name__: [s.name for s in cls(run_id="r1", part=0).required_stages()] for cls in tasks.WORLD_PARTS}
    assert parts == {"ProfilesPart": ["bootstrap"], "WorkoutsPart": ["bootstrap"]}
    assert [s.name for s in tasks.QueryShard(run_id="r1", shard=0).required_stages()] == [
        "query_plan",
        "profiles",
        "workouts",
    ]
    assert [s.name for s in tasks.BuildDistillationDataset(run_id="r1").required_stages()] == ["queries", "teacher"]
    assert {"queries", "teacher", "dataset", "validation", "stats", "anomalies"} == {
        s.name for s in tasks.BiasSlicing(run_id="r1").required_stages()
    }


def test_a_stage_writes_only_its_own_files(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "r1")
    refused = pytest.raises(ValueError, match=r"stage teacher cannot write queries\.jsonl of stage queries")
    with refused, store.writer(stages.TEACHER, fingerprint="f") as out:
        out.jsonl(files.QUERIES, [])
    assert not store.is_complete(stages.TEACHER)


def test_temporaries_are_swept_by_pid_or_by_age(tmp_path: Path) -> None:
    root = open_data_root(tmp_path)
    directory = tmp_path / "ab"
    directory.mkdir()
    dead = directory / ".x.json.tmp-999999999-0badf00d"
    live_old = directory / f".y.json.tmp-{os.getpid()}-0badf00d"
    live_new = directory / f".z.json.tmp-{os.getpid()}-0badf00d"
    for path in (dead, live_old, live_new):
        path.write_text("left")
    hour_ago = time.time() - 3600
    os.utime(live_old, (hour_ago, hour_ago))
    root.sweep_temporaries("ab")  # a stage's directory: only its builder writes there, dead pids mark leftovers
    assert not dead.exists() and live_old.exists() and live_new.exists()
    root.sweep_temporaries("ab", older_than_s=600)  # a shared cache: pids repeat across hosts, age decides
    assert not live_old.exists() and live_new.exists()


def test_a_durable_write_appears_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    root = open_data_root(tmp_path).scoped(files.TEACHER_CACHE)
    root.write_bytes("ab/abc.json", b"{}", durable=True)
    directory = tmp_path / files.TEACHER_CACHE / "ab"
    assert (directory / "abc.json").read_bytes() == b"{}"
    assert [p.name for p in directory.iterdir()] == ["abc.json"]
    assert root.uri("ab/abc.json") == str(directory / "abc.json")


def test_the_baseline_is_the_last_run_that_passed_its_gate(tmp_path: Path) -> None:
    finish_run(tmp_path, "2026-01-01", gate_passed=True, stats={"splits": {"n": 1}})
    finish_run(tmp_path, "2026-01-02", gate_passed=False)
    baseline, notes = previous_successful_run(RunStore(tmp_path, "2026-01-03"))
    assert baseline is not None and baseline.run_id == "2026-01-01" and notes == []
    assert baseline.stats == {"splits": {"n": 1}} and baseline.params == {"world": {"users": 100}}
    stats = RunFiles(tmp_path, "2026-01-01").path(files.STATS_REPORT)
    stats.write_text('{"splits": {"n": 2}}\n')  # altered after the fact: skipped with a note, not trusted
    baseline, notes = previous_successful_run(RunStore(tmp_path, "2026-01-03"))
    assert baseline is None and len(notes) == 1 and "checksum does not match" in notes[0]
