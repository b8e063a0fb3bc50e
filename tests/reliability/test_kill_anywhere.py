"""Kill -9 anywhere: the whole pipeline against a loopback OpenAI-compatible teacher, killed in every task and
mid-write, rerun each time; the result equals an uninterrupted run and the teacher answered each request once.

Two chains of kills, each on a fresh data root and resumed until the run completes:

* exact: in-process kill points at file operations inside every task (a temporary just created, a file
  or manifest fully written but not renamed into place), so every task is interrupted, whatever the load;
* observed: what an operator's ``kill -9`` does, following the run from outside: log lines, answers the
  teacher delivered (with two workers too), a half-written Parquet file appearing under the data root.

Against the independent uninterrupted run the data files match except ``latency_ms`` (a measurement of each
HTTP call); against an uninterrupted run given the same answers (a replay from the cache) they match byte for byte.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from fitsense_luigi.contracts import files, stages
from fitsense_luigi.pipeline.tasks import ALL_TASKS
from fitsense_luigi.teacher import entry_store
from tests.reliability.fault_harness import (
    KillPoint,
    Reference,
    RunUnderTest,
    assert_same_as_uninterrupted,
    kill_until_complete,
)
from tests.reliability.run_checks import temporaries
from tests.support import layout as at
from tests.support.hashing import differences
from tests.support.params import SMALL_QUERIES
from tests.support.teacher import assert_no_secret

TASKS = {task.__name__ for task in ALL_TASKS}  # the ten stages, the world's parts, the query plan and shards

EXACT = (
    KillPoint("bootstrap record created", hook=f"open:{at.glob(files.BOOTSTRAP_RECORD)}"),
    KillPoint("bootstrap manifest written, not in place", hook=f"rename:{at.manifest_glob(stages.BOOTSTRAP)}"),
    # the world's parts need only the bootstrap: luigi runs the workouts part first
    KillPoint("workout sets written, not in place", hook=f"rename:{at.glob(at.table('workout_sets'))}"),
    KillPoint("users table written, not in place", hook=f"rename:{at.glob(at.table('users'))}"),
    KillPoint("profiles manifest written, not in place", hook=f"rename:{at.manifest_glob(stages.PROFILES)}"),
    KillPoint("realism.json created", hook=f"open:{at.glob(files.REALISM_REPORT)}"),
    KillPoint("query plan written, not in place", hook=f"rename:{at.glob(files.QUERY_PLAN)}"),
    KillPoint("shard queries created", hook=f"open:{at.glob(files.SHARD_QUERIES)}"),
    KillPoint("queries.jsonl written, not in place", hook=f"rename:{at.glob(files.QUERIES)}"),
    KillPoint("shard responses created", hook=f"open:{at.glob(files.SHARD_RESPONSES)}"),
    KillPoint("a shard manifest written, not in place", hook=f"rename:{at.manifest_glob(stages.TEACHER_SHARD)}"),
    KillPoint("merged responses created", hook=f"open:{at.glob(files.RESPONSES)}"),
    KillPoint("teacher manifest written, not in place", hook=f"rename:{at.manifest_glob(stages.TEACHER)}"),
    KillPoint("train.parquet written, not in place", hook=f"rename:{at.glob(files.records_table('train'))}"),
    KillPoint("dataset manifest written, not in place", hook=f"rename:{at.manifest_glob(stages.DATASET)}"),
    KillPoint("validation report written, not in place", hook=f"rename:{at.glob(files.VALIDATION_REPORT)}"),
    KillPoint("stats report created", hook=f"open:{at.glob(files.STATS_REPORT)}"),
    KillPoint("anomalies manifest written, not in place", hook=f"rename:{at.manifest_glob(stages.ANOMALIES)}"),
    KillPoint("bias report created", hook=f"open:{at.glob(files.BIAS_REPORT)}"),
    KillPoint("report.html written, not in place", hook=f"rename:{at.glob(files.REPORT_HTML)}"),
    KillPoint("bias manifest written, not in place", hook=f"rename:{at.manifest_glob(stages.BIAS)}"),
)

PROFILES_DONE = at.manifest_glob(stages.PROFILES)
WORKOUT_PARTS_DONE = at.manifest_glob(stages.WORKOUTS_PART)
OBSERVED = (  # in the order luigi runs them (the workouts part first: it needs only the bootstrap)
    KillPoint(
        "a workouts table being written",
        temporary=at.stage_files_glob(stages.WORKOUTS_PART, name="*.parquet"),
        before=WORKOUT_PARTS_DONE,
    ),
    KillPoint("GenerateProfiles working", line="GenerateProfiles: building", after_s=0.1, before=PROFILES_DONE),
    KillPoint("GenerateQueries working", line="GenerateQueries: building", after_s=0.02),
    KillPoint("TeacherShard starts", line="TeacherShard: building", before=at.manifest_glob(stages.TEACHER_SHARD)),
    KillPoint("9 answers delivered", answers=9),
    KillPoint("30 answers delivered, 2 workers", answers=30, workers=2),
    KillPoint("BuildDistillationDataset working", line="BuildDistillationDataset: building", after_s=0.02),
    KillPoint("ValidateData working", line="ValidateData: building", after_s=0.02),
    KillPoint("BiasSlicing working", line="BiasSlicing: building", after_s=0.1),
)


def test_killed_inside_every_task_then_rerun(reference: Reference, tmp_path: Path) -> None:
    run = kill_until_complete(reference, tmp_path / "data", EXACT)
    assert len(run.attempts) == len(EXACT) + 1
    interrupted = {a.interrupted for a in run.attempts if a.killed}
    assert interrupted == TASKS, f"never killed inside {TASKS - interrupted}"
    assert_same_as_uninterrupted(run, reference)

    # byte for byte, latencies included: an uninterrupted run of the same id, given the same answers (its cache)
    replay = RunUnderTest(tmp_path / "replay", reference.params, reference.teacher)
    shutil.copytree(run.files.cache_root(), replay.files.cache_root())
    assert replay.attempt().returncode == 0 and not replay.delivered(), "every answer came from the cache"
    assert differences(run.data_root, replay.data_root, measurements=()) == []


def test_killed_from_outside_while_it_works_then_rerun(reference: Reference, tmp_path: Path) -> None:
    run = kill_until_complete(reference, tmp_path / "data", OBSERVED)
    kills = [a for a in run.attempts if a.killed]
    assert len(kills) >= 5, [a.label for a in kills]  # a late kill may skip a point or two, never most of them
    assert {"TeacherShard", "BiasSlicing"} <= {a.interrupted for a in kills}
    assert_same_as_uninterrupted(run, reference)


def test_a_kill_between_an_answer_and_its_cache_entry_costs_that_answer_once_more(
    reference: Reference, tmp_path: Path
) -> None:
    """The window no client can close: an answer has arrived, the process dies before it is stored.

    The entry is committed to the cache's database as soon as the answer is read, so what is lost is at
    most the answers of the ``teacher.concurrency`` workers at that moment; exactly those are sent again.
    A commit cut halfway leaves the database as it was (SQLite rolls it back), and nothing to sweep.
    """
    run = RunUnderTest(tmp_path / "data", reference.params, reference.teacher)
    killed = run.attempt(
        KillPoint(
            "an answer received, its entry not committed",
            hook=f"commit:{files.TEACHER_CACHE}/{entry_store.DATABASE}",
        )
    )
    assert killed.killed and 1 <= len(killed.in_flight) <= 3, killed.in_flight

    assert run.attempt().returncode == 0
    paid = run.delivered()
    assert len(paid) == SMALL_QUERIES
    assert {digest for digest, n in paid.items() if n > 1} == killed.in_flight and max(paid.values()) == 2
    assert differences(run.data_root, reference.run.data_root) == []
    assert temporaries(run.data_root) == []
    assert_no_secret([run.data_root], run.outputs)
