"""What an endpoint sent back, read safely: capped, decoded, redacted, and judged as an OpenAI body or not.

Three rules, for every provider that speaks the OpenAI API (the chat-completions
client here; the Batch API reads its output lines the same way):

* **Bounded**: a response larger than the cap is refused while it is read
  (``read_capped``), never held whole; a ``Content-Length`` above it is refused
  before the first byte of the body.
* **Redacted after decoding** (:mod:`.redact`): the JSON is parsed first, then
  every string in it is redacted, so a key the server echoed JSON-escaped
  (``\\u0073k-...``) is caught; a body that is not JSON is redacted as text,
  encoded spellings included.
* **Only an OpenAI chat completion is an answer** (:func:`completion_problem`):
  an object with ``choices[0].message`` (content a string or null), a string
  or null ``finish_reason`` and, if present, an object ``usage`` with numeric
  counts. Anything else with HTTP 200 (a proxy's HTML login page, ``{}``, a
  truncated body) is not something the model said: it is never cached and
  counts as a failed request, so a healed server is asked again.
"""

from __future__ import annotations

import json
import math
from functools import cached_property
from typing import Any

from fitsense_luigi.contracts.rows import USAGE_KEYS
from fitsense_luigi.teacher.redact import redact_text, redact_tree

READ_CHUNK = 64 * 1024


class TooLarge(Exception):
    """The response exceeds the size cap."""

    def __init__(self, limit: int, seen: int | None) -> None:
        self.limit, self.seen = limit, seen
        super().__init__(f"response larger than {limit} bytes")


class Body:
    """A response body after decoding and redaction: its JSON value when it is JSON, and its text."""

    def __init__(self, text: str | None, value: Any = None, is_json: bool = False) -> None:
        self._text, self.json, self.is_json = text, value, is_json

    @cached_property
    def text(self) -> str:
        """The body as text (for a JSON body: the redacted value written out again, made only when asked for)."""
        return self._text if self._text is not None else json.dumps(self.json, ensure_ascii=False)


def read_capped(response: Any, limit: int) -> bytes:
    """The whole body of a urllib3 response opened with ``preload_content=False``, or ``TooLarge``."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise TooLarge(limit, int(declared))
    chunks, size = [], 0
    while True:
        chunk = response.read(READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise TooLarge(limit, None)
        chunks.append(chunk)


def decode(data: bytes) -> Body:
    """Parse (strict JSON: no NaN or Infinity), then redact every string; text bodies are redacted as text."""
    text = data.decode("utf-8", errors="replace")
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except ValueError:
        return Body(redact_text(text))
    return Body(None, redact_tree(value), True)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def completion_problem(body: Any) -> str | None:
    """Why ``body`` is not an OpenAI chat-completion object (None when it is one)."""
    if not isinstance(body, dict):
        return f"a JSON {type(body).__name__}, not an object" if body is not None else "not JSON"
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        return "no choices"
    choice = choices[0]
    if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
        return "no choices[0].message"
    message = choice["message"]
    if not isinstance(message.get("content"), str | list | type(None)):
        return f"choices[0].message.content is a {type(message['content']).__name__}"
    if not isinstance(message.get("refusal"), str | type(None)):
        return "choices[0].message.refusal is not text"
    if not isinstance(choice.get("finish_reason"), str | type(None)):
        return "choices[0].finish_reason is not text"
    usage = body.get("usage")
    if usage is not None:
        if not isinstance(usage, dict):
            return "usage is not an object"
        for key in USAGE_KEYS:
            value = usage.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                return f"usage.{key} is not a number"
    return None


def opening(text: str, limit: int = 80) -> str:
    """How a body starts, on one line (for messages about bodies that are not answers)."""
    flat = " ".join(text.split())
    return flat[:limit] + ("..." if len(flat) > limit else "")
