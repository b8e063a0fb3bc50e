"""The one fake teacher of the tests: a real OpenAI-compatible HTTP server on 127.0.0.1, scripted per request.

Every request is answered by ``script(call)`` (a :class:`Call`: the ``[case:NAME]`` marker of the user
message, how many requests with this body came before, the body itself), which returns a
:class:`Reply`: status, content (by default the mock coach's plan for the request, so post-checks pass),
finish reason, extra message fields, headers (e.g. ``Retry-After``), a delay, or a raw body. Ready-made
scripts: :func:`ok`, :class:`ByMessage` (answers planned per user message, 404 for others) and
:class:`Weather` (healthy, a storm of 429/5xx/time-outs, or down). ``latency_s`` delays every answer.

What the server keeps, and when (no counter lags behind what a client has seen):

* ``received``, ``bodies``, ``authorization``: recorded when a request arrives, before it is answered;
* answers: an answer is *committed* (entered in the send log, with its time) before its first byte is
  written, so a client never holds an answer the server has not counted; an answer whose write fails
  (the client went away) is then marked lost and no longer counts, and an answer whose client hung up
  while it was being prepared (a client read time-out) is never committed nor written;
* ``settle()`` waits until every committed answer has been written or lost, so that after
  ``freeze(); settle()`` the send log is final until the next ``drop_held()``.

``hold_after(n)`` lets the first ``n`` requests through and holds every later one before the server looks
at it (as a server under load queues requests); ``drop_held()`` then closes those connections
unprocessed, so a killed client's held requests were never seen or billed, as with a real endpoint.
``freeze()`` also holds every answer not yet committed. The server shuts itself down after
``idle_timeout_s`` without requests, so a forgotten one never outlives the test run. Headers and body
leave with TCP_NODELAY (``nodelay``): without it Nagle's algorithm holds the body until the client's
delayed ACK (40 ms).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, NamedTuple

from fitsense_luigi.teacher.mock import MockCoach
from fitsense_luigi.teacher.types import TeacherRequest
from tests.support.loopback import LoopbackServer

TEST_KEY = "sk-test-8d1f0c55a9e24b7e9f3c61d2a0b4e7c9"
KEY_ENV = "FITSENSE_TEST_TEACHER_KEY"
WITH_KEY = {KEY_ENV: TEST_KEY}  # the environment of a run that calls the fake teacher

# Fast retries so that scripted failures cost milliseconds, not seconds.
FAST_TEACHER: dict[str, Any] = {
    "provider": "openai_compatible",
    "model": "test-teacher",
    "api_key_env": KEY_ENV,
    "concurrency": 4,
    "timeouts": {"connect_s": 2.0, "read_s": 1.0, "total_s": 30.0},
    "retries": {"max_attempts": 3, "initial_wait_s": 0.01, "max_wait_s": 0.05, "retry_after_cap_s": 5.0},
}
# A generous read time-out: on a loaded 2-core box a slow answer must not turn into a retry (a second send).
LOOPBACK_TEACHER: dict[str, Any] = dict(
    FAST_TEACHER, concurrency=3, shards=2, timeouts={"connect_s": 5.0, "read_s": 30.0, "total_s": 60.0}
)
USAGE = {"prompt_tokens": 120, "completion_tokens": 340, "total_tokens": 460, "extra_field": {"x": 1}}

_CASE = re.compile(r"\[case:([a-z0-9_]+)\]")
DEFAULT = object()


def teacher_params(url: str, base: dict[str, Any] = FAST_TEACHER, **overrides: Any) -> dict[str, Any]:
    """Params overrides (``{"teacher": ...}``) for the openai_compatible provider at ``url``."""
    return {"teacher": {**base, "base_url": url, **overrides}}


# ------------------------------------------------------------------ requests and answers


@dataclass(frozen=True)
class Call:
    """One request as the server saw it."""

    case: str  # the [case:NAME] marker in the user message, or ""
    attempt: int  # requests with this body so far, this one included (1 for the first)
    digest: str  # of the request body
    body: dict[str, Any]

    @property
    def user_message(self) -> str:
        return next((m["content"] for m in self.body.get("messages", []) if m.get("role") == "user"), "")


@dataclass
class Reply:
    status: int = 200
    content: Any = DEFAULT  # DEFAULT: the mock coach's plan for the request; None: JSON null
    finish_reason: str | None = "stop"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float | None = None  # None: the server's latency
    raw: bytes | None = None  # sent as the body verbatim (malformed bodies, error bodies)
    usage: dict[str, Any] | None = None  # None: USAGE
    message: dict[str, Any] = field(default_factory=dict)  # more fields of the message (refusal, reasoning_content)
    drip_s: float | None = None  # headers at once, then the body one byte every drip_s seconds (a slow drip)
    rewrite: Callable[[bytes], bytes] | None = None  # applied to the body as sent (e.g. a key echoed JSON-escaped)


def error(status: int, message: str, **fields: Any) -> Reply:
    """An error answer with OpenAI's body: ``{"error": {"message": ..., **fields}}``."""
    return Reply(status, raw=json.dumps({"error": {"message": message, **fields}}).encode())


Script = Callable[[Call], Reply]


def case_of(request: dict[str, Any]) -> str:
    """The ``[case:NAME]`` marker of a request's user message, or ""."""
    user = next((m.get("content", "") for m in request.get("messages", []) if m.get("role") == "user"), "")
    match = _CASE.search(user)
    return match.group(1) if match else ""


def coach_answer(request: dict[str, Any]) -> str | None:
    """The mock coach's answer to this request (its model, messages and seed), as a real endpoint would give."""
    model = str(request.get("model", "m"))
    asked = TeacherRequest(request.get("messages", []), model, 0.0, 1.0, 100, int(request.get("seed") or 0))
    return MockCoach(model).complete(asked).content


def completion(reply: Reply, request: dict[str, Any]) -> dict[str, Any]:
    """The chat completion a reply stands for (content by default: the mock coach's plan for the request)."""
    content = coach_answer(request) if reply.content is DEFAULT else reply.content
    message = {"role": "assistant", "content": content, **reply.message}
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": request.get("model", ""),
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
        "usage": USAGE if reply.usage is None else reply.usage,
    }


def reply_body(reply: Reply, request: dict[str, Any]) -> bytes:
    """What goes on the wire for a reply: its raw body, else the completion as JSON (then ``rewrite``, if any)."""
    body = reply.raw if reply.raw is not None else json.dumps(completion(reply, request)).encode()
    return reply.rewrite(body) if reply.rewrite else body


def ok(call: Call) -> Reply:
    return Reply()


class ByMessage:
    """Answers planned per user message (``answers``, settable after the server started); others get 404."""

    def __init__(self, answers: dict[str, Reply] | None = None) -> None:
        self.answers = answers or {}

    def __call__(self, call: Call) -> Reply:
        return self.answers.get(call.user_message) or error(404, "unknown message")


RETRY_AFTER_S = 1.0
STORM_READ_S = 0.5  # the read time-out a storm's time-outs are measured against
RATE_LIMITED = error(429, "Rate limit reached for requests", code="rate_limit_exceeded")
FAILURES = {
    "429": Reply(429, raw=RATE_LIMITED.raw, headers={"Retry-After": f"{RETRY_AFTER_S:g}"}),
    "500": error(500, "The server had an error while processing your request"),
    "502": Reply(502, raw=b"<html><body>502 Bad Gateway</body></html>"),
    "503": error(503, "The engine is currently overloaded"),
    "timeout": Reply(delay_s=STORM_READ_S + 0.5),
}


class Weather:
    """A teacher's weather, set by ``mode``: healthy; storm (3 in 10 first attempts and 1 in 4 second attempts
    fail, with 429 + Retry-After, 500, 502, 503 and time-outs); down (after ten good answers every request
    fails). ``failures`` records (attempt, kind) per request body."""

    def __init__(self) -> None:
        self.mode = "healthy"
        self.failures: dict[str, list[tuple[int, str]]] = defaultdict(list)
        self._lock = threading.Lock()
        self._tries: Counter[tuple[str, str]] = Counter()  # (mode, body) -> attempts in this weather
        self._seen: Counter[int] = Counter()  # attempt number -> storm requests seen with it
        self._good = 0

    def __call__(self, call: Call) -> Reply:
        with self._lock:
            self._tries[self.mode, call.digest] += 1
            attempt = self._tries[self.mode, call.digest]
            kind = None
            if self.mode == "storm" and attempt <= 2:
                self._seen[attempt] += 1
                n = self._seen[attempt]
                if (attempt == 1 and n % 10 in (1, 4, 7)) or (attempt == 2 and n % 4 == 1):
                    kind = ("429", "500", "timeout", "503", "429", "502", "timeout")[n % 7]
            elif self.mode == "down":
                self._good += 1
                kind = ("500", "502", "503")[attempt % 3] if self._good > 10 else None
            if kind is None:
                return Reply()
            self.failures[call.digest].append((attempt, kind))
            return FAILURES[kind]


# ------------------------------------------------------------------ the server


class Received(NamedTuple):
    at: float  # monotonic time of arrival
    case: str
    digest: str


@dataclass
class _Sent:
    at: float  # monotonic time the answer was committed (just before its first byte left)
    digest: str
    status: int
    lost: bool = False  # its write failed: the client never got it


@dataclass
class _Hold:
    limit: int
    admitted: int = 0
    drop: bool = False
    replies: bool = False  # hold answers not yet committed, too
    release: threading.Event = field(default_factory=threading.Event)


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


def _peer_closed(sock: socket.socket) -> bool:
    """Has the client closed its end (e.g. after its read time-out)? Looks without consuming anything."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class TeacherServer(LoopbackServer):
    def __init__(
        self, script: Script = ok, *, latency_s: float = 0.0, idle_timeout_s: float = 120.0, nodelay: bool = True
    ) -> None:
        self.script = script
        self.latency_s = latency_s
        self.received: list[Received] = []
        self.bodies: dict[str, dict[str, Any]] = {}
        self.authorization: set[str] = set()
        self._sent: list[_Sent] = []
        self._attempts: Counter[str] = Counter()
        self._writing = 0
        self._lock = threading.Condition()
        self._hold: _Hold | None = None
        self._listen(self._handler(nodelay), idle_timeout_s)

    # -- lifecycle (tests.support.loopback)
    def _before_close(self) -> None:
        self.drop_held()

    # -- holding requests and answers back
    def hold_after(self, admitted: int) -> None:
        with self._lock:
            self._hold = _Hold(admitted)

    def freeze(self) -> None:
        """Hold every request that arrives and every answer not yet committed, until ``drop_held()``."""
        with self._lock:
            if self._hold is None or not self._hold.replies:
                self._hold = _Hold(0, replies=True)

    def drop_held(self) -> None:
        with self._lock:
            hold, self._hold = self._hold, None
        if hold:
            hold.drop = True
            hold.release.set()

    def settle(self, timeout_s: float = 60.0) -> None:
        """Wait until every committed answer is written or lost (after ``freeze()``, the send log is then final)."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._writing == 0, timeout_s):
                raise AssertionError(f"{self._writing} answers still being written after {timeout_s} s")

    def _admit(self) -> bool:
        """False when this request was held and then dropped."""
        with self._lock:
            hold = self._hold
            if hold is None or hold.admitted < hold.limit:
                if hold is not None:
                    hold.admitted += 1
                return True
        hold.release.wait()
        return not hold.drop

    def _commit(self, digest: str, status: int, connection: socket.socket) -> _Sent | None:
        """Enter an answer in the send log before it is written; None when it must not be sent (held by
        ``freeze()`` and dropped, or its client already hung up)."""
        with self._lock:
            hold = self._hold
            if hold is None or not hold.replies:
                if _peer_closed(connection):
                    return None
                sent = _Sent(time.monotonic(), digest, status)
                self._sent.append(sent)
                self._writing += 1
                return sent
        hold.release.wait()
        return None

    def _written(self, sent: _Sent, delivered: bool) -> None:
        with self._lock:
            sent.lost = not delivered
            self._writing -= 1
            self._lock.notify_all()

    # -- what the tests look at
    def cases(self) -> Counter[str]:
        with self._lock:
            return Counter(r.case for r in self.received)

    def arrivals(self, case: str) -> list[float]:
        with self._lock:
            return [r.at for r in self.received if r.case == case]

    def arrivals_by_body(self, mark: int = 0) -> dict[str, list[float]]:
        """Arrival times of each request body, for the requests since ``mark`` (an earlier ``len(received)``)."""
        by_body: dict[str, list[float]] = defaultdict(list)
        with self._lock:
            for r in self.received[mark:]:
                by_body[r.digest].append(r.at)
        return dict(by_body)

    def attempts(self) -> Counter[str]:
        """Requests received per body."""
        with self._lock:
            return Counter(self._attempts)

    def answered(self) -> Counter[str]:
        """Answers of any status that reached the client, per request body."""
        with self._lock:
            return Counter(s.digest for s in self._sent if not s.lost)

    def total_answered(self) -> int:
        return sum(self.answered().values())

    def sent_mark(self) -> int:
        """A mark for ``delivered_since``: answers are counted from here."""
        with self._lock:
            return len(self._sent)

    def delivered_since(self, mark: int = 0) -> list[tuple[float, str]]:
        """(time, body digest) of each billed answer (HTTP 200) that reached a client since ``mark``, oldest first."""
        with self._lock:
            return [(s.at, s.digest) for s in self._sent[mark:] if s.status == 200 and not s.lost]

    # -- serving
    def _reply_body(self, reply: Reply, request: dict[str, Any]) -> bytes:
        return reply_body(reply, request)

    def _handler(self, nodelay: bool) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = nodelay

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not server._admit():
                    self.close_connection = True
                    return
                digest = body_digest(raw)
                request = json.loads(raw)
                user = next((m["content"] for m in request.get("messages", []) if m.get("role") == "user"), "")
                match = _CASE.search(user)
                with server._lock:
                    server._last_seen = time.monotonic()
                    server._attempts[digest] += 1
                    attempt = server._attempts[digest]
                    server.received.append(Received(time.monotonic(), match.group(1) if match else "", digest))
                    server.bodies[digest] = request
                    if self.headers.get("Authorization"):
                        server.authorization.add(self.headers["Authorization"])
                reply = server.script(Call(match.group(1) if match else "", attempt, digest, request))
                delay = server.latency_s if reply.delay_s is None else reply.delay_s
                if delay:
                    time.sleep(delay)
                body = server._reply_body(reply, request)
                sent = server._commit(digest, reply.status, self.connection)
                if sent is None:
                    self.close_connection = True
                    return
                delivered = False
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    if reply.drip_s:
                        self.wfile.flush()
                        for i in range(len(body)):
                            time.sleep(reply.drip_s)
                            self.wfile.write(body[i : i + 1])
                            self.wfile.flush()
                    else:
                        self.wfile.write(body)
                    self.wfile.flush()
                    delivered = True
                except OSError:  # the client went away (read time-out, killed process): not answered
                    self.close_connection = True
                finally:
                    server._written(sent, delivered)

        return Handler


@dataclass
class Servers:
    """Started servers, closed together (what the ``server`` fixture hands out)."""

    started: list[TeacherServer] = field(default_factory=list)

    def __call__(self, script: Script = ok, **options: Any) -> TeacherServer:
        server = TeacherServer(script, **options).__enter__()
        self.started.append(server)
        return server

    def close(self) -> None:
        for server in self.started:
            server.close()


@contextlib.contextmanager
def refusing_url() -> Iterator[str]:
    """The URL of a loopback port that refuses connections: bound (so nobody else takes it) but not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


# ------------------------------------------------------------------ the key goes nowhere else


def json_escaped(secret: str = TEST_KEY) -> bytes:
    """``secret`` as a server echoes it inside a JSON string with every character escaped (``\\u0073k-...``)."""
    return "".join(f"\\u{ord(c):04x}" for c in secret).encode()


def files_containing(roots: Iterable[Path], secret: str = TEST_KEY) -> list[Path]:
    """Every file under ``roots`` (data, cache, logs, manifests, locks, scheduler state) holding ``secret``."""
    needle = secret.encode()
    hits = []
    for root in roots:
        for path in Path(root).rglob("*"):
            if path.is_file() and not path.is_symlink():
                with contextlib.suppress(OSError):
                    if needle in path.read_bytes():
                        hits.append(path)
    return hits


def assert_no_secret(roots: Iterable[Path], texts: Iterable[str], secret: str = TEST_KEY) -> None:
    """The key was written to no file under ``roots`` and appears in none of ``texts`` (captured output)."""
    assert files_containing(roots, secret) == [], "the API key was written to a file"
    leaked = [i for i, text in enumerate(texts) if secret in text]
    assert leaked == [], f"the API key is in captured output {leaked}"


# ------------------------------------------------------------------ requests for scripted tests


def scripted_query(
    i: int, case: str = "", *, conditions: tuple[str, ...] = (), constraints: tuple[str, ...] = ()
) -> dict:
    """A query row whose user message carries ``[case:NAME]`` for the server's script."""
    user = f"[case:{case}] Request {i}: please build me a weekly plan."
    return {
        "query_id": f"q-{i:04d}",
        "user_id": f"u-{i:04d}",
        "scenario_id": f"plan_creation-{i:05d}",
        "prompt_type": "plan_creation",
        "messages": [{"role": "system", "content": "You are a coach."}, {"role": "user", "content": user}],
        "context_summary": {"conditions": list(conditions), "medications": []},
        "expected_safety_constraints": list(constraints),
        "template_version": "test",
    }


def scripted_queries(n: int, case: str = "") -> list[dict]:
    return [scripted_query(i, case) for i in range(n)]
