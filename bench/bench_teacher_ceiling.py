"""The machine's ceiling for the teacher benchmark: the cheapest clients against the same loopback server.

``bench_teacher.py`` measures the pipeline at C = 256 in flight and 200 ms per
answer, i.e. a bound of C / L = 1,280 answers a second. Whether the pipeline
or the machine is the limit there is settled by driving the very same server
(``bench_teacher.serve``: asyncio, keep-alive, one precomputed answer, in its
own process) with clients that do nothing but send and read:

* ``asyncio``: one event loop, C raw asyncio-stream connections, each sending
  the next request as soon as its answer's last byte is in (no HTTP library,
  no parsing beyond the head's Content-Length);
* ``threads+socket``: C threads, each on one blocking socket, same bytes;
* ``aiohttp``: the same event loop through an HTTP library with a C parser
  (not a dependency of the project: run only where it is installed);
* ``threads+urllib3``: C threads, each with its own one-connection urllib3 pool,
  as the pipeline's transport (``teacher/openai_compat.py``) does, the answer's
  bytes read and dropped.

The server runs with 1 worker process (as in ``bench_teacher.py``) or more
(``--server-workers 2``: N processes on one port with ``SO_REUSEPORT``, so the
kernel spreads the connections), which tells whether one Python server
process is the limit. Printed per run: requests/s over the client's span
(first byte sent -> last answer read, connection set-up included), its
fraction of C / L, the CPU seconds (user + system) the server processes and
the client process used over the run, the 1-minute load average and the
CPU pressure (Linux PSI ``some avg10``: the share of the last 10 s in which a
runnable task waited for a core; the machine is shared). Each configuration runs ``--repeat`` times, then a
median and range.

``--per-answer`` prices, on one thread against the same server at zero
latency, each step the stage takes per answer with the stage's own code
(real queries from ``luigi ... GenerateQueries``): what a core has to do
1,280 times a second at C = 256 and 200 ms.

    .venv/bin/python bench/bench_teacher_ceiling.py [--requests 2000] [--concurrency 256]
        [--median-ms 200] [--clients asyncio threads+socket threads+urllib3] [--server-workers 1 2] [--repeat 3]
    .venv/bin/python bench/bench_teacher_ceiling.py --per-answer [--requests 500]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import multiprocessing
import os
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_teacher import cpu_seconds, serve  # the benchmark's own server, unchanged

# ---------------------------------------------------------------- the server: N processes on one port


def _serve_on(port: int, median_s: float, ready: multiprocessing.synchronize.Event) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    ready.set()
    serve(sock, median_s, "fixed", 7)


def start_servers(workers: int, median_s: float) -> tuple[int, list[multiprocessing.Process], socket.socket]:
    """``workers`` server processes listening on one port (SO_REUSEPORT); the returned socket only reserves it."""
    reserve = socket.socket()
    reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reserve.bind(("127.0.0.1", 0))  # bound, never listening: it takes no connections
    port = reserve.getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    processes = []
    for _ in range(workers):
        ready = ctx.Event()
        process = ctx.Process(target=_serve_on, args=(port, median_s, ready), daemon=True)
        process.start()
        if not ready.wait(30):
            raise SystemExit("a server process did not start within 30 s")
        processes.append(process)
    time.sleep(0.5)  # the event loops are up (start_server runs just after `ready`)
    return port, processes, reserve


def cpu_pressure() -> float:
    """Share of the last 10 s in which some runnable task waited for a CPU (Linux PSI), NaN where unknown."""
    try:
        line = Path("/proc/pressure/cpu").read_text().split("\n")[0]
    except OSError:
        return float("nan")
    return float(line.split("avg10=")[1].split()[0]) / 100


def self_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


# ---------------------------------------------------------------- the clients


def _request_bytes(payload: bytes) -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Accept: application/json\r\nContent-Length: %d\r\n\r\n" % len(payload)
    ) + payload


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            return int(line[15:])
    raise ValueError("no Content-Length in the answer's head")


class Budget:
    """The requests left to send, shared by every connection."""

    def __init__(self, total: int) -> None:
        self.left = total
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


def asyncio_client(port: int, payload: bytes, requests: int, concurrency: int) -> int:
    message = _request_bytes(payload)

    async def connection(budget: Budget) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        done = 0
        while budget.take():
            writer.write(message)
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(_content_length(head))
            done += 1
        writer.close()
        return done

    async def main() -> int:
        budget = Budget(requests)
        return sum(await asyncio.gather(*(connection(budget) for _ in range(concurrency))))

    return asyncio.run(main())


def _in_threads(concurrency: int, worker: Callable[[Budget], int], requests: int) -> int:
    budget = Budget(requests)
    counts = [0] * concurrency

    def run(i: int) -> None:
        counts[i] = worker(budget)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts)


def socket_threads_client(port: int, payload: bytes, requests: int, concurrency: int) -> int:
    message = _request_bytes(payload)

    def worker(budget: Budget) -> int:
        done = 0
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buffer = b""
            while budget.take():
                conn.sendall(message)
                while b"\r\n\r\n" not in buffer:
                    buffer += conn.recv(65536)
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = _content_length(head)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                buffer = buffer[length:]
                done += 1
        return done

    return _in_threads(concurrency, worker, requests)


def urllib3_threads_client(port: int, payload: bytes, requests: int, concurrency: int) -> int:
    import urllib3

    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    timeout = urllib3.Timeout(connect=10, read=60)

    def worker(budget: Budget) -> int:
        pool = urllib3.PoolManager(num_pools=1, maxsize=1, retries=False)
        done = 0
        while budget.take():
            response = pool.request(
                "POST", url, body=payload, headers=headers, timeout=timeout, retries=False, redirect=False
            )
            response.data  # noqa: B018  (read to the end, dropped)
            done += 1
        pool.clear()
        return done

    return _in_threads(concurrency, worker, requests)


def aiohttp_client(port: int, payload: bytes, requests: int, concurrency: int) -> int:
    """An asyncio HTTP library with a C parser (not a dependency: measured when installed)."""
    import aiohttp

    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    headers = {"Content-Type": "application/json", "Accept": "application/json"}

    async def connection(session: aiohttp.ClientSession, budget: Budget) -> int:
        done = 0
        while budget.take():
            async with session.post(url, data=payload, headers=headers) as response:
                await response.read()
            done += 1
        return done

    async def main() -> int:
        budget = Budget(requests)
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            return sum(await asyncio.gather(*(connection(session, budget) for _ in range(concurrency))))

    return asyncio.run(main())


CLIENTS: dict[str, Callable[[int, bytes, int, int], int]] = {
    "asyncio": asyncio_client,
    "aiohttp": aiohttp_client,
    "threads+socket": socket_threads_client,
    "threads+urllib3": urllib3_threads_client,
}


# ---------------------------------------------------------------- one run


def request_payload() -> bytes:
    """A chat-completion body of the pipeline's size (system prompt, user request and profile: ~3 KB)."""
    messages = [{"role": "system", "content": "You are a coach. " * 60}, {"role": "user", "content": "x" * 2000}]
    return json.dumps({"model": "bench-teacher", "messages": messages}).encode()


def measure(client: str, workers: int, requests: int, concurrency: int, median_s: float) -> dict[str, float]:
    port, servers, reserve = start_servers(workers, median_s)
    try:
        server_before = sum(cpu_seconds(p.pid) for p in servers if p.pid)
        client_before = self_cpu_seconds()
        started = time.perf_counter()
        answered = CLIENTS[client](port, request_payload(), requests, concurrency)
        span = time.perf_counter() - started
        client_cpu = self_cpu_seconds() - client_before
        server_cpu = sum(cpu_seconds(p.pid) for p in servers if p.pid) - server_before
        load, pressure = os.getloadavg()[0], cpu_pressure()
    finally:
        for process in servers:
            process.terminate()
            process.join(5)
        reserve.close()
    if answered != requests:
        raise SystemExit(f"{client}: {answered} of {requests} answered")
    bound = concurrency / median_s
    rate = requests / span
    return {
        "rate": rate,
        "of_bound": rate / bound,
        "server_cpu": server_cpu,
        "client_cpu": client_cpu,
        "load": load,
        "pressure": pressure,
    }


# ---------------------------------------------------------------- CPU per answer, step by step


def per_answer(requests: int) -> None:
    import tempfile

    from bench_teacher import luigi, write_params

    from fitsense_luigi.config import load_config
    from fitsense_luigi.contracts.encoding import dumps_row, iter_jsonl
    from fitsense_luigi.pipeline.roots.local import LocalRoot
    from fitsense_luigi.teacher import http_policy, response_body
    from fitsense_luigi.teacher.stage import Attempts, StageRun, build_row, judge_outcome

    port, servers, reserve = start_servers(1, 0.0)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ceiling-") as tmp:
            workdir = Path(tmp)
            params = write_params(workdir, requests, f"http://127.0.0.1:{port}/v1", 1, 1)
            code, _, err = luigi("GenerateQueries", "bench-2026-02-17", workdir / "data", params)
            if code:
                raise SystemExit(f"GenerateQueries failed ({code}):\n{err[-2000:]}")
            queries = list(iter_jsonl(next((workdir / "data").rglob("queries.jsonl"))))
            stage = StageRun(load_config(params), LocalRoot(workdir / "cache"), "bench-2026-02-17")
            steps: dict[str, float] = dict.fromkeys(
                ["request body", "cache key", "cache lookup (miss)", "claim (taken, released)",
                 "HTTP round trip (urllib3)", "completion JSON parse", "cache write",
                 "judge (extract, repair, schema, checks)", "response row", "row to JSONL (shard + merged file)"], 0.0,
            )  # fmt: skip

            def timed(step: str, call: Callable[[], object]) -> object:
                started = time.process_time()
                result = call()
                steps[step] += time.process_time() - started
                return result

            for query in queries:
                request = timed("request body", lambda q=query: stage.request(q))
                key = timed("cache key", lambda r=request, q=query: stage.key(r, q))
                timed("cache lookup (miss)", lambda k=key: stage.lookup(k))
                timed("claim (taken, released)", lambda k=key: _claim(stage.store, k))
                outcome = timed("HTTP round trip (urllib3)", lambda r=request: stage.provider.complete(r))
                data = json.dumps(outcome.raw_response).encode()
                timed(
                    "completion JSON parse", lambda d=data: http_policy.parse_completion(200, response_body.decode(d))
                )
                timed("cache write", lambda k=key, o=outcome: stage.store.put(k, o, {"run_id": "bench"}))
                verdict = timed(
                    "judge (extract, repair, schema, checks)", lambda o=outcome, q=query: judge_outcome(o, q)
                )
                row = timed(
                    "response row",
                    lambda q=query, o=outcome, v=verdict: build_row(q, "p", "m", o, v, Attempts(), "json_schema"),
                )
                timed("row to JSONL (shard + merged file)", lambda r=row: [dumps_row(r), dumps_row(r)])
            stage.provider.close()
            # Cross-check: the stage's own path per query (lookup, send, cache, judge, row), fresh cache.
            whole = StageRun(load_config(params), LocalRoot(workdir / "cache-2"), "bench-2026-02-17")
            started = time.process_time()
            for query in queries:
                whole.resolve(query)
            resolve_s = time.process_time() - started
            whole.provider.close()
    finally:
        for process in servers:
            process.terminate()
            process.join(5)
        reserve.close()
    steps["HTTP round trip (urllib3)"] -= steps["completion JSON parse"]  # complete() parses too
    steps["HTTP round trip (urllib3)"] = max(steps["HTTP round trip (urllib3)"], 0.0)
    total = sum(steps.values())
    print(f"CPU per answer, one thread, {len(queries)} answers (load {os.getloadavg()[0]:.1f}):")
    for step, seconds in steps.items():
        print(f"  {1000 * seconds / len(queries):7.3f} ms  {seconds / total:6.1%}  {step}")
    print(
        f"  {1000 * total / len(queries):7.3f} ms  total: one core keeps up with {len(queries) / total:,.0f} answers/s"
    )
    print(f"  {1000 * resolve_s / len(queries):7.3f} ms  StageRun.resolve end to end (all but the JSONL rows)")


def _claim(store: Any, key: str) -> None:
    with store.claim(key):  # what a miss is sent under (teacher/claims.py)
        pass


def _median_range(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--median-ms", type=float, default=200.0)
    parser.add_argument("--clients", nargs="+", default=None, choices=list(CLIENTS))
    parser.add_argument("--server-workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--per-answer", action="store_true")
    args = parser.parse_args()
    if args.per_answer:
        per_answer(args.requests if args.requests != 2000 else 500)
        return
    if args.clients is None:
        args.clients = [c for c in CLIENTS if c != "aiohttp" or importlib.util.find_spec("aiohttp")]
    median_s = args.median_ms / 1000
    bound = args.concurrency / median_s
    print(
        f"ceiling: {args.requests} requests, C={args.concurrency}, fixed {args.median_ms:g} ms "
        f"(C/L = {bound:.0f}/s; 9/10 of it = {0.9 * bound:.0f}/s), {os.cpu_count()} cores; "
        f"median (min-max) of {args.repeat} runs"
    )
    print(
        f"{'client':>16} {'server procs':>12} {'req/s':>22} {'of C/L':>22} {'server CPU s':>18} "
        f"{'client CPU s':>18} {'load 1 min':>18} {'CPU waited':>22}"
    )
    for workers in args.server_workers:
        for client in args.clients:
            runs = [measure(client, workers, args.requests, args.concurrency, median_s) for _ in range(args.repeat)]

            def col(key: str, fmt: str, runs: list[dict[str, float]] = runs) -> str:
                return _median_range([r[key] for r in runs], fmt)

            print(
                f"{client:>16} {workers:>12} {col('rate', '.0f'):>22} {col('of_bound', '.1%'):>22} "
                f"{col('server_cpu', '.2f'):>18} {col('client_cpu', '.2f'):>18} {col('load', '.1f'):>18} "
                f"{col('pressure', '.0%'):>22}",
                flush=True,
            )


if __name__ == "__main__":
    main()
