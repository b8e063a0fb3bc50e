"""The requires() graph: BiasSlicing pulls in every stage, and every task is keyed by run id."""

from __future__ import annotations

import luigi
import pytest

import fitsense_luigi
from fitsense_luigi.errors import RunIdError
from fitsense_luigi.pipeline import tasks

TEN = {
    "Bootstrap",
    "GenerateProfiles",
    "GenerateWorkouts",
    "GenerateQueries",
    "CallTeacher",
    "BuildDistillationDataset",
    "ValidateData",
    "ComputeStats",
    "DetectAnomalies",
    "BiasSlicing",
}


def closure(task: luigi.Task) -> set[luigi.Task]:
    seen: set[luigi.Task] = set()
    stack = [task]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        stack.extend(luigi.task.flatten(current.requires()))
    return seen


def test_package_exposes_every_task() -> None:
    for name in TEN | {"TeacherShard"}:
        assert issubclass(getattr(fitsense_luigi, name), luigi.Task)


def test_bias_slicing_requires_the_whole_pipeline(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FITSENSE_DATA_ROOT", str(tmp_path))
    root = tasks.BiasSlicing(run_id="graph-test")
    everything = closure(root)
    assert {t.task_family for t in everything} == TEN | {"TeacherShard"}
    assert all(t.run_id == "graph-test" for t in everything)
    shards = sorted(t.shard for t in everything if isinstance(t, tasks.TeacherShard))
    assert shards == list(range(root.ctx.config.teacher.shards))
    assert not tmp_path.exists() or not any(tmp_path.iterdir()), "building the graph must not write anything"


def test_chain_order(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FITSENSE_DATA_ROOT", str(tmp_path))
    chain = [tasks.GenerateProfiles, tasks.GenerateWorkouts, tasks.GenerateQueries]
    for child, parent in zip(chain[1:], chain, strict=False):
        assert parent(run_id="order") in luigi.task.flatten(child(run_id="order").requires())
    assert luigi.task.flatten(tasks.GenerateProfiles(run_id="order").requires()) == [tasks.Bootstrap(run_id="order")]


def test_run_id_is_validated_on_instantiation() -> None:
    with pytest.raises(RunIdError):
        tasks.Bootstrap(run_id="no spaces")


def test_output_paths_are_keyed_by_run_id(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FITSENSE_DATA_ROOT", str(tmp_path))
    a = tasks.GenerateQueries(run_id="run-a").output().path
    b = tasks.GenerateQueries(run_id="run-b").output().path
    assert "run-a" in a and "run-b" in b and a != b
