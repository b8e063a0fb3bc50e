"""Operations test helpers: real servers on loopback (luigid, an S3 server) and the `luigi` command against them.

Every server is started under `timeout` (it stops by itself after its lifetime)
and with a parent-death signal (it stops when pytest dies), and is stopped by
its fixture. Workers use a luigi.cfg with keep_alive on, so that a worker waits
for tasks that another worker is running, as it does in production.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.harness import REPO
from tests.support.hashing import digests

BIN = Path(sys.executable).parent
SERVER_LIFETIME_S = 900

# Workers wait for each other's tasks (keep_alive) and poll luigid often; no retries in tests.
WORKER_CFG = """
[core]
no_configure_logging = true
[worker]
keep_alive = true
wait_interval = 0.03
wait_jitter = 0.0
[scheduler]
retry_delay = 0
retry_count = 1
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A server that stops by itself: after SERVER_LIFETIME_S, or when this test process dies."""
    with log.open("ab") as sink:
        return subprocess.Popen(
            ["timeout", "--kill-after=5", str(SERVER_LIFETIME_S), *command],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=env,
            preexec_fn=_die_with_parent,
        )


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.terminate()
    try:
        return proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(5)


def wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=2)
            return
        time.sleep(0.1)
    raise AssertionError(f"{url} did not come up in {timeout}s:\n{log.read_text()[-3000:]}")


@dataclass
class Scheduler:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, method: str, data: dict[str, Any] | None = None) -> Any:
        query = "?data=" + urllib.parse.quote(json.dumps(data)) if data is not None else ""
        with urllib.request.urlopen(f"{self.url}/api/{method}{query}", timeout=10) as response:
            return json.loads(response.read())["response"]


@contextlib.contextmanager
def running_luigid(base: Path, data_root: Path, *extra: str) -> Iterator[Scheduler]:
    """luigid started the way operators start it: `python -m fitsense_luigi.scheduler`."""
    port = free_port()
    log = base / f"luigid-{port}.log"
    env = dict(os.environ, FITSENSE_DATA_ROOT=str(data_root))
    proc = spawn([sys.executable, "-m", "fitsense_luigi.scheduler", "--port", str(port), *extra], log, env)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", proc, log)
        yield Scheduler(port, proc, log)
    finally:
        stop(proc)


def worker_env(base: Path, data_root: str | Path, params: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of a worker; its pid lock lives under ``base`` so that other test sessions never collide with it."""
    cfg = base / "worker-luigi.cfg"
    cfg.write_text(WORKER_CFG.replace("[core]\n", f"[core]\nlock_pid_dir = {base / 'luigi-pids'}\n"))
    env = dict(os.environ, FITSENSE_DATA_ROOT=str(data_root), FITSENSE_PARAMS=str(params), LUIGI_CONFIG_PATH=str(cfg))
    env.update(extra or {})
    return env


def luigi_command(run_id: str, *args: str, task: str = "BiasSlicing") -> list[str]:
    return [str(BIN / "luigi"), "--module", "fitsense_luigi", task, "--run-id", run_id, *args]


def launch_command(run_id: str, *args: str, task: str = "BiasSlicing") -> list[str]:
    """`python -m fitsense_luigi`: luigi with exit codes that hold when workers share a run."""
    return [sys.executable, "-m", "fitsense_luigi", task, "--run-id", run_id, *args]


def scheduler_args(scheduler: Scheduler) -> list[str]:
    return ["--scheduler-host", "127.0.0.1", "--scheduler-port", str(scheduler.port)]


def run(command: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def data_digests(root: Path, run_id: str) -> dict[str, str]:
    """sha256 of every file of a local run's data stages (manifests and per-shard outputs left out: runs with
    other shard counts compare equal)."""
    return digests(root, run_id, every_file=True, shards=False)


def built_lines(output: str, marker: str = ": building ") -> list[str]:
    """The `Task: building <stage> for run R` lines each task logs when it starts work."""
    return [line.split("]: ", 1)[-1] for line in output.splitlines() if marker in line]
