"""Batch mode under a real luigid: while a batch runs, its request counts are the task's progress in the UI."""

from __future__ import annotations

import subprocess
import time

from ops_harness import luigi_command, running_luigid, scheduler_args, worker_env

from tests.support.batch_api import batch_params
from tests.support.harness import REPO, RUN_ID
from tests.support.params import SMALL_QUERIES
from tests.support.teacher import WITH_KEY


def test_a_running_batch_shows_its_request_counts_in_the_scheduler(batch_server, write_params, tmp_path):
    half = SMALL_QUERIES // 2
    # the batch runs in 4 steps; the server holds it once half its lines are done, until the test has looked
    srv = batch_server(steps=4, pause_when=lambda batch: batch.completed >= half)
    params = write_params(batch_params(srv.url))
    data = tmp_path / "data"
    with running_luigid(tmp_path, data) as scheduler:
        env = worker_env(tmp_path, data, params, WITH_KEY)
        command = luigi_command(RUN_ID, *scheduler_args(scheduler), task="CallTeacher")
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            expected = f"batch_0001 in_progress {half}/{SMALL_QUERIES}"
            deadline = time.monotonic() + 120
            shown: list[dict] = []
            while not shown and time.monotonic() < deadline and proc.poll() is None:
                running = scheduler.api("task_list", {"status": "RUNNING"}).values()
                shown = [t for t in running if expected in (t.get("status_message") or "")]
                time.sleep(0.1)
            assert shown, proc.communicate(timeout=30)[0].decode()[-3000:] if proc.poll() is not None else expected
            assert shown[0]["name"] == "TeacherShard"
            assert shown[0]["status_message"] == f"teacher: 0/{SMALL_QUERIES} answered; 1 batch: {expected}"
            assert shown[0]["progress_percentage"] == 50
            srv.release()
            output = proc.communicate(timeout=300)[0].decode()
            assert proc.returncode == 0, output[-3000:]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        done = scheduler.api("task_list", {"status": "DONE", "search": "CallTeacher"})
        assert [t["progress_percentage"] for t in done.values()] == [100]
    assert len(srv.created) == 1 and sum(srv.billed().values()) == SMALL_QUERIES
