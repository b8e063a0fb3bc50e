"""The Batch API's files, line by line: request lines out, output and error lines in.

One format serves OpenAI's Batch API (and the providers and proxies that copy
it) and vLLM's offline runner (``vllm run-batch``), as both document it:

* input, one request a line: ``{"custom_id", "method": "POST", "url":
  "/v1/chat/completions", "body"}``; the body is exactly the body the online
  client sends (:meth:`TeacherRequest.body`), so an answer has the same cache
  key whichever way it came;
* output and error files, one answer a line, in any order: ``{"id",
  "custom_id", "response": {"status_code", "request_id", "body"} | null,
  "error": null | {"code", "message"} | "text"}``. OpenAI puts answers
  (``status_code`` 200) in the output file and failed requests in the error
  file (an HTTP error's body in ``response.body``; ``error.code``
  ``batch_expired`` or ``batch_cancelled`` with ``response: null`` for the
  requests an expired or cancelled batch never ran); vLLM writes one file in
  input order, a failed request as ``status_code`` 400 without a body and the
  reason as a string in ``error``.

What a line means for the request is decided here once (:func:`read_line`):
an answer (any 200 with a completion body, judged later like an online
answer), a failure that would repeat (a 4xx), or no answer yet (a retryable
status, an expired or cancelled request): those are submitted again, as are
requests a finished batch has no line for at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fitsense_luigi.teacher import http_policy
from fitsense_luigi.teacher.response_body import Body, decode
from fitsense_luigi.teacher.types import TeacherOutcome, TeacherRequest

ENDPOINT = "/v1/chat/completions"
KEY_PREFIX_CHARS = 12  # of the cache key in a custom_id: ties a result line to the exact request it answers
# Line errors without an HTTP answer: the request never ran (OpenAI's codes for an expired or cancelled batch).
NOT_RUN_CODES = frozenset({"batch_expired", "batch_cancelled"})


def request_digest(request: TeacherRequest) -> str:
    """Names a request body (the batch provider's index of failures a batch reported)."""
    canonical = json.dumps(request.body(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def custom_id(query_id: str, attempt: int, key: str) -> str:
    """``<query_id>.<attempt>.<key prefix>``: readable, unique in a batch, and bound to one request body."""
    return f"{query_id}.{attempt}.{key[:KEY_PREFIX_CHARS]}"


def key_prefix(line_id: str) -> str:
    return line_id.rsplit(".", 1)[-1]


def input_line(line_id: str, body: dict[str, Any]) -> bytes:
    line = {"custom_id": line_id, "method": "POST", "url": ENDPOINT, "body": body}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def split(lines: list[bytes], max_lines: int, max_bytes: int) -> list[list[bytes]]:
    """Consecutive groups within the provider's limits per input file; a line larger than ``max_bytes`` alone."""
    groups: list[list[bytes]] = []
    size = 0
    for line in lines:
        if not groups or len(groups[-1]) >= max_lines or size + len(line) > max_bytes:
            groups.append([])
            size = 0
        groups[-1].append(line)
        size += len(line)
    return groups


@dataclass
class LineResult:
    """What one output or error line says about its request.

    ``outcome``: the answer (a final status) or the failure (``http_error``);
    ``again``: no answer came, submit the request again (``outcome`` says why).
    """

    custom_id: str
    outcome: TeacherOutcome
    again: bool


class MalformedLine(ValueError):
    """A line that is not a result line (not JSON, no ``custom_id``)."""


def read_line(text: str) -> LineResult:
    """One output or error line -> what it means for its request.

    The line is read like an online answer (:func:`.response_body.decode`): parsed as strict JSON first,
    then every string in it redacted, so a key a proxy echoed JSON-escaped is caught too; the answer
    body must be a real chat completion to count as one.
    """
    decoded = decode(text.encode("utf-8"))
    if not decoded.is_json:
        raise MalformedLine(f"not JSON: {http_policy.error_detail(decoded.text, 80)}")
    line = decoded.json
    if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str) or not line["custom_id"]:
        raise MalformedLine("not a batch result line (no custom_id)")
    line_id, response, error = line["custom_id"], line.get("response"), line.get("error")
    if isinstance(response, dict) and isinstance(response.get("status_code"), int):
        code, body = response["status_code"], response.get("body")
        if code == 200 and isinstance(body, dict):
            return LineResult(line_id, http_policy.parse_completion(200, Body(None, body, True)), again=False)
        if code == 200:  # an answer line without its answer: nothing was delivered
            return LineResult(line_id, _no_answer("an answer line without a body"), again=True)
        text = json.dumps(body if body is not None else error)
        detail = _error_text(error) if body is None and error is not None else http_policy.error_detail(text)
        outcome = TeacherOutcome(
            "http_error",
            None,
            None,
            http_policy.error_body(Body(text, body, True)),
            f"HTTP {code}: {detail}",
            http_status=code,
        )
        return LineResult(line_id, outcome, again=http_policy.should_retry(code, text))
    # no HTTP answer at all: the request did not run (expired, cancelled) or the runner failed it without a status
    return LineResult(line_id, _no_answer(f"batch line error: {_error_text(error)}"), again=True)


def read_lines(lines: Iterable[str], where: str) -> Iterator[LineResult | MalformedLine]:
    """Every non-blank line of one file; a malformed one is yielded (named by file and line), not raised."""
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            yield read_line(text)
        except MalformedLine as exc:
            yield MalformedLine(f"{where}:{number}: {exc}")


def _no_answer(error: str) -> TeacherOutcome:
    return TeacherOutcome("http_error", None, None, None, error)


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        inner = error.get("error", error)  # vLLM's ErrorResponse wraps it: {"error": {"message", "type", "code"}}
        if isinstance(inner, dict):
            parts = [str(inner[k]) for k in ("code", "type", "message") if inner.get(k)]
            return ": ".join(dict.fromkeys(parts)) or "no detail"
    if error is None:
        return "no detail"
    return http_policy.error_detail(str(error))


def outcome_of(result: LineResult, submissions: int) -> TeacherOutcome:
    """The line's outcome as the stage keeps it: a batch answer has no latency of its own, and as many
    attempts as the request was submitted."""
    outcome = result.outcome
    outcome.attempt_count = submissions
    outcome.latency_ms = 0
    return outcome


Redact = Callable[[str], str]
