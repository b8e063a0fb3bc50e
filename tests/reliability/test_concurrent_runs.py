"""Two invocations of the same run at once: without luigid (per-stage flock, luigi's pid lock) and with one luigid."""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from pathlib import Path

from fitsense_luigi.contracts import stages
from tests.ops.ops_harness import built_lines, luigi_command, running_luigid, scheduler_args, worker_env
from tests.support.harness import REPO, RUN_ID, BuiltRun, luigi_env
from tests.support.harness import luigi_command as local_command
from tests.support.hashing import digests
from tests.support.teacher import WITH_KEY, assert_no_secret

BASE = local_command("BiasSlicing", RUN_ID)


def test_two_invocations_build_each_stage_once(tmp_path: Path, write_params) -> None:
    params = write_params()
    root = tmp_path / "data"
    env = luigi_env(root, params, WITH_KEY)
    # different command lines, so Luigi's pid lock does not serialise them
    procs = [
        subprocess.Popen(BASE + extra, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for extra in ([], ["--workers", "2"])
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    built = re.findall(r"fitsense\.tasks\[\d+\]: \w+: building (\w+) for run", "".join(outputs))
    assert sorted(built) == sorted(set(built)), "a stage was built twice"
    assert {stages.BIAS.name, stages.TEACHER_SHARD.sharded(0).name, stages.TEACHER_SHARD.sharded(1).name} <= set(built)

    single = tmp_path / "single"
    one = subprocess.run(BASE, cwd=REPO, env=luigi_env(single, params), capture_output=True, text=True, timeout=300)
    assert one.returncode == 0
    assert digests(root) == digests(single)
    assert_no_secret([root, single], [*outputs, one.stdout, one.stderr])


def test_the_same_command_line_twice_exits_already_running(built_run: BuiltRun, tmp_path: Path) -> None:
    """Luigi's pid lock (under the configured lock_pid_dir): the second identical command exits 10 at once."""
    root = tmp_path / "data"
    env = luigi_env(root, built_run.params, WITH_KEY)
    first = subprocess.Popen(BASE, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in first.stdout:  # wait until it works (it took the pid lock before scheduling)
        lines.append(line)
        if ": building " in line:
            break
    second = subprocess.run(BASE, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    lines.append(first.communicate(timeout=300)[0])
    assert second.returncode == 10, second.stdout + second.stderr  # [retcode] already_running
    assert f"Pid(s) {{{first.pid}}} already running" in second.stdout
    assert "building" not in second.stderr and "Traceback" not in second.stderr
    assert first.returncode == 0, "".join(lines)[-3000:]
    assert (built_run.params.parent / "luigi-pids").is_dir()  # the test's own lock directory, not /tmp/luigi
    assert digests(root) == digests(built_run.data_root)
    assert_no_secret([root], [*lines, second.stdout, second.stderr])


def test_two_invocations_against_one_luigid_share_the_run_and_build_each_task_once(
    built_run: BuiltRun, tmp_path: Path
) -> None:
    """As from two hosts (``--no-lock``): luigid hands each task to one of them; neither fails, outputs intact.

    The plain ``luigi`` command exits 10 (already running) or 25 (not granted
    run permission: a task the other worker was running when this one last
    asked) for a worker that found tasks run by the other, even when the run
    completed: that is what ``python -m fitsense_luigi`` turns into 0
    (tests/ops/test_ops_workers.py). Which of the two a worker sees depends on
    when it last asked luigid, so both are accepted here; the run itself is
    checked below (each task once, nothing failed, the same data).
    """
    data = tmp_path / "data"
    with running_luigid(tmp_path, data) as scheduler:
        env = worker_env(tmp_path, data, built_run.params, WITH_KEY)
        command = luigi_command(built_run.run_id, *scheduler_args(scheduler), "--no-lock")
        workers = []
        for _ in range(2):
            workers.append(
                subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            )
            time.sleep(0.2)
        outputs = [worker.communicate(timeout=300)[1] for worker in workers]
        done = scheduler.api("task_list", {"status": "DONE"})
        failed = scheduler.api("task_list", {"status": "FAILED"})

    for worker, output in zip(workers, outputs, strict=True):  # [retcode] already_running or not_run, never a failure
        told = "run by another worker" in output or "not granted run permission" in output
        shared = worker.returncode in (10, 25) and told
        assert worker.returncode == 0 or shared, output
    built = Counter(line.split(":")[0] + line.split("building", 1)[1] for o in outputs for line in built_lines(o))
    # each task exactly once: the stages, a world part of profiles and of workouts, the query plan and shard,
    # two teacher shards
    assert len(built) == 16 and set(built.values()) == {1}, built
    assert len(done) == 16 and failed == {}
    assert "Traceback" not in "".join(outputs)
    assert digests(data, built_run.run_id, every_file=True) == digests(
        built_run.data_root, built_run.run_id, every_file=True
    )
    assert_no_secret([tmp_path], outputs)  # data root, luigid's state and log
