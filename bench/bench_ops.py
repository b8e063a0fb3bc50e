"""Operations benchmark: what the scheduler, the workers and the storage backend cost a whole run.

Runs the pipeline at the default scale (config/params.yaml) the way operators
do, each in a fresh data root, and prints wall time and the peak RSS of the
largest process for:

* local disk, local scheduler, 1 worker (the cron default);
* local disk, luigid on loopback, 4 workers (and the speed-up);
* an s3:// root on a local S3 server (moto), 1 and 4 workers (and the overhead);
* a rerun of a finished run (nothing to do);
* the container image (podman), when `make image` has built it.

With the offline mock teacher the run is CPU-bound and mostly a chain, so on
two cores extra workers mainly add a fork and fresh imports per task; they pay
off when the teacher shards wait on a real endpoint.

Figures only, no assertions; the machine is shared, so rerun if one looks off.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RUN_ID = "2026-02-17"
IMAGE = os.environ.get("IMAGE", "localhost/fitsense-luigi:latest")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MiB (largest process of the tree) and exit code."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - t0, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


@contextlib.contextmanager
def server(command: list[str], url: str, env: dict[str, str] | None = None) -> Iterator[None]:
    proc = subprocess.Popen(
        ["timeout", "900", *command], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=1)
                break
            time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(30)


def pipeline(*args: str) -> list[str]:
    return [sys.executable, "-m", "fitsense_luigi", "BiasSlicing", "--run-id", RUN_ID, *args]


def report(label: str, figures: tuple[float, float, int], baseline: float | None = None) -> float:
    wall, rss, code = figures
    ratio = f"  x{wall / baseline:.2f} of the local 1-worker time" if baseline else ""
    print(f"{label:<44} {wall:7.2f} s  peak RSS {rss:6.0f} MiB  exit {code}{ratio}", flush=True)
    return wall


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-ops-"))
    cfg = work / "luigi.cfg"
    cfg.write_text("[worker]\nwait_interval = 0.1\nwait_jitter = 0.0\n")
    env = dict(os.environ, LUIGI_CONFIG_PATH=str(cfg))
    try:
        print(f"pipeline at the default scale (config/params.yaml), run {RUN_ID}")
        local = env | {"FITSENSE_DATA_ROOT": str(work / "local-1")}
        base = report("local disk, local scheduler, 1 worker", timed(pipeline("--local-scheduler"), local))
        report("  rerun of the finished run (no work)", timed(pipeline("--local-scheduler"), local))

        port = free_port()
        luigid_env = env | {"FITSENSE_DATA_ROOT": str(work / "luigid")}
        with server(
            [sys.executable, "-m", "fitsense_luigi.scheduler", "--port", str(port)],
            f"http://127.0.0.1:{port}/",
            luigid_env,
        ):
            four = env | {"FITSENSE_DATA_ROOT": str(work / "local-4")}
            args = ("--scheduler-host", "127.0.0.1", "--scheduler-port", str(port), "--workers", "4")
            report("local disk, luigid, 4 workers", timed(pipeline(*args), four), base)

        s3_port = free_port()
        endpoint = f"http://127.0.0.1:{s3_port}"
        aws = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        with server([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(s3_port)], f"{endpoint}/"):
            import boto3

            boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id="bench",
                aws_secret_access_key="bench",
            ).create_bucket(Bucket="bench")
            for workers in ("1", "4"):
                s3_env = env | aws | {"FITSENSE_DATA_ROOT": f"s3://bench/w{workers}"}
                report(
                    f"s3:// root (moto on loopback), {workers} worker(s)",
                    timed(pipeline("--local-scheduler", "--workers", workers), s3_env),
                    base,
                )

        if shutil.which("podman") and subprocess.run(["podman", "image", "exists", IMAGE]).returncode == 0:
            data = work / "container"
            data.mkdir()
            os.chown(data, 10001, 10001)
            command = [
                "podman",
                "--runtime",
                "/usr/sbin/runc",
                "run",
                "--rm",
                "--network=none",
                "-v",
                f"{data}:/data",
                IMAGE,
                "luigi",
                "--module",
                "fitsense_luigi",
                "BiasSlicing",
                "--local-scheduler",
                "--run-id",
                RUN_ID,
            ]
            report("container (podman + runc; RSS: podman only)", timed(command, env), base)
            report("  container start, rerun (no work)", timed(command, env), base)
        else:
            print(f"container: {IMAGE} not built (make image), skipped")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
