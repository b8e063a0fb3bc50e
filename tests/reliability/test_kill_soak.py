"""Soak (``make soak``): many randomised kill -9 chains against a loopback teacher, each resumed until it completes.

Every round kills a fresh run at random moments: after any task's log line, at
a random time, after a random number of delivered answers, when a temporary
appears, at the N-th file rename inside the process, with one or two workers,
coordinated with the teacher or not (a raw kill can lose an answer between the
socket and the cache: those, and only those, may be paid twice). Each round
must end with the uninterrupted run's data, every finished stage intact after
every kill, no leftover temporaries and no key anywhere. ``SOAK_ROUNDS``
(default 8) and ``SOAK_SEED`` choose how long and which chains.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from fitsense_luigi.contracts import stages
from tests.reliability.fault_harness import KillPoint, Reference, RunUnderTest, assert_same_as_uninterrupted
from tests.reliability.run_checks import manifest_problems
from tests.support import layout as at
from tests.support.teacher import assert_no_secret

pytestmark = [pytest.mark.slow, pytest.mark.soak]

ROUNDS = int(os.environ.get("SOAK_ROUNDS", "8"))
SEED = int(os.environ.get("SOAK_SEED", "20260217"))
MAX_KILLS = 30

# task -> (its manifest, how many there are once it is done, the files it writes)
TASKS = {
    "Bootstrap": (at.manifest_glob(stages.BOOTSTRAP), 1, at.stage_files_glob(stages.BOOTSTRAP, name="*.json")),
    "ProfilesPart": (at.manifest_glob(stages.PROFILES_PART), 1, at.stage_files_glob(stages.PROFILES_PART)),
    "GenerateProfiles": (at.manifest_glob(stages.PROFILES), 1, at.stage_files_glob(stages.PROFILES)),
    "WorkoutsPart": (at.manifest_glob(stages.WORKOUTS_PART), 1, at.stage_files_glob(stages.WORKOUTS_PART)),
    "GenerateWorkouts": (at.manifest_glob(stages.WORKOUTS), 1, at.stage_files_glob(stages.WORKOUTS)),
    "QueryPlan": (at.manifest_glob(stages.QUERY_PLAN), 1, at.stage_files_glob(stages.QUERY_PLAN)),
    "QueryShard": (at.manifest_glob(stages.QUERIES_SHARD), 1, at.stage_files_glob(stages.QUERIES_SHARD)),
    "GenerateQueries": (at.manifest_glob(stages.QUERIES), 1, at.stage_files_glob(stages.QUERIES)),
    "TeacherShard": (at.manifest_glob(stages.TEACHER_SHARD), 2, at.stage_files_glob(stages.TEACHER_SHARD)),
    "CallTeacher": (at.manifest_glob(stages.TEACHER), 1, at.stage_files_glob(stages.TEACHER)),
    "BuildDistillationDataset": (at.manifest_glob(stages.DATASET), 1, at.stage_files_glob(stages.DATASET)),
    "ValidateData": (at.manifest_glob(stages.VALIDATION), 1, at.stage_files_glob(stages.VALIDATION)),
    "ComputeStats": (at.manifest_glob(stages.STATS), 1, at.stage_files_glob(stages.STATS)),
    "DetectAnomalies": (at.manifest_glob(stages.ANOMALIES), 1, at.stage_files_glob(stages.ANOMALIES)),
    "BiasSlicing": (at.manifest_glob(stages.BIAS), 1, at.stage_files_glob(stages.BIAS)),
}


def next_tasks(run: RunUnderTest) -> list[str]:
    """The tasks still to build, in pipeline order."""
    return [task for task, (glob, n, _) in TASKS.items() if len(list(run.data_root.glob(glob))) < n]


def random_point(rng: random.Random, run: RunUnderTest, requests: int) -> KillPoint | None:
    """Somewhere in the next stretch of work, so that a chain kills the run many times before it completes."""
    workers = rng.choice((1, 1, 2))
    left = next_tasks(run)
    if not left:  # killed after the last manifest, before the process ended
        return None
    task = rng.choice(left[:2])
    files = TASKS[task][2]
    kind = rng.choice(("line", "line", "time", "answers", "temporary", "rename", "open", "raw"))
    if kind == "line":
        after = round(rng.uniform(0.0, 0.3), 3)
        return KillPoint(f"{task} + {after} s", line=f"{task}: building", after_s=after, workers=workers)
    if kind == "answers" and task == "TeacherShard":
        delivered = len(run.server.delivered_since(run.mark))
        n = min(delivered + rng.randint(1, 12), requests - 1)
        return KillPoint(f"{n} answers delivered", answers=n, workers=workers)
    if kind == "temporary" and task in ("GenerateProfiles", "GenerateWorkouts", "BuildDistillationDataset"):
        # Parquet streams stay under their temporary names long enough to be seen from outside
        return KillPoint(f"temporary {files}", temporary=files, workers=workers)
    if kind == "rename":
        n = rng.randint(1, 6)
        return KillPoint(f"rename #{n}", hook=f"rename:#{n}", workers=workers)
    if kind == "open":
        return KillPoint(f"open {files}", hook=f"open:{files}", workers=workers)
    at = round(rng.uniform(0.7, 1.6), 3)  # start-up takes about a second
    raw = kind == "raw"
    return KillPoint(f"{'raw ' if raw else ''}{at} s after start", at_s=at, workers=workers, coordinated=not raw)


def test_randomised_kill_chains(reference: Reference, tmp_path: Path) -> None:
    requests = len(reference.run.delivered())
    for number in range(ROUNDS):
        rng = random.Random(SEED + number)
        run = RunUnderTest(tmp_path / f"round-{number:03d}", reference.params, reference.teacher)
        started = time.monotonic()
        while len(run.attempts) < MAX_KILLS:
            attempt = run.attempt(random_point(rng, run, requests))
            assert attempt.killed or attempt.returncode == 0, attempt.output[-3000:]
            assert manifest_problems(run.data_root) == [], attempt.label
            if not attempt.killed:
                break
        else:
            assert run.attempt().returncode == 0, run.outputs[-1][-3000:]
        for attempt in run.attempts:  # shown when the round fails
            print(f"    {attempt.label}: exit {attempt.returncode}, in {attempt.interrupted}")
        assert "Traceback" not in "".join(run.outputs)
        assert_same_as_uninterrupted(run, reference, in_flight_allowed=True)
        assert_no_secret([run.data_root], run.outputs)
        kills = [a for a in run.attempts if a.killed]
        lost = sum(len(a.in_flight) for a in kills)
        where = sorted({a.interrupted or "between tasks" for a in kills})
        print(
            f"round {number} (seed {SEED + number}): {len(kills)} kills in {time.monotonic() - started:.1f} s, "
            f"answers lost in flight and paid again: {lost}; interrupted: {', '.join(where)}"
        )
