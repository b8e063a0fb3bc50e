"""Teacher stage throughput against a loopback OpenAI-compatible server with a fixed latency.

The server runs in its own process (asyncio, keep-alive, one precomputed
answer) and holds every request for ``--latency-ms`` before answering, so the
best any client can do at concurrency c is c / latency requests per second.
The client is the real stage path (``teacher.stage.answer``): request
building, cache lookup and durable cache write, HTTP with pacing and retry
logic, post-checks and response rows. Prints requests/s beside that bound.

    .venv/bin/python bench/bench_teacher.py [--requests 2000] [--latency-ms 200] [--concurrency 8 32 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import resource
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from fitsense_luigi.config import params_path, read_params, validate_params
from fitsense_luigi.pipeline.roots import LocalRoot
from fitsense_luigi.teacher import stage
from fitsense_luigi.teacher.mock import MockCoach
from fitsense_luigi.teacher.types import TeacherRequest

# ---------------------------------------------------------------- the loopback server (own process)


def _answer_bytes() -> bytes:
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
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    return head + body


def serve(sock: socket.socket, latency_s: float) -> None:
    answer = _answer_bytes()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                await asyncio.sleep(latency_s)
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, sock=sock, backlog=512)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# ---------------------------------------------------------------- the client (this process)


def queries(n: int) -> list[dict[str, Any]]:
    """Distinct requests of realistic size (~3 KB of messages, like GenerateQueries' output)."""
    system = "You are FitSense, a coach. " + "Answer with one JSON plan. " * 60
    out = []
    for i in range(n):
        facts = {"age": 20 + i % 50, "goal": "strength", "days_per_week": 3 + i % 3, "weight_kg": 60 + i % 40}
        user = f"Request {i}: please adapt my plan.\n\nMy profile and recent history: {json.dumps(facts)}" + (
            " Some more context." * 40
        )
        out.append(
            {
                "query_id": f"q{i}",
                "user_id": f"u{i}",
                "scenario_id": f"s{i}",
                "prompt_type": "plan_modification",
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
                "context_summary": {"conditions": [], "medications": []},
                "expected_safety_constraints": [],
                "template_version": "bench",
            }
        )
    return out


def config_for(url: str, concurrency: int):
    params = read_params(params_path())
    params["teacher"].update(
        provider="openai_compatible", base_url=url, model="bench-teacher", concurrency=concurrency, shards=1
    )
    return validate_params(params, "bench")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 64])
    args = parser.parse_args()
    logging.getLogger("fitsense").setLevel(logging.ERROR)  # the figures, not the progress lines

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    server = multiprocessing.get_context("spawn").Process(
        target=serve, args=(sock, args.latency_ms / 1000), daemon=True
    )
    server.start()
    latency = args.latency_ms / 1000
    print(f"teacher stage vs loopback server: {args.requests} requests, {args.latency_ms:g} ms latency")
    print(f"{'concurrency':>11} {'seconds':>8} {'req/s':>8} {'bound':>8} {'of bound':>9} {'ok':>6}")
    try:
        for concurrency in args.concurrency:
            config = config_for(url, concurrency)
            batch = queries(args.requests)
            with tempfile.TemporaryDirectory() as cache_root:
                started = time.perf_counter()
                rows = stage.answer(config, batch, cache_root=LocalRoot(Path(cache_root)))
                seconds = time.perf_counter() - started
            rate = len(rows) / seconds
            bound = concurrency / latency
            ok = sum(r["status"] == "ok" for r in rows)
            print(f"{concurrency:>11} {seconds:>8.2f} {rate:>8.1f} {bound:>8.1f} {rate / bound:>9.1%} {ok:>6}")
    finally:
        server.terminate()
        server.join(5)
    print(f"peak RSS of the client process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
