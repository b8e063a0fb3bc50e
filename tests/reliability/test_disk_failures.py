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
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fitsense_luigi.contracts import files
from tests.reliability.fault_harness import retrying
from tests.support.harness import RUN_ID, run_luigi, watch_luigi
from tests.support.layout import RunFiles
from tests.support.teacher import FAST_TEACHER, WITH_KEY, Servers, assert_no_secret, teacher_params

FEW = {"plan_creation": 3, "plan_modification": 3, "safety_adjustment": 3, "progress_adaptation": 3}
RETRIES = 30  # attempts in all, a second apart: enough to outlast the moment the test needs to free the space


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
    """The disk fills while the stage runs (its cache database open, some answers in it)."""
    srv = server(latency_s=0.3)
    overrides = teacher_params(srv.url, FAST_TEACHER, shards=1, concurrency=2)
    params = write_params({"queries": {"per_type": FEW}, **overrides})
    with small_tmpfs(tmp_path / "data", "48m") as data_root:
        upstream = run_luigi("GenerateQueries", RUN_ID, data_root, params, env=WITH_KEY)
        assert upstream.returncode == 0, upstream.output[-3000:]

        env = {**WITH_KEY, **retrying(tmp_path, RETRIES)}
        proc = watch_luigi("CallTeacher", RUN_ID, data_root, params, env)
        run = RunFiles(data_root, RUN_ID)
        deadline = time.monotonic() + 120
        while len(run.cache_entries()) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        filler = fill(data_root, leave=12 * 1024)
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


@contextlib.contextmanager
def immutable(directory: Path) -> Iterator[None]:
    """``directory`` where nothing can be created, even by root (``chattr +i``), until the block ends."""
    directory.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["chattr", "+i", str(directory)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make a directory immutable here: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=False)


def test_a_data_root_that_refuses_writes_mid_run_fails_once_in_one_line(server: Servers, write_params, tmp_path):
    """Defect 11: a data root made read-only mid-run gave a PermissionError traceback and 4 minutes of retries.
    Here the cache directory stops taking files after the upstream stages (``chattr +i``: EPERM even for root; a
    read-only remount is refused while the run log is open for writing). The error names the path and the free
    space, and is permanent: one attempt, exit 30, no traceback."""
    srv = server()
    params = write_params(
        {"queries": {"per_type": FEW}, **teacher_params(srv.url, FAST_TEACHER, shards=1, concurrency=2)}
    )
    data_root = tmp_path / "data"
    upstream = run_luigi("GenerateQueries", RUN_ID, data_root, params, env=WITH_KEY)
    assert upstream.returncode == 0, upstream.output[-3000:]
    with immutable(RunFiles(data_root, RUN_ID).cache_root()):
        env = {**WITH_KEY, **retrying(tmp_path, RETRIES)}
        result = run_luigi("CallTeacher", RUN_ID, data_root, params, env=env, timeout=120)
    assert result.returncode == 30, result.output[-3000:]
    errors = [line for line in result.output.splitlines() if " ERROR " in line and "Operation not permitted" in line]
    assert errors and " free of " in errors[0] and "give this user write access" in errors[0], result.output[-3000:]
    assert "Traceback" not in result.output and "--- Logging error ---" not in result.output
    assert result.output.count("running   TeacherShard") == 1, "a permanent error is not retried"
    # the stage stops at the first answer it cannot keep; the requests already in flight still arrive
    assert srv.total_answered() <= 2 + 1, srv.total_answered()


def test_a_full_disk_while_the_world_is_written_is_one_line(write_params, tmp_path: Path):
    """Defect 7: a full disk outside the teacher stage failed after 4 minutes of tracebacks."""
    params = write_params({"queries": {"per_type": FEW}})
    with small_tmpfs(tmp_path / "data", "48m") as data_root:
        first = run_luigi("Bootstrap", RUN_ID, data_root, params)
        assert first.returncode == 0, first.output[-3000:]
        fill(data_root, leave=0)
        result = run_luigi("GenerateProfiles", RUN_ID, data_root, params, timeout=120)
        leaked = [str(p) for p in data_root.rglob(".*.tmp-*")]
    assert result.returncode == 30, result.output[-3000:]
    errors = [line for line in result.output.splitlines() if " ERROR " in line and "No space left on device" in line]
    assert errors and "free some space, then rerun" in errors[0], result.output[-3000:]
    assert "Traceback" not in result.output and "--- Logging error ---" not in result.output
    assert not leaked, "nothing partial is left"
