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


FANNED_OUT = {"ProfilesPart", "WorkoutsPart", "QueryPlan", "QueryShard", "TeacherShard"}


def test_package_exposes_every_task() -> None:
    for name in TEN | FANNED_OUT:
        assert issubclass(getattr(fitsense_luigi, name), luigi.Task)


def test_bias_slicing_requires_the_whole_pipeline(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FITSENSE_DATA_ROOT", str(tmp_path))
    root = tasks.BiasSlicing(run_id="graph-test")
    everything = closure(root)
    assert {t.task_family for t in everything} == TEN | FANNED_OUT
    assert all(t.run_id == "graph-test" for t in everything)
    shards = sorted(t.shard for t in everything if isinstance(t, tasks.TeacherShard))
    assert shards == list(range(root.ctx.config.teacher.shards))
    config = root.ctx.config
    parts = -(-config.world.users // config.run.users_per_part)  # ceiling: the last part may be smaller
    for family in (tasks.ProfilesPart, tasks.WorkoutsPart):
        assert sorted(t.part for t in everything if isinstance(t, family)) == list(range(parts))
    assert sorted(t.shard for t in everything if isinstance(t, tasks.QueryShard)) == list(range(parts))
    assert not tmp_path.exists() or not any(tmp_path.iterdir()), "building the graph must not write anything"


def test_chain_order(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FITSENSE_DATA_ROOT", str(tmp_path))
    chain = [tasks.GenerateProfiles, tasks.GenerateWorkouts, tasks.GenerateQueries]
    for child, parent in zip(chain[1:], chain, strict=False):
        assert parent(run_id="order") in closure(child(run_id="order"))
    direct = luigi.task.flatten(tasks.GenerateProfiles(run_id="order").requires())
    assert direct[0] == tasks.Bootstrap(run_id="order")
    assert {type(t) for t in direct[1:]} == {tasks.ProfilesPart}


def test_world_parts_need_nothing_but_the_bootstrap(tmp_path, monkeypatch) -> None:
    """Profiles and workouts parts (and the query plan, once profiles exist) can all run side by side."""
    monkeypatch.setenv("FITSENSE_DATA_ROOT", str(tmp_path))
    for part in (tasks.ProfilesPart(run_id="side", part=0), tasks.WorkoutsPart(run_id="side", part=0)):
        assert luigi.task.flatten(part.requires()) == [tasks.Bootstrap(run_id="side")]
    plan = luigi.task.flatten(tasks.QueryPlan(run_id="side").requires())
    assert plan == [tasks.GenerateProfiles(run_id="side")]


def test_run_id_is_validated_on_instantiation() -> None:
    with pytest.raises(RunIdError):
        tasks.Bootstrap(run_id="no spaces")


def test_output_paths_are_keyed_by_run_id(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FITSENSE_DATA_ROOT", str(tmp_path))
    a = tasks.GenerateQueries(run_id="run-a").output().path
    b = tasks.GenerateQueries(run_id="run-b").output().path
    assert "run-a" in a and "run-b" in b and a != b
