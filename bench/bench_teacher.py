"""Teacher stage throughput through the `luigi` command, against a loopback server with a chosen latency.

For each latency model and concurrency, a fresh data root gets its queries
(`luigi ... GenerateQueries`), then the README's one-worker command is timed:

    luigi --module fitsense_luigi CallTeacher --run-id R --local-scheduler

with ``teacher.shards`` shards (4 by default: Luigi runs them one after
another) and ``teacher.concurrency`` C. The server runs in its own process
(asyncio, keep-alive, one precomputed valid answer) and holds each request
for its drawn latency: ``fixed`` (every request the median) or ``lognormal``
(median m, p99 = 5 x m, i.e. sigma = ln 5 / 2.326). It records when the first
request arrived, when the last answer left, the most requests it held at once
and every latency it drew.

Printed per run: the command's wall time; the endpoint's busy span (first
request in -> last answer out: the stage itself, without Python start-up and
the other tasks' checks); requests/s over that span against the bound C / L
(L = the mean drawn latency: no client can beat it on average); and against
the best any client could do with these very latencies (``ideal``: C slots,
each request started the moment a slot frees, no client overhead). For a long
tail and few rounds (2,000 requests at 256 in flight is under 8 latencies
deep) the last requests' tail alone keeps the ideal well under C / L.
``+probe``: the same ideal when the first request goes alone, as the stage's
response-format probe did against an endpoint it had not met (before the
first wave went out at once, :mod:`fitsense_luigi.teacher.negotiate`): at
C = 256 and 2,000 requests that is 9 latencies instead of 8, so such a
client stays under 0.87 of C / L. ``CPU s``: user +
system CPU of the whole luigi command (Python start-up, the shards' files,
the merge); ``span CPU``: the part of it spent during the endpoint's busy
span by the command and its helper processes (``teacher.processes``; sampled
from /proc every 20 ms), ``ms/ans`` that per answer and ``cores`` that over
the span's length (1.0: a core busy all along, which is what the GIL allows
one process's Python code); ``srv CPU``: the server
process's CPU over the command; ``load``: the 1-minute load average after it.

    [TMPDIR=/dev/shm] [FITSENSE__TEACHER__PROCESSES=N] [FITSENSE__TEACHER__TRANSPORT=threads] \
    .venv/bin/python bench/bench_teacher.py [--requests 2000] [--median-ms 200]
        [--latency fixed lognormal] [--concurrency 32 256] [--shards 4]
    .venv/bin/python bench/bench_teacher.py --client-overhead   # CPU per request: requests vs urllib3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import itertools
import json
import math
import multiprocessing
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
LUIGI = str(Path(sys.executable).with_name("luigi"))
SIGMA_P99_5X = math.log(5) / 2.3263  # lognormal sigma whose p99 is 5 times the median

# ---------------------------------------------------------------- the loopback server (own process)


def _answer_bytes() -> bytes:
    from fitsense_luigi.teacher.mock import MockCoach
    from fitsense_luigi.teacher.types import TeacherRequest

    user = 'Build me a plan.\n\nMy profile and recent history: {"goal": "strength", "days_per_week": 4}'
    plan = MockCoach("bench").complete(TeacherRequest([{"role": "user", "content": user}], "m", 0, 1, 1, 0)).content
    body = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": "bench-teacher",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": plan}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 700, "total_tokens": 1600},
        }
    ).encode()
    return f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def serve(sock: socket.socket, median_s: float, model: str, seed: int) -> None:
    """Answer every POST after its drawn latency; ``GET /stats`` tells what the server saw."""
    answer = _answer_bytes()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # importing the pipeline set its own handler: just stop
    rng = random.Random(seed)
    stats: dict[str, Any] = {"first_in": None, "last_out": None, "held": 0, "max_held": 0, "latencies": []}

    def draw() -> float:
        return median_s if model == "fixed" else median_s * math.exp(rng.gauss(0.0, SIGMA_P99_5X))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if head.startswith(b"GET /stats"):
                    body = json.dumps(stats).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                    await writer.drain()
                    continue
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                now = loop.time()
                stats["first_in"] = stats["first_in"] or now
                stats["held"] += 1
                stats["max_held"] = max(stats["max_held"], stats["held"])
                latency = draw()
                stats["latencies"].append(latency)
                await asyncio.sleep(latency)
                stats["held"] -= 1
                writer.write(answer)
                await writer.drain()
                stats["last_out"] = loop.time()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, sock=sock, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def start_server(median_s: float, model: str, seed: int = 7) -> tuple[str, multiprocessing.Process, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    process = multiprocessing.get_context("spawn").Process(
        target=serve, args=(sock, median_s, model, seed), daemon=True
    )
    process.start()
    return f"http://127.0.0.1:{port}/v1", process, port


def server_stats(port: int) -> dict[str, Any]:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(next(ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length"))[15:])
        while len(body) < length:
            body += conn.recv(1 << 20)
    return json.loads(body)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one live process so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a live process and its live descendants (the stage's helper processes, teacher/fanout.py)."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError, IndexError, ValueError):  # it may just have exited
            total += cpu_seconds(current)
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
    return total


# ---------------------------------------------------------------- the pipeline, as a user runs it


def ideal_makespan(latencies: list[float], concurrency: int) -> float:
    """The best any client can do with these latencies: C slots, each request started as soon as one frees."""
    slots = [0.0] * min(concurrency, len(latencies))
    for latency in latencies:
        heapq.heappush(slots, heapq.heappop(slots) + latency)
    return max(slots) if slots else 0.0


def write_params(workdir: Path, requests: int, url: str, concurrency: int, shards: int) -> Path:
    params = yaml.safe_load((REPO / "config" / "params.yaml").read_text())
    per_type = requests // 4
    params["queries"]["per_type"] = {
        k: per_type + (i < requests % 4) for i, k in enumerate(params["queries"]["per_type"])
    }
    params["teacher"].update(
        provider="openai_compatible",
        base_url=url,
        model="bench-teacher",
        concurrency=concurrency,
        shards=shards,
        timeouts={"connect_s": 10.0, "read_s": 60.0, "total_s": 120.0},
    )
    path = workdir / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def luigi(task: str, run_id: str, data_root: Path, params: Path) -> tuple[int, float, str]:
    """The command as a user runs it, from the repository root: (exit code, seconds, stderr)."""
    code, wall, err, _, _ = luigi_traced(task, run_id, data_root, params)
    return code, wall, err


def luigi_traced(
    task: str, run_id: str, data_root: Path, params: Path
) -> tuple[int, float, str, float, list[tuple[float, float]]]:
    """The same, plus its CPU seconds and a trace of them: (monotonic time, CPU so far) every 20 ms."""
    env = dict(os.environ, FITSENSE_DATA_ROOT=str(data_root), FITSENSE_PARAMS=str(params))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    trace: list[tuple[float, float]] = []
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [LUIGI, "--module", "fitsense_luigi", task, "--run-id", run_id, "--local-scheduler"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=err,
            text=True,
        )
        while proc.poll() is None:
            with contextlib.suppress(OSError, IndexError):  # it may just have exited
                trace.append((time.monotonic(), tree_cpu_seconds(proc.pid)))
            time.sleep(0.02)
        wall = time.perf_counter() - started
        err.seek(0)
        stderr = err.read()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return proc.returncode, wall, stderr, cpu, trace


def cpu_between(trace: list[tuple[float, float]], start: float, end: float) -> float:
    """CPU seconds a traced command used between two monotonic times (linear between samples)."""

    def at(t: float) -> float:
        for (t0, c0), (t1, c1) in itertools.pairwise(trace):
            if t0 <= t <= t1:
                return c0 + (c1 - c0) * (t - t0) / max(t1 - t0, 1e-9)
        return trace[0][1] if t < trace[0][0] else trace[-1][1]

    return at(end) - at(start) if trace else float("nan")


def measure(requests: int, model: str, median_s: float, concurrency: int, shards: int) -> dict[str, Any]:
    url, server, port = start_server(median_s, model)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-teacher-") as tmp:
            workdir = Path(tmp)
            params = write_params(workdir, requests, url, concurrency, shards)
            run_id = "bench-2026-02-17"
            code, _, err = luigi("GenerateQueries", run_id, workdir / "data", params)
            if code:
                raise SystemExit(f"GenerateQueries failed ({code}):\n{err[-2000:]}")
            server_before = cpu_seconds(server.pid or 0)
            code, wall, err, client_cpu, trace = luigi_traced("CallTeacher", run_id, workdir / "data", params)
            if code:
                raise SystemExit(f"CallTeacher failed ({code}):\n{err[-2000:]}")
            summary = json.loads((workdir / "data" / "raw" / "teacher_outputs" / run_id / "summary.json").read_text())
        stats = server_stats(port)
        server_cpu = cpu_seconds(server.pid or 0) - server_before
    finally:
        server.terminate()
        server.join(5)
    latencies = stats["latencies"]
    span = stats["last_out"] - stats["first_in"]
    mean = sum(latencies) / len(latencies)
    bound = concurrency / mean
    ideal = ideal_makespan(latencies, concurrency)
    # What a lone first request (the response-format probe the stage used to send) would cost, for comparison.
    probed = latencies[0] + ideal_makespan(latencies[1:], concurrency)
    return {
        "latency": model,
        "concurrency": concurrency,
        "requests": len(latencies),
        "ok": summary["per_status"]["ok"],
        "wall_s": wall,
        "span_s": span,
        "rate": len(latencies) / span,
        "bound": bound,
        "of_bound": len(latencies) / span / bound,
        "of_ideal": ideal / span,
        "ideal_of_bound": len(latencies) / ideal / bound,
        "probed_of_bound": len(latencies) / probed / bound,
        "command_of_bound": len(latencies) / wall / bound,
        "max_in_flight": stats["max_held"],
        "command_cpu_s": client_cpu,
        "span_cpu_s": cpu_between(trace, stats["first_in"], stats["last_out"]),
        "server_cpu_s": server_cpu,
        "load": os.getloadavg()[0],
        "mean_ms": mean * 1000,
        "p99_ms": sorted(latencies)[int(0.99 * len(latencies))] * 1000,
    }


# ---------------------------------------------------------------- client CPU per request


def client_overhead(requests: int = 2000) -> None:
    """CPU milliseconds per request, one thread, zero latency: the HTTP client alone."""
    import requests as requests_lib
    import urllib3

    url, server, _ = start_server(0.0, "fixed")
    payload = json.dumps({"messages": [{"role": "user", "content": "x" * 3000}]}).encode()
    time.sleep(1.0)
    try:
        session = requests_lib.Session()
        pool = urllib3.PoolManager(num_pools=1, maxsize=1, retries=False)
        timeout = urllib3.Timeout(connect=5, read=60)
        clients = {
            "requests.Session.post": lambda: (
                session.post(url + "/chat/completions", data=payload, timeout=(5, 60)).content
            ),
            "urllib3 (this client)": lambda: (
                pool.request("POST", url + "/chat/completions", body=payload, timeout=timeout, retries=False).data
            ),
        }
        print(f"{'client':>24} {'CPU ms/request':>15}")
        for name, call in clients.items():
            call()
            started = time.process_time()
            for _ in range(requests):
                call()
            print(f"{name:>24} {(time.process_time() - started) / requests * 1000:>15.3f}")
    finally:
        server.terminate()
        server.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--median-ms", type=float, default=200.0)
    parser.add_argument("--latency", nargs="+", default=["fixed", "lognormal"], choices=["fixed", "lognormal"])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--client-overhead", action="store_true")
    args = parser.parse_args()
    if args.client_overhead:
        client_overhead()
        return
    print(
        f"CallTeacher through luigi (one worker, {args.shards} shards): {args.requests} requests, "
        f"median latency {args.median_ms:g} ms"
    )
    header = (
        f"{'latency':>9} {'C':>4} {'mean ms':>8} {'p99 ms':>7} {'command s':>9} {'span s':>7} {'req/s':>7} "
        f"{'C/L':>7} {'of C/L':>7} {'of ideal':>8} {'ideal/(C/L)':>11} {'+probe':>7} {'max held':>8} "
        f"{'CPU s':>6} {'span CPU':>8} {'ms/ans':>6} {'cores':>5} {'srv CPU':>7} {'load':>5}"
    )
    print(header)
    for model in args.latency:
        for concurrency in args.concurrency:
            r = measure(args.requests, model, args.median_ms / 1000, concurrency, args.shards)
            print(
                f"{r['latency']:>9} {r['concurrency']:>4} {r['mean_ms']:>8.0f} {r['p99_ms']:>7.0f} {r['wall_s']:>9.2f} "
                f"{r['span_s']:>7.2f} {r['rate']:>7.1f} {r['bound']:>7.1f} {r['of_bound']:>7.1%} {r['of_ideal']:>8.1%} "
                f"{r['ideal_of_bound']:>11.1%} {r['probed_of_bound']:>7.1%} {r['max_in_flight']:>8} "
                f"{r['command_cpu_s']:>6.2f} {r['span_cpu_s']:>8.2f} {1000 * r['span_cpu_s'] / r['requests']:>6.2f} "
                f"{r['span_cpu_s'] / r['span_s']:>5.2f} "
                f"{r['server_cpu_s']:>7.2f} {r['load']:>5.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
