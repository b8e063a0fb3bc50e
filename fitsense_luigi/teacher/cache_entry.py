"""One teacher cache entry: how it is written, and what makes a stored entry trustworthy when it is read.

A cache entry is served instead of paying for a request, so an entry that is
wrong costs more than a miss: it poisons every run that needs it. An entry is
served only when :func:`entry_problem` finds nothing:

* **the right shapes**: an ``outcome`` with a final status, text or null where
  text belongs, a ``usage`` of whole counts (``usage: "lots"`` used to stop
  every run with an AttributeError that named no file);
* **an answer the model gave**: its ``raw_response`` is an OpenAI chat
  completion (:func:`.response_body.completion_problem`), so a proxy's HTML page
  cached by an older version is not served again;
* **the answer to this request** (a valid entry with a *different* answer, which
  used to be served silently, is defined three ways, each checked):
  1. the entry names its own key (``key``): a file copied or renamed to another
     request's name is caught;
  2. a sha256 over key, ``about`` and outcome (``sha256``): any edit or bit rot
     after it was written is caught;
  3. the outcome is what its own stored body says (status, finish reason,
     content and usage parsed again from ``raw_response``): an answer edited
     without its body is caught even in entries of the older format (1), which
     carry no checksum.
  An entry forged consistently on all three counts (body, outcome and a
  recomputed checksum) is not detectable without a secret, and the cache holds
  none: whoever can write the cache can write any answer.

A damaged entry is named in one warning line, moved into ``quarantine/`` under
the cache (where a person can look at it) and its request is asked again.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fitsense_luigi.contracts.encoding import dumps_row
from fitsense_luigi.contracts.rows import USAGE_KEYS
from fitsense_luigi.teacher import http_policy
from fitsense_luigi.teacher.response_body import Body, completion_problem
from fitsense_luigi.teacher.types import FINAL_STATUSES, TeacherOutcome

ENTRY_FORMAT = 2  # 2: with its key and a checksum; 1: neither (still read, checked on the rest)
_TEXT = (str, type(None))
_FIELDS: dict[str, tuple[type, ...]] = {
    "status": (str,),
    "finish_reason": _TEXT,
    "content": _TEXT,
    "raw_response": (dict, type(None)),
    "error": _TEXT,
    "usage": (dict,),
    "attempt_count": (int,),
    "latency_ms": (int,),
    "http_status": (int, type(None)),
}
_REQUIRED = ("status", "finish_reason", "content", "raw_response", "error")


def _canonical(key: str, about: Any, outcome: Any, strict: bool = False) -> str:
    """The text the checksum is taken of: key, about and outcome, keys sorted (``strict``: NaN and infinity
    refused, as in every file written)."""
    entry = {"key": key, "about": about, "outcome": outcome}
    try:
        return json.dumps(entry, sort_keys=True, ensure_ascii=False, allow_nan=not strict)
    except ValueError:
        dumps_row(entry)  # raises naming the key that holds one
        raise


def digest(key: str, about: Any, outcome: Any) -> str:
    return hashlib.sha256(_canonical(key, about, outcome).encode("utf-8")).hexdigest()


def encode(key: str, outcome: TeacherOutcome, about: dict[str, Any]) -> bytes:
    """The entry's bytes: its canonical text with the format and the checksum put in front (one encoding of
    the answer, not two: the stage writes an entry for every answer on its event loop)."""
    data = _canonical(key, about, outcome.to_dict(), strict=True).encode("utf-8")
    head = f'{{"format": {ENTRY_FORMAT}, "sha256": "{hashlib.sha256(data).hexdigest()}", '
    return head.encode("utf-8") + data[1:]


def decode(data: bytes, key: str) -> tuple[TeacherOutcome, dict[str, Any]]:
    """The outcome and its ``about`` of a stored entry; ``ValueError`` naming the problem when it is not trustworthy."""
    try:
        entry = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON ({exc})") from None
    problem = entry_problem(entry, key)
    if problem:
        raise ValueError(problem)
    return TeacherOutcome.from_dict(entry["outcome"]), entry.get("about") or {}


def entry_problem(entry: Any, key: str) -> str | None:
    """What makes ``entry`` unfit to be served for ``key`` (None: fit)."""
    if not isinstance(entry, dict):
        return f"a JSON {type(entry).__name__}, not an entry object"
    version = entry.get("format")
    if version not in (1, ENTRY_FORMAT):
        return f"unknown entry format {version!r}"
    outcome, about = entry.get("outcome"), entry.get("about", {})
    if not isinstance(outcome, dict):
        return "no outcome object"
    if not isinstance(about, dict):
        return "about is not an object"
    problem = outcome_problem(outcome)
    if problem:
        return problem
    if version == ENTRY_FORMAT:
        if entry.get("key") != key:
            return f"written for another request (key {str(entry.get('key'))[:16]}...)"
        if entry.get("sha256") != digest(key, about, outcome):
            return "checksum does not match its content (changed after it was written)"
    return answer_problem(outcome)


def outcome_problem(outcome: dict[str, Any]) -> str | None:
    for name in _REQUIRED:
        if name not in outcome:
            return f"outcome.{name} is missing"
    for name, kinds in _FIELDS.items():
        if name in outcome and (isinstance(outcome[name], bool) or not isinstance(outcome[name], kinds)):
            return f"outcome.{name} is {_shown(outcome[name])}, not {' or '.join(_kind(k) for k in kinds)}"
    if outcome["status"] not in FINAL_STATUSES:
        return f"outcome.status {outcome['status']!r} is not an answer the cache keeps"
    for name in USAGE_KEYS:
        value = outcome.get("usage", {}).get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"outcome.usage.{name} is {_shown(value)}, not a count"
    return None


def answer_problem(outcome: dict[str, Any]) -> str | None:
    """The stored answer must be a chat completion, and the outcome what that body says."""
    raw = outcome["raw_response"]
    problem = completion_problem(raw)
    if problem:
        return f"its stored body is not a chat completion ({problem})"
    again = http_policy.parse_completion(200, Body(None, raw, True))
    for name in ("status", "finish_reason", "content"):
        if outcome[name] != getattr(again, name):
            return f"outcome.{name} differs from what its stored body says"
    usage = outcome.get("usage", {})
    if {k: usage.get(k, 0) for k in USAGE_KEYS} != {k: again.usage[k] for k in USAGE_KEYS}:
        return "outcome.usage differs from what its stored body says"
    return None


def _kind(kind: type) -> str:
    return {type(None): "null", str: "text", dict: "an object", int: "an integer"}.get(kind, kind.__name__)


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."
