"""Issue 19, defect 7: a full disk during the teacher stage, through the `luigi` command on a real small tmpfs.

Before: answers that arrived but could not be cached were dropped and bought again on every retry (111 requests
for 56 distinct), with 38 ``--- Logging error ---`` blocks. Now an answer that cannot be written is held in
memory, the stage stops in one line naming the path and the free space, and Luigi's retry (same process) writes
the held answers once space is free, paying for none of them again.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fitsense_luigi.contracts import files
from tests.support.harness import REPO, RUN_ID, luigi_command, luigi_env, run_luigi
from tests.support.layout import RunFiles
from tests.support.teacher import FAST_TEACHER, WITH_KEY, Servers, assert_no_secret, teacher_params

FEW = {"plan_creation": 3, "plan_modification": 3, "safety_adjustment": 3, "progress_adaptation": 3}
# Luigi's production retry policy (keep_alive, retries) with a short delay and enough retries to outlast the
# moment the test needs to free the space
RETRYING_CFG = """
[core]
lock_pid_dir = {pid_dir}
[worker]
keep_alive = true
wait_interval = 0.1
[scheduler]
retry_count = 30
retry_delay = 1
"""


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(root: Path, leave: int) -> Path:
    """A file that takes all but about ``leave`` bytes of the file system."""
    filler = root / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        with contextlib.suppress(OSError):
            while os.write(fd, bytes(65536)):
                pass
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_in_the_teacher_stage_pays_for_nothing_twice(server: Servers, write_params, tmp_path: Path):
    srv = server(latency_s=0.02)
    overrides = teacher_params(srv.url, FAST_TEACHER, shards=1, concurrency=2)
    params = write_params({"queries": {"per_type": FEW}, **overrides})
    with small_tmpfs(tmp_path / "data", "48m") as data_root:
        upstream = run_luigi("GenerateQueries", RUN_ID, data_root, params, env=WITH_KEY)
        assert upstream.returncode == 0, upstream.output[-3000:]
        filler = fill(data_root, leave=12 * 1024)

        cfg = tmp_path / "retrying-luigi.cfg"
        cfg.write_text(RETRYING_CFG.format(pid_dir=tmp_path / "luigi-pids"))
        env = luigi_env(data_root, params, {**WITH_KEY, "LUIGI_CONFIG_PATH": str(cfg)})
        proc = subprocess.Popen(
            luigi_command("CallTeacher", RUN_ID),
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        lines: list[str] = []
        full = threading.Event()

        def read() -> None:
            for line in proc.stdout:
                lines.append(line)
                if "No space left on device" in line:
                    full.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert full.wait(120), "".join(lines)[-3000:]
        answered_when_full = srv.total_answered()
        filler.unlink()  # the operator frees space; Luigi's next retry goes on
        assert proc.wait(180) == 0, "".join(lines)[-3000:]
        reader.join(10)
        rows = RunFiles(data_root, RUN_ID).rows(files.RESPONSES)
        leaked = [str(p) for p in data_root.rglob(".*.tmp-*")]
    output = "".join(lines)
    assert len(rows) == 12 and {r["status"] for r in rows} == {"ok"} and not leaked

    errors = [line for line in output.splitlines() if "No space left on device" in line and " ERROR " in line]
    assert errors, output[-3000:]
    first = errors[0]
    assert "free of" in first and "the answer is held in memory" in first, first
    assert "--- Logging error ---" not in output and "Traceback" not in output
    assert answered_when_full < 12, "the stage stopped at the full disk instead of buying every answer"
    assert set(srv.answered().values()) == {1}, "an answer was bought twice"
    assert len(srv.answered()) == 12
    assert_no_secret([], [output])
