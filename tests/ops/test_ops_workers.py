"""Several workers: two worker processes started at once against one luigid and one run."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from ops_harness import built_lines, data_digests, launch_command, run, running_luigid, scheduler_args, worker_env

from fitsense_luigi.config import PROMPT_TYPES
from tests.support.harness import REPO

SHARDS = 10
TASKS = 14 + SHARDS  # the ten stages, a profiles and a workouts part, the query plan and shard (one part), the shards
# Enough teacher work per shard (about 20 mock answers) that the worker which is not holding a shard asks luigid
# for work (every 30 ms here) several times while the shards are handed out: both workers get some.
SHARED = {f"FITSENSE__QUERIES__PER_TYPE__{kind.upper()}": "50" for kind in PROMPT_TYPES}
SHARED["FITSENSE__TEACHER__SHARDS"] = str(SHARDS)


def test_two_workers_run_every_task_once_share_the_shards_and_match_one_worker(
    built_run: Any, run_id: str, tmp_path: Path
) -> None:
    single = tmp_path / "single"
    env = worker_env(tmp_path, single, built_run.params, SHARED)
    alone = run(launch_command(run_id, "--local-scheduler"), env)
    assert alone.returncode == 0, alone.stderr[-3000:]

    data = tmp_path / "data"
    with running_luigid(tmp_path, data) as scheduler:
        env = worker_env(tmp_path, data, built_run.params, SHARED)
        # --no-lock: luigi's pid lock would turn the second identical command on this host into "already running"
        command = launch_command(run_id, *scheduler_args(scheduler), "--no-lock")
        workers = [
            subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        outputs = [worker.communicate(timeout=300) for worker in workers]
        done = scheduler.api("task_list", {"status": "DONE"})

    # both exit 0: the run is complete, although luigi's own summary says "run by another worker" (code 10/25)
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr[-3000:]
    assert any("other workers ran part of it" in stderr for _, stderr in outputs)
    built = [built_lines(stderr) for _, stderr in outputs]
    everything = built[0] + built[1]
    assert len(everything) == len(set(everything)) == TASKS, everything  # each task ran exactly once

    shards_by_worker = [{line for line in lines if line.startswith("TeacherShard")} for lines in built]
    assert all(shards_by_worker), shards_by_worker  # both workers answered teacher shards
    assert sum(map(len, shards_by_worker)) == SHARDS

    assert len(done) == TASKS
    runners = {task["worker_running"] for task in done.values() if task["name"] == "TeacherShard"}
    assert len(runners) == 2, runners  # luigid saw the shards run by two different workers

    assert data_digests(data, run_id) == data_digests(single, run_id)
