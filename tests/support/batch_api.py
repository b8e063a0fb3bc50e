"""The loopback Batch API of the tests (and vLLM's offline runner): files, batches, their course, result files.

A real HTTP server on 127.0.0.1 speaking the wire format OpenAI documents for its Batch API (and LiteLLM's
proxy passes through):

* ``POST /v1/files`` (multipart form: ``purpose=batch``, ``file``) -> a file object;
  ``GET /v1/files/{id}/content`` -> the file's bytes;
* ``POST /v1/batches`` (``input_file_id``, ``endpoint``, ``completion_window``, ``metadata``) -> a batch
  object in ``validating``; ``GET /v1/batches/{id}``; ``GET /v1/batches?limit=&after=`` (newest first,
  ``has_more``); ``POST /v1/batches/{id}/cancel``;
* result lines ``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}``, answers in
  the output file and failures in the error file, each shuffled (OpenAI: "may not match the input order").

Every request line is answered by ``script(call)`` with the online fake teacher's :class:`Call` and
:class:`Reply` (by default the mock coach's plan for the request, so post-checks pass): a 200 reply is an
answer line, another status an error-file line with OpenAI's error body, and :data:`LOSE` leaves the request
out of both files (a batch "completed" with lines missing). ``course(batch)`` picks how a batch ends:
``complete`` (default), ``expire`` or ``cancel`` once ``done_share`` of its lines ran (the rest come back as
``batch_expired`` / ``batch_cancelled`` error lines, as OpenAI's guide shows), or ``fail`` (validation).
Input files over ``max_lines`` or ``max_bytes``, or with duplicate ``custom_id`` s, fail validation as well.

Each poll of a batch moves it one step: ``validating`` -> ``in_progress`` (for ``steps`` polls, its
``request_counts`` growing) -> ``finalizing`` -> its end. ``hold()`` keeps every batch where it is until
``release()`` (kill -9 while a batch runs), and ``pause_when(batch)`` holds them once a step leaves a batch
where it is true (a batch caught half done); ``hold_creates()`` creates batches but keeps their answers back
(a create whose answer a killed client never read). What the server keeps for the tests: ``created``
(batches in order, each with its lines' request digests), :meth:`billed` (answers produced, per request body),
:meth:`submitted` (lines per request body over all batches), ``polls``, ``uploads``, ``authorization``.

:func:`run_batch` is ``vllm run-batch -i IN -o OUT`` as vLLM's ``entrypoints/openai/run_batch.py`` writes its
output (one file, input order, ``vllm-`` ids; a failed request as ``status_code`` 400 with no body and the
reason in ``error``), for the round trip of offline batch files.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.loopback import LoopbackServer
from tests.support.params import deep_merge
from tests.support.teacher import FAST_TEACHER, Call, Reply, case_of, completion, ok

# Batch mode with fast polls (the loopback server moves a batch one step per poll) and a generous wait.
FAST_BATCH: dict[str, Any] = {
    **FAST_TEACHER,
    "provider": "openai_batch",
    "batch": {"poll_initial_s": 0.01, "poll_max_s": 0.05, "wait_s": 120, "max_submissions": 3},
}
LOSE = object()  # the request gets no result line at all
Fate = Any  # a Reply, or LOSE
LineScript = Callable[[Call], Fate]
COURSES = ("complete", "expire", "cancel", "fail")
ENDPOINT = "/v1/chat/completions"


def batch_params(url: str | None, **overrides: Any) -> dict[str, Any]:
    """Params overrides (``{"teacher": ...}``) for the openai_batch provider at ``url`` (None: offline files)."""
    return {"teacher": deep_merge(FAST_BATCH, {"base_url": url, **overrides})}


def digest(body: dict[str, Any]) -> str:
    """Names a request body (what the client's cache key is computed from)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


@dataclass
class BatchLine:
    custom_id: str
    body: dict[str, Any]
    digest: str
    attempt: int  # lines with this body in all batches so far, this one included


@dataclass
class Batch:
    id: str
    input_file_id: str
    metadata: dict[str, str]
    created_at: int
    lines: list[BatchLine]
    course: str = "complete"
    status: str = "validating"
    steps: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0
    cancel_requested: bool = False

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": ENDPOINT,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "request_counts": {"total": len(self.lines), "completed": self.completed, "failed": self.failed},
            "metadata": self.metadata,
        }


class BatchServer(LoopbackServer):
    def __init__(
        self,
        script: LineScript = ok,
        *,
        course: Callable[[Batch], str] = lambda batch: "complete",
        done_share: float = 0.5,
        steps: int = 1,
        max_lines: int = 50_000,
        max_bytes: int = 200_000_000,
        key: str | None = None,
        idle_timeout_s: float = 120.0,
        pause_when: Callable[[Batch], bool] | None = None,
    ) -> None:
        self.script, self.course, self.done_share, self.steps = script, course, done_share, steps
        self.pause_when = pause_when  # once a step leaves a batch where this holds, the server holds (see hold())
        self.key = key  # when set, any other Authorization is refused with 401, as OpenAI does
        self.max_lines, self.max_bytes = max_lines, max_bytes
        self.files: dict[str, dict[str, Any]] = {}
        self.created: list[Batch] = []
        self.uploads = 0
        self.polls: Counter[str] = Counter()
        self.authorization: set[str] = set()
        self._seen: Counter[str] = Counter()  # request digest -> lines with it so far
        self._billed: Counter[str] = Counter()
        self._lock = threading.RLock()
        self._held = threading.Event()
        self._creates_held = threading.Event()
        self._create_gate = threading.Event()
        self._listen(self._handler(), idle_timeout_s)

    # -- lifecycle (tests.support.loopback)
    def _before_close(self) -> None:
        self._create_gate.set()

    # -- steering
    def hold(self) -> None:
        """Batches stay where they are, whoever polls, until ``release()``."""
        self._held.set()

    def release(self) -> None:
        self._held.clear()

    def hold_creates(self) -> None:
        """Batches are created, but the answer to their create is held back until ``release_creates()``."""
        self._create_gate.clear()
        self._creates_held.set()

    def release_creates(self) -> None:
        self._creates_held.clear()
        self._create_gate.set()

    def cancel(self, batch_id: str) -> None:
        """Someone cancels a batch (the dashboard, another tool)."""
        with self._lock:
            self._batch(batch_id).cancel_requested = True

    # -- what the tests look at
    def billed(self) -> Counter[str]:
        """Answers (HTTP 200 lines) produced per request digest: what the provider charges for."""
        with self._lock:
            return Counter(self._billed)

    def submitted(self) -> Counter[str]:
        """Lines per request digest over every batch created."""
        with self._lock:
            return Counter(line.digest for batch in self.created for line in batch.lines)

    def batch(self, batch_id: str) -> Batch:
        with self._lock:
            return self._batch(batch_id)

    # -- the API
    def _batch(self, batch_id: str) -> Batch:
        return next(b for b in self.created if b.id == batch_id)

    def _upload(self, purpose: str, filename: str, data: bytes) -> dict[str, Any]:
        with self._lock:
            self.uploads += purpose == "batch"
            file_id = f"file-{len(self.files) + 1:04d}"
            self.files[file_id] = {"purpose": purpose, "filename": filename, "data": data}
        return {"id": file_id, "object": "file", "bytes": len(data), "filename": filename, "purpose": purpose}

    def _create(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        file_id = request.get("input_file_id")
        with self._lock:
            stored = self.files.get(file_id or "")
            if stored is None or stored["purpose"] != "batch":
                return 400, {"error": {"message": f"no batch input file {file_id}", "code": "invalid_file"}}
            if request.get("endpoint") != ENDPOINT:
                return 400, {"error": {"message": "unsupported endpoint", "param": "endpoint"}}
            lines, errors = self._parse_input(stored["data"])
            batch = Batch(
                f"batch_{len(self.created) + 1:04d}",
                file_id,
                dict(request.get("metadata") or {}),
                int(time.time()),
                lines,
                errors=errors,
            )
            batch.course = "fail" if errors else self.course(batch)
            self.created.append(batch)
            return 200, batch.public()

    def _parse_input(self, data: bytes) -> tuple[list[BatchLine], list[dict[str, Any]]]:
        raw = [line for line in data.split(b"\n") if line.strip()]
        errors: list[dict[str, Any]] = []
        if len(raw) > self.max_lines:
            errors.append({"code": "too_many_requests", "message": f"{len(raw)} requests > {self.max_lines}"})
        if len(data) > self.max_bytes:
            errors.append({"code": "file_too_large", "message": f"{len(data)} bytes > {self.max_bytes}"})
        lines, ids = [], set()
        for number, text in enumerate(raw, 1):
            try:
                line = json.loads(text)
                body, line_id = line["body"], line["custom_id"]
                assert line["method"] == "POST" and line["url"] == ENDPOINT and isinstance(body, dict)
            except (ValueError, KeyError, AssertionError):
                errors.append({"code": "invalid_request", "message": "not a batch request line", "line": number})
                continue
            if line_id in ids:
                errors.append({"code": "duplicate_custom_id", "message": f"{line_id} repeats", "line": number})
            ids.add(line_id)
            lines.append(BatchLine(line_id, body, digest(body), 0))
        if not errors:
            for line in lines:
                self._seen[line.digest] += 1
                line.attempt = self._seen[line.digest]
        return lines, errors

    def _poll(self, batch_id: str) -> dict[str, Any]:
        with self._lock:
            batch = self._batch(batch_id)
            self.polls[batch_id] += 1
            if not self._held.is_set():
                self._advance(batch)
                if self.pause_when is not None and self.pause_when(batch):
                    self.pause_when = None
                    self._held.set()
            return batch.public()

    def _advance(self, batch: Batch) -> None:
        """One step of the batch's course."""
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return
        if batch.course == "fail":
            batch.status = "failed"
            return
        if batch.cancel_requested and batch.status != "cancelling":
            batch.status = "cancelling"
            return
        if batch.status == "validating":
            batch.status = "in_progress"
        elif batch.status == "in_progress" and batch.steps < self.steps:
            batch.steps += 1
            share = self.done_share if batch.course in ("expire", "cancel") else 1.0
            batch.completed = int(len(batch.lines) * share * batch.steps / self.steps)
        elif batch.status == "in_progress" and batch.course == "complete":
            batch.status = "finalizing"
        else:  # finalizing, cancelling, or an expiring batch at the end of its window
            ending = {"complete": "completed", "expire": "expired", "cancel": "cancelled"}[batch.course]
            self._finish(batch, "cancelled" if batch.cancel_requested else ending)

    def _finish(self, batch: Batch, status: str) -> None:
        ran = len(batch.lines) if status == "completed" else int(len(batch.lines) * self.done_share)
        answers, failures = [], []
        for index, line in enumerate(batch.lines):
            if index >= ran:
                code = "batch_expired" if status == "expired" else "batch_cancelled"
                message = "This request could not be executed before the completion window expired."
                error = {"code": code, "message": message if status == "expired" else "The batch was cancelled."}
                failures.append({"id": _id("batch_req"), "custom_id": line.custom_id, "response": None, "error": error})
                continue
            fate = self.script(Call(case_of(line.body), line.attempt, line.digest, line.body))
            if fate is LOSE:
                continue
            reply: Reply = fate
            if reply.status == 200:
                body = json.loads(reply.raw) if reply.raw is not None else completion(reply, line.body)
                self._billed[line.digest] += 1
                answers.append(_result(line.custom_id, 200, body))
            else:
                body = json.loads(reply.raw) if reply.raw is not None else {"error": {"message": "error"}}
                failures.append(_result(line.custom_id, reply.status, body))
        shuffle = random.Random(batch.id)
        shuffle.shuffle(answers)
        shuffle.shuffle(failures)
        batch.output_file_id = self._store_result(batch, "output", answers)
        batch.error_file_id = self._store_result(batch, "error", failures)
        batch.completed, batch.failed = len(answers), len(failures)
        batch.status = status

    def _store_result(self, batch: Batch, kind: str, lines: list[dict[str, Any]]) -> str | None:
        if not lines:
            return None
        data = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        return self._upload("batch_output", f"{batch.id}_{kind}.jsonl", data)["id"]

    def _list(self, query: dict[str, list[str]]) -> dict[str, Any]:
        limit = int(query.get("limit", ["20"])[0])
        after = query.get("after", [None])[0]
        with self._lock:
            newest = list(reversed(self.created))
            start = next((i + 1 for i, b in enumerate(newest) if b.id == after), 0) if after else 0
            page = newest[start : start + limit]
            return {
                "object": "list",
                "data": [b.public() for b in page],
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
                "has_more": start + limit < len(newest),
            }

    # -- HTTP
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                return None

            def _reply(self, status: int, body: Any, raw: bytes | None = None) -> None:
                data = raw if raw is not None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if raw is None else "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _seen(self) -> bool:
                """Note the call; False (after answering 401) when the server wants another key."""
                with server._lock:
                    server._last_seen = time.monotonic()
                    if self.headers.get("Authorization"):
                        server.authorization.add(self.headers["Authorization"])
                if server.key is None or self.headers.get("Authorization") == f"Bearer {server.key}":
                    return True
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                message = "Incorrect API key provided: sk-wron*****0000."
                self._reply(401, {"error": {"message": message, "code": "invalid_api_key"}})
                return False

            def do_GET(self) -> None:
                if not self._seen():
                    return None
                parts = urlsplit(self.path)
                path = parts.path.removeprefix("/v1")
                if path == "/batches":
                    return self._reply(200, server._list(parse_qs(parts.query)))
                if path.startswith("/batches/"):
                    batch_id = path.split("/")[2]
                    if not any(b.id == batch_id for b in server.created):
                        return self._reply(404, {"error": {"message": f"No batch found with id '{batch_id}'."}})
                    return self._reply(200, server._poll(batch_id))
                if path.startswith("/files/") and path.endswith("/content"):
                    stored = server.files.get(path.split("/")[2])
                    if stored is None:
                        return self._reply(404, {"error": {"message": "No such File object"}})
                    return self._reply(200, None, raw=stored["data"])
                return self._reply(404, {"error": {"message": f"unknown path {self.path}"}})

            def do_POST(self) -> None:
                if not self._seen():
                    return None
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = urlsplit(self.path).path.removeprefix("/v1")
                if path == "/files":
                    form = _multipart(self.headers.get("Content-Type", ""), raw)
                    if form.get("purpose", (None, b""))[1] != b"batch" or "file" not in form:
                        return self._reply(400, {"error": {"message": "purpose must be batch, with a file"}})
                    filename, data = form["file"]
                    return self._reply(200, server._upload("batch", filename or "input.jsonl", data))
                if path == "/batches":
                    status, body = server._create(json.loads(raw))
                    if status == 200 and server._creates_held.is_set():
                        server._create_gate.wait(server.idle_timeout_s)
                    return self._reply(status, body)
                if path.startswith("/batches/") and path.endswith("/cancel"):
                    server.cancel(path.split("/")[2])
                    return self._reply(200, server._poll(path.split("/")[2]))
                return self._reply(404, {"error": {"message": f"unknown path {self.path}"}})

        return Handler


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, bytes) of a multipart/form-data body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    return {
        part.get_param("name", header="content-disposition"): (part.get_filename(), part.get_payload(decode=True))
        for part in message.iter_parts()
    }


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def _result(line_id: str, status: int, body: Any) -> dict[str, Any]:
    return {
        "id": _id("batch_req"),
        "custom_id": line_id,
        "response": {"status_code": status, "request_id": _id("req"), "body": body},
        "error": None,
    }


# ------------------------------------------------------------------ vLLM's offline runner


def run_batch(input_path: Path, output_path: Path, script: LineScript = ok) -> int:
    """``vllm run-batch -i input_path -o output_path``: every request answered in input order; the lines written."""
    out = []
    seen: Counter[str] = Counter()
    for text in input_path.read_text(encoding="utf-8").splitlines():
        if not text.strip():
            continue
        request = json.loads(text)
        body = request["body"]
        seen[digest(body)] += 1
        fate = script(Call(case_of(body), seen[digest(body)], digest(body), body))
        if fate is LOSE:
            continue
        reply: Reply = fate
        line: dict[str, Any] = {"id": f"vllm-{uuid.uuid4().hex}", "custom_id": request["custom_id"]}
        if reply.status == 200:
            line["response"] = {
                "status_code": 200,
                "request_id": f"vllm-batch-{uuid.uuid4().hex}",
                "body": completion(reply, body),
            }
            line["error"] = None
        else:
            line["response"] = {"status_code": 400, "request_id": f"vllm-batch-{uuid.uuid4().hex}", "body": None}
            line["error"] = "The model does not support Chat Completions API"
        out.append(json.dumps(line))
    output_path.write_text("".join(f"{line}\n" for line in out), encoding="utf-8")
    return len(out)


@dataclass
class BatchServers:
    """Started Batch API servers, closed together (what the ``batch_server`` fixture hands out)."""

    started: list[BatchServer] = field(default_factory=list)

    def __call__(self, script: LineScript = ok, **options: Any) -> BatchServer:
        server = BatchServer(script, **options).__enter__()
        self.started.append(server)
        return server

    def close(self) -> None:
        for server in self.started:
            server.close()
