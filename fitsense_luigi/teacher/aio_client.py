"""The chat-completions client on one asyncio event loop: the same requests and rules, without a thread each.

At 256 requests in flight a thread per request costs more than the work: 256
threads that each take the GIL several times per answer spent about 0.45 ms of
CPU per request on the HTTP exchange alone, against 0.04 ms for raw asyncio
streams (``bench/bench_teacher_ceiling.py``), and the stage stayed CPU-bound at
0.4 of C / L. This client speaks HTTP/1.1 over asyncio streams (keep-alive
connections, ``Content-Length`` or chunked bodies, TLS with the CA bundle of
:mod:`.connection`) and applies every rule of the thread client it is made
from (:class:`~fitsense_luigi.teacher.openai_compat.OpenAICompatible`: one
owner of the settings): the same body bytes and headers, retries with
exponential backoff and full jitter, ``Retry-After`` obeyed up to its cap, a
429 or an exhausted rate-limit budget pausing every request through the shared
:class:`~fitsense_luigi.teacher.pacing.Pacer`, the connect and read time-outs,
the deadline for the whole answer, the size cap, and the body decoded,
redacted and judged by :mod:`.response_body` and :mod:`.http_policy`. It is
used where those rules are all it needs (:func:`usable_for`): no proxy (the
thread client goes through ``HTTP(S)_PROXY``) and no requests or tokens per
minute to pace (pacing waits block; a 429's pause does not).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import backoff
from urllib3 import HTTPHeaderDict
from urllib3.util import parse_url

from fitsense_luigi.teacher import http_policy, response_body
from fitsense_luigi.teacher.openai_compat import CHARS_PER_TOKEN, OpenAICompatible
from fitsense_luigi.teacher.types import TeacherOutcome, TeacherRequest

log = logging.getLogger("fitsense.teacher.http")
READ_CHUNK = 64 * 1024


def usable_for(provider: Any) -> bool:
    """Whether this client can stand in for ``provider`` with the same behaviour."""
    return (
        isinstance(provider, OpenAICompatible)
        and provider.route_is_direct()
        and not provider.pacer.limits_rate()
        and parse_url(provider.url).scheme in ("http", "https")
    )


class _Closed(Exception):
    """The server closed the connection before a whole answer."""


class _Stall(Exception):
    """No byte within the read time-out."""


class AsyncEndpoint:
    def __init__(self, sync: OpenAICompatible) -> None:
        self.sync = sync
        url = parse_url(sync.url)
        self.host = url.host or "127.0.0.1"
        self.tls = url.scheme == "https"
        self.port = url.port or (443 if self.tls else 80)
        head = [f"POST {url.request_uri} HTTP/1.1", f"Host: {url.netloc}", "Connection: keep-alive"]
        head += [f"{name}: {value}" for name, value in sync._headers.items()]
        self._head = "\r\n".join(head).encode("latin-1") + b"\r\nContent-Length: "
        self._ssl = ssl.create_default_context(cafile=sync._route.ca_certs) if self.tls else None
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._open: set[asyncio.StreamWriter] = set()

    # -- connections
    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self._idle:
            reader, writer = self._idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer
            self._forget(writer)
        async with asyncio.timeout(self.sync.timeout[0]):
            reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self._ssl, limit=READ_CHUNK)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._open.add(writer)
        return reader, writer

    def _forget(self, writer: asyncio.StreamWriter) -> None:
        self._open.discard(writer)
        writer.close()

    def close(self) -> None:
        for writer in list(self._open):
            self._forget(writer)
        self._idle.clear()

    # -- one request, all attempts (OpenAICompatible.complete, awaited)
    async def complete(self, request: TeacherRequest) -> TeacherOutcome:
        sync, pacer = self.sync, self.sync.pacer
        payload = request.body_text.encode("utf-8")
        reserve = request.prompt_chars() // CHARS_PER_TOKEN + request.max_tokens
        waits = backoff.expo(base=2, factor=sync.initial_wait_s, max_value=sync.max_wait_s)
        next(waits)
        outcome = TeacherOutcome("http_error", None, None, None, "not sent: the stage is stopping")
        attempt = 0
        while attempt < sync.max_attempts:
            if await _nap(pacer.held_s(), pacer.stop):
                break
            attempt += 1
            outcome, retry, server_wait = await self._attempt(payload)
            pacer.settle(reserve, outcome.usage.get("total_tokens") if outcome.usage else None)
            if not retry or attempt >= sync.max_attempts:
                break
            wait = backoff.full_jitter(next(waits))
            if server_wait is not None:
                wait = max(wait, min(server_wait, sync.retry_after_cap_s))
            if outcome.http_status == 429:
                pacer.hold(wait)
            log.debug("attempt %d failed (%s); retrying in %.2f s", attempt, outcome.error, wait)
            if await _nap(wait, pacer.stop):
                break
        outcome.attempt_count = attempt
        return outcome

    async def _attempt(self, payload: bytes) -> tuple[TeacherOutcome, bool, float | None]:
        sync = self.sync
        started = time.monotonic()
        try:
            async with asyncio.timeout(sync.total_s):
                try:
                    reader, writer = await self._connection()
                except TimeoutError:
                    error = f"timeout: no connect within {sync.timeout[0]:g} s"
                    return TeacherOutcome("timeout", None, None, None, error), True, None
                try:
                    writer.write(self._head + b"%d\r\n\r\n" % len(payload) + payload)
                    status, reason, headers, data, keep = await self._response(reader)
                except BaseException:
                    self._forget(writer)
                    raise
                if keep:
                    self._idle.append((reader, writer))
                else:
                    self._forget(writer)
        except response_body.TooLarge as exc:
            seen = f" (Content-Length {exc.seen})" if exc.seen is not None else ""
            error = f"response larger than {exc.limit / (1 << 20):g} MiB{seen}: refused (teacher.max_response_mb)"
            return TeacherOutcome("http_error", None, None, None, error, http_status=exc.status), False, None
        except _Stall:
            error = f"timeout: no read within {sync.timeout[1]:g} s"
            return TeacherOutcome("timeout", None, None, None, error), True, None
        except TimeoutError:
            error = f"timeout: no complete answer within {sync.total_s:g} s (teacher.timeouts.total_s)"
            return TeacherOutcome("timeout", None, None, None, error), True, None
        except (_Closed, asyncio.IncompleteReadError, ConnectionError, OSError, ValueError) as exc:
            return TeacherOutcome("http_error", None, None, None, f"connection error: {_reason(exc)}"), True, None
        latency_ms = int((time.monotonic() - started) * 1000)
        body = response_body.decode(data)
        budget_wait = http_policy.exhausted_budget_reset_s(headers)
        if budget_wait:
            sync.pacer.hold(min(budget_wait, sync.retry_after_cap_s))
        return http_policy.outcome_of(status, reason, headers, body, latency_ms)

    async def _read(self, reader: asyncio.StreamReader, call: Callable[[], Awaitable[bytes]]) -> bytes:
        """One read with ``teacher.timeouts.read_s`` as the longest *silence*, as the thread client's socket
        time-out is: a read that is still waiting when it runs out is asked again if any byte came meanwhile (a
        slow drip is bounded by the deadline for the whole answer, not here). A timer, no task per read."""
        while True:
            seen = len(reader._buffer)  # bytes received and not yet read; an unfinished read consumes none
            try:
                async with asyncio.timeout(self.sync.timeout[1]):
                    return await call()
            except TimeoutError:
                if len(reader._buffer) <= seen:
                    raise _Stall from None

    async def _response(self, reader: asyncio.StreamReader) -> tuple[int, str, HTTPHeaderDict, bytes, bool]:
        """(status, reason, headers, body, keep the connection) of one HTTP/1.1 response."""
        while True:
            try:
                head = await self._read(reader, lambda: reader.readuntil(b"\r\n\r\n"))
            except asyncio.LimitOverrunError:
                raise _Closed("a response head over 64 KiB") from None
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
                raise _Closed("not an HTTP response")
            status, reason = int(parts[1]), parts[2] if len(parts) > 2 else ""
            headers = HTTPHeaderDict()
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers.add(name.strip(), value.strip())
            if not 100 <= status < 200:  # else an interim answer (100 Continue): the real one follows
                break
        limit = self.sync.max_response_bytes
        keep = parts[0] != "HTTP/1.0" and "close" not in headers.get("connection", "").lower()
        declared = headers.get("content-length")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            data = await self._chunked(reader, limit, status)
        elif declared is not None and declared.strip().isdigit():
            size = int(declared)
            if size > limit:
                raise _too_large(limit, size, status)
            data = await self._read(reader, lambda: reader.readexactly(size)) if size else b""
        else:  # the body runs to the end of the connection
            keep, chunks, size = False, [], 0
            while chunk := await self._read(reader, lambda: reader.read(READ_CHUNK)):
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit, None, status)
                chunks.append(chunk)
            data = b"".join(chunks)
        encoding = headers.get("content-encoding", "").lower()
        if encoding in ("gzip", "deflate"):
            inflate = zlib.decompressobj(wbits=47)  # gzip or zlib, by the header
            data = inflate.decompress(data, limit + 1)
            if len(data) > limit:
                raise _too_large(limit, None, status)
        return status, reason, headers, data, keep

    async def _chunked(self, reader: asyncio.StreamReader, limit: int, status: int) -> bytes:
        chunks, size = [], 0
        while True:
            line = await self._read(reader, lambda: reader.readline())
            if not line:
                raise _Closed("remote end closed")
            length = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if length == 0:
                while (await self._read(reader, lambda: reader.readline())) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            size += length
            if size > limit:
                raise _too_large(limit, None, status)
            chunks.append(await self._read(reader, lambda n=length: reader.readexactly(n)))
            await self._read(reader, lambda: reader.readexactly(2))


async def _nap(seconds: float, stop: Any) -> bool:
    """Sleep unless the stage stops first (checked every 0.1 s); True if it is stopping."""
    end = time.monotonic() + seconds
    while not stop.is_set():
        left = end - time.monotonic()
        if left <= 0:
            return False
        await asyncio.sleep(min(left, 0.1))
    return True


def _too_large(limit: int, seen: int | None, status: int) -> response_body.TooLarge:
    error = response_body.TooLarge(limit, seen)
    error.status = status  # type: ignore[attr-defined]
    return error


def _reason(exc: BaseException) -> str:
    """What a connection error says, in the thread client's words."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "connection reset"
    if isinstance(exc, _Closed | asyncio.IncompleteReadError):
        return "remote end closed"
    if isinstance(exc, OSError) and "Name or service not known" in str(exc):
        return "name or service not known"
    return type(exc).__name__
