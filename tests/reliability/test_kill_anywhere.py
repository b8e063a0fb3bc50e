"""Kill -9 anywhere: the whole pipeline against a loopback OpenAI-compatible teacher, killed in every task and
mid-write, rerun each time; the result equals an uninterrupted run and the teacher answered each request once.

Two chains of kills, each on a fresh data root and resumed until the run completes:

* exact: in-process kill points at file operations inside every task (a temporary just created, a file
  or manifest fully written but not renamed into place), so every task is interrupted, whatever the load;
* observed: what an operator's ``kill -9`` does, following the run from outside: log lines, answers the
  teacher delivered (with two workers too), a half-written Parquet file appearing under the data root.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import SMALL, deep_merge, default_params
from tests.reliability.fault_harness import (
    LOOPBACK_TEACHER,
    KillPoint,
    RunUnderTest,
    assert_no_secret,
    data_differences,
    manifest_problems,
    temporaries,
)
from tests.teacher.teacher_server import TEST_KEY, Reply, TeacherServer

TASKS = {
    "Bootstrap",
    "GenerateProfiles",
    "GenerateWorkouts",
    "GenerateQueries",
    "TeacherShard",
    "CallTeacher",
    "BuildDistillationDataset",
    "ValidateData",
    "ComputeStats",
    "DetectAnomalies",
    "BiasSlicing",
}

EXACT = (
    KillPoint("bootstrap record created", hook="open:reports/*/phase1_bootstrap.json"),
    KillPoint("bootstrap manifest written, not in place", hook="rename:reports/*/manifests/bootstrap.json"),
    KillPoint("users table written, not in place", hook="rename:raw/synthetic_profiles/*/users.parquet"),
    KillPoint("profiles manifest written, not in place", hook="rename:raw/synthetic_profiles/*/manifest.json"),
    KillPoint("workout sets written, not in place", hook="rename:raw/synthetic_workouts/*/workout_sets.parquet"),
    KillPoint("realism.json created", hook="open:reports/*/realism.json"),
    KillPoint("queries.jsonl written, not in place", hook="rename:raw/synthetic_queries/*/queries.jsonl"),
    KillPoint("shard responses created", hook="open:raw/teacher_outputs/*/shards/*/responses.jsonl"),
    KillPoint("a shard manifest written, not in place", hook="rename:raw/teacher_outputs/*/shards/*/manifest.json"),
    KillPoint("merged responses created", hook="open:raw/teacher_outputs/*/responses.jsonl"),
    KillPoint("teacher manifest written, not in place", hook="rename:raw/teacher_outputs/*/manifest.json"),
    KillPoint("train.parquet written, not in place", hook="rename:raw/distillation_dataset/*/train.parquet"),
    KillPoint("dataset manifest written, not in place", hook="rename:raw/distillation_dataset/*/manifest.json"),
    KillPoint("validation report written, not in place", hook="rename:reports/*/validation_report.json"),
    KillPoint("stats report created", hook="open:reports/*/stats_report.json"),
    KillPoint("anomalies manifest written, not in place", hook="rename:reports/*/manifests/anomalies.json"),
    KillPoint("bias report created", hook="open:reports/*/bias_report.json"),
    KillPoint("report.html written, not in place", hook="rename:reports/*/report.html"),
    KillPoint("bias manifest written, not in place", hook="rename:reports/*/manifests/bias.json"),
)

PROFILES_DONE = "raw/synthetic_profiles/*/manifest.json"
WORKOUTS_DONE = "raw/synthetic_workouts/*/manifest.json"
OBSERVED = (
    KillPoint("GenerateProfiles working", line="GenerateProfiles: building", after_s=0.1, before=PROFILES_DONE),
    KillPoint("a workouts table being written", temporary="raw/synthetic_workouts/*/*.parquet", before=WORKOUTS_DONE),
    KillPoint("GenerateQueries working", line="GenerateQueries: building", after_s=0.02),
    KillPoint("TeacherShard starts", line="TeacherShard: building", before="raw/teacher_outputs/*/shards/*/manifest*"),
    KillPoint("9 answers delivered", answers=9),
    KillPoint("30 answers delivered, 2 workers", answers=30, workers=2),
    KillPoint("BuildDistillationDataset working", line="BuildDistillationDataset: building", after_s=0.05),
    KillPoint("ValidateData working", line="ValidateData: building", after_s=0.02),
    KillPoint("BiasSlicing working", line="BiasSlicing: building", after_s=0.1),
)


@dataclass
class Reference:
    teacher: TeacherServer
    params: Path
    run: RunUnderTest


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    """The uninterrupted run; the kill chains are compared with it and share its teacher."""
    base = tmp_path_factory.mktemp("kill_anywhere")
    # 30 ms an answer: a shard takes a few hundred milliseconds, long enough to be killed mid-way
    with TeacherServer(lambda case, attempt: Reply(delay_s=0.03)) as teacher:
        params = base / "params.yaml"
        teacher_params = dict(LOOPBACK_TEACHER, base_url=teacher.url)
        params.write_text(yaml.safe_dump(deep_merge(default_params(), {**SMALL, "teacher": teacher_params})))
        run = RunUnderTest(base / "reference", params, teacher)
        first = run.attempt()
        assert first.returncode == 0, first.output[-3000:]
        assert len(run.delivered()) == 48 and set(run.delivered().values()) == {1}
        yield Reference(teacher, params, run)


def kill_until_complete(reference: Reference, root: Path, chain: tuple[KillPoint, ...]) -> RunUnderTest:
    run = RunUnderTest(root, reference.params, reference.teacher)
    for point in chain:
        if run.passed(point):  # an outside kill landed later than aimed, past this point
            continue
        attempt = run.attempt(point)
        assert attempt.killed, f"{point.label}: not killed (exit {attempt.returncode})\n{attempt.output[-3000:]}"
        assert manifest_problems(run.data_root) == [], point.label  # a finished stage is never wrong
        assert attempt.in_flight == set(), f"{point.label}: answers lost with the process"
    final = run.attempt()
    for attempt in run.attempts:  # shown when a test fails
        print(f"{attempt.label}: exit {attempt.returncode}, interrupted {attempt.interrupted}")
    assert final.returncode == 0, final.output[-3000:]
    assert "Traceback" not in "".join(run.outputs)
    return run


def assert_same_as_uninterrupted(run: RunUnderTest, reference: Reference) -> None:
    assert data_differences(run.data_root, reference.run.data_root) == []
    paid = run.delivered()
    assert len(paid) == 48 and set(paid.values()) == {1}, "each request is answered exactly once in total"
    assert temporaries(run.data_root) == [], "a killed write left a temporary behind"
    assert reference.teacher.authorization == {f"Bearer {TEST_KEY}"}
    assert_no_secret([run.data_root, reference.run.data_root], run.outputs + reference.run.outputs)


def test_killed_inside_every_task_then_rerun(reference: Reference, tmp_path: Path) -> None:
    run = kill_until_complete(reference, tmp_path / "data", EXACT)
    assert len(run.attempts) == len(EXACT) + 1
    interrupted = {a.interrupted for a in run.attempts if a.killed}
    assert interrupted == TASKS, f"never killed inside {TASKS - interrupted}"
    assert_same_as_uninterrupted(run, reference)


def test_killed_from_outside_while_it_works_then_rerun(reference: Reference, tmp_path: Path) -> None:
    run = kill_until_complete(reference, tmp_path / "data", OBSERVED)
    kills = [a for a in run.attempts if a.killed]
    assert len(kills) >= len(OBSERVED) - 3, [a.label for a in kills]
    assert {"TeacherShard", "BuildDistillationDataset", "BiasSlicing"} <= {a.interrupted for a in kills}
    assert_same_as_uninterrupted(run, reference)


def test_a_kill_between_an_answer_and_its_cache_entry_costs_that_answer_once_more(
    reference: Reference, tmp_path: Path
) -> None:
    """The window no client can close: an answer has arrived, the process dies before it is stored.

    The entry is written (fsync, rename) as soon as the answer is read, so what
    is lost is at most the answers of the ``teacher.concurrency`` workers at that
    moment; exactly those are sent again, and the abandoned temporary is removed
    once it is clearly stale.
    """
    run = RunUnderTest(tmp_path / "data", reference.params, reference.teacher)
    killed = run.attempt(KillPoint("a cache entry written, not in place", hook="rename:cache/teacher/*/*.json"))
    assert killed.killed and 1 <= len(killed.in_flight) <= 3, killed.in_flight
    leftovers = list((run.data_root / "cache").rglob(".*.tmp-*"))
    assert leftovers, "the killed write leaves its temporary"
    ten_minutes_ago = time.time() - 601
    for path in leftovers:
        os.utime(path, (ten_minutes_ago, ten_minutes_ago))

    assert run.attempt().returncode == 0
    paid = run.delivered()
    assert len(paid) == 48
    assert {digest for digest, n in paid.items() if n > 1} == killed.in_flight and max(paid.values()) == 2
    assert data_differences(run.data_root, reference.run.data_root) == []
    assert temporaries(run.data_root) == []
