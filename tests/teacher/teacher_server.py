"""A real OpenAI-compatible HTTP server on 127.0.0.1, scripted per request, and the teacher tests' fixtures.

(A conftest.py here would shadow tests/conftest.py for every later ``from
conftest import ...`` in the suite, so fixtures live in this module and test
modules import them; the shared harness is loaded by path as ``harness``.)

Each request is answered by ``script(case, attempt)``, where ``case`` is the
``[case:NAME]`` marker found in the user message (or "") and ``attempt`` counts
the requests with the same body so far (1 for the first). The default answer
is a valid plan from the mock coach, so post-checks pass. The server records
what it received and what it answered, and shuts itself down after
``idle_timeout_s`` without requests, so a forgotten server never outlives the test run.

``hold_after(n)`` lets the first ``n`` requests through and holds every later
one before the server looks at it (as a server under load queues requests);
``drop_held()`` then closes those connections unprocessed. A killed client's
held requests were therefore never seen or billed, as with a real endpoint.
``freeze()`` also holds every answer not yet sent, so that a test can kill the
client at a moment when each answer it was sent has been fully delivered.
``deliveries`` records when each complete 200 answer was written (what a real
endpoint bills for).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fitsense_luigi.config import Config, load_config
from fitsense_luigi.teacher.mock import MockCoach
from fitsense_luigi.teacher.types import TeacherRequest


def _load_harness() -> ModuleType:
    """tests/conftest.py under a name of its own (``import conftest`` depends on collection order)."""
    name = "fitsense_tests_harness"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


harness = _load_harness()

TEST_KEY = "sk-test-8d1f0c55a9e24b7e9f3c61d2a0b4e7c9"
KEY_ENV = "FITSENSE_TEST_TEACHER_KEY"

# Fast retries so that scripted failures cost milliseconds, not seconds.
FAST_TEACHER = {
    "provider": "openai_compatible",
    "model": "test-teacher",
    "api_key_env": KEY_ENV,
    "concurrency": 4,
    "timeouts": {"connect_s": 2.0, "read_s": 1.0},
    "retries": {"max_attempts": 3, "initial_wait_s": 0.01, "max_wait_s": 0.05, "retry_after_cap_s": 5.0},
}


_CASE = re.compile(r"\[case:([a-z0-9_]+)\]")
DEFAULT = object()


@dataclass
class Reply:
    status: int = 200
    content: Any = DEFAULT  # DEFAULT: the mock coach's plan; None: JSON null
    finish_reason: str = "stop"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    raw: bytes | None = None  # sent as the body verbatim (malformed bodies, error bodies)


Script = Callable[[str, int], Reply]


@dataclass
class _Hold:
    limit: int
    admitted: int = 0
    drop: bool = False
    replies: bool = False  # hold answers not yet sent, too
    release: threading.Event = field(default_factory=threading.Event)


def ok(case: str, attempt: int) -> Reply:
    return Reply()


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


class TeacherServer:
    def __init__(self, script: Script = ok, idle_timeout_s: float = 120.0) -> None:
        self.script = script
        self.idle_timeout_s = idle_timeout_s
        self.received: list[tuple[float, str, str]] = []  # (monotonic time, case, body digest)
        self.answered: Counter[str] = Counter()  # body digest -> complete answers sent
        self.deliveries: list[tuple[float, str]] = []  # (monotonic time the answer was written, body digest)
        self.authorization: set[str] = set()
        self.bodies: dict[str, dict[str, Any]] = {}
        self._attempts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._last_seen = time.monotonic()
        self._coach = MockCoach("scripted-teacher")
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self._closed = threading.Event()
        self._hold: _Hold | None = None

    # -- lifecycle
    def __enter__(self) -> TeacherServer:
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        threading.Thread(target=self._watchdog, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self.drop_held()
            self.httpd.shutdown()
            self.httpd.server_close()

    def _watchdog(self) -> None:
        while not self._closed.wait(0.5):
            if time.monotonic() - self._last_seen > self.idle_timeout_s:
                self.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    # -- holding requests back
    def hold_after(self, admitted: int) -> None:
        with self._lock:
            self._hold = _Hold(admitted)

    def freeze(self) -> None:
        """Hold every request that arrives and every answer not yet sent, until ``drop_held()``."""
        with self._lock:
            self._hold = _Hold(0, replies=True)

    def drop_held(self) -> None:
        with self._lock:
            hold, self._hold = self._hold, None
        if hold:
            hold.drop = True
            hold.release.set()

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

    def _may_reply(self) -> bool:
        """False when this answer was held by ``freeze()`` and then dropped."""
        with self._lock:
            hold = self._hold
            if hold is None or not hold.replies:
                return True
        hold.release.wait()
        return not hold.drop

    # -- what the tests look at
    def cases(self) -> Counter[str]:
        with self._lock:
            return Counter(case for _, case, _ in self.received)

    def arrivals(self, case: str) -> list[float]:
        with self._lock:
            return [t for t, c, _ in self.received if c == case]

    def total_answered(self) -> int:
        with self._lock:
            return sum(self.answered.values())

    def delivered_since(self, mark: int = 0) -> list[tuple[float, str]]:
        """Answers written since ``mark`` (an earlier ``len(server.deliveries)``), oldest first."""
        with self._lock:
            return list(self.deliveries[mark:])

    # -- serving
    def reply_for(self, case: str, attempt: int, digest: str) -> Reply:
        """The answer to one request; subclasses may script by request body (``digest``) too."""
        return self.script(case, attempt)

    def _reply_body(self, reply: Reply, request: dict[str, Any]) -> bytes:
        if reply.raw is not None:
            return reply.raw
        content = reply.content
        if content is DEFAULT:
            messages = request.get("messages", [])
            content = self._coach.complete(TeacherRequest(messages, "m", 0.0, 1.0, 100, 0)).content
        completion = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": request.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": {"prompt_tokens": 120, "completion_tokens": 340, "total_tokens": 460, "extra_field": {"x": 1}},
        }
        return json.dumps(completion).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm holds the body until
            # the client's delayed ACK (40 ms), so an answer "written" would reach the client 40 ms later
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not server._admit():
                    self.close_connection = True
                    return
                digest = body_digest(raw)
                request = json.loads(raw)
                user = next((m["content"] for m in request.get("messages", []) if m["role"] == "user"), "")
                match = _CASE.search(user)
                case = match.group(1) if match else ""
                with server._lock:
                    server._last_seen = time.monotonic()
                    server._attempts[digest] += 1
                    attempt = server._attempts[digest]
                    server.received.append((time.monotonic(), case, digest))
                    server.bodies[digest] = request
                    if self.headers.get("Authorization"):
                        server.authorization.add(self.headers["Authorization"])
                reply = server.reply_for(case, attempt, digest)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                body = server._reply_body(reply, request)
                if not server._may_reply():
                    self.close_connection = True
                    return
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up (read time-out, killed process): not answered
                with server._lock:
                    server.answered[digest] += 1
                    if reply.status == 200:  # billed; an error answer is not
                        server.deliveries.append((time.monotonic(), digest))

        return Handler


# ------------------------------------------------------------------ queries for these tests


def make_query(i: int, case: str = "", *, conditions: tuple[str, ...] = (), constraints: tuple[str, ...] = ()) -> dict:
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


def make_queries(n: int, case: str = "") -> list[dict]:
    return [make_query(i, case) for i in range(n)]


# ------------------------------------------------------------------ fixtures


@pytest.fixture(name="server")
def server_fixture() -> Iterator[Callable[..., TeacherServer]]:
    """server(script) -> a started TeacherServer, closed after the test."""
    started: list[TeacherServer] = []

    def start(script: Script = ok) -> TeacherServer:
        srv = TeacherServer(script).__enter__()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.close()


@pytest.fixture(name="teacher_config")
def teacher_config_fixture(write_params: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Config]:
    """teacher_config(url, **teacher_overrides) -> Config for the openai_compatible provider at url."""
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    calls = 0

    def make(url: str, **overrides: Any) -> Config:
        nonlocal calls
        calls += 1
        teacher = dict(FAST_TEACHER, base_url=url, **overrides)
        return load_config(write_params({"teacher": teacher}, name=f"params-{calls}.yaml"))

    return make
