"""The canonical JSON text of a request body: what the cache key hashes and what goes on the wire.

Canonical: sorted keys, separators ``,`` and ``:``, UTF-8 as is (``ensure_ascii=False``). A stage sends
thousands of bodies that differ only in their messages and share one ``response_format`` object (the plan
schema: half the text), so the body's text is assembled from its top-level parts and a shared part's text is
made once (:func:`share_part`). So is the text of a system message: every query of a template version
carries the same 5.5 kB system prompt (two thirds of the messages), parsed anew from its own line, so it is
recognised by its content. The result is the text ``json.dumps`` makes of the whole body, byte for byte
(``tests/teacher/test_teacher_cache_key.py``); each request makes it once, for its key and its wire bytes.
"""

from __future__ import annotations

import json
from typing import Any

_shared_parts: dict[int, tuple[Any, str]] = {}  # id -> (a shared body part, its canonical text); kept alive here
_system_messages: dict[str, str] = {}  # a system prompt -> the canonical text of its message
SYSTEM_MESSAGES_KEPT = 16  # prompts remembered (a stage has one per template version); beyond, made each time


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def share_part(value: Any) -> Any:
    """Register a body part that many requests carry as the same object and nobody changes (a response format):
    its canonical text is made once. Returns ``value``."""
    _shared_parts[id(value)] = (value, canonical(value))
    return value


def canonical_body(body: dict[str, Any]) -> str:
    """``canonical(body)``, with the text of shared parts made once."""
    return "{" + ",".join(f"{canonical(name)}:{_part(body[name])}" for name in sorted(body)) + "}"


def _part(value: Any) -> str:
    known = _shared_parts.get(id(value))
    if known is not None and known[0] is value:
        return known[1]
    if isinstance(value, list) and value and all(_is_message(m) for m in value):
        return "[" + ",".join(_message(m) for m in value) + "]"
    return canonical(value)


def _is_message(value: Any) -> bool:
    return type(value) is dict and value.keys() == {"role", "content"} and type(value["content"]) is str


def _message(message: dict[str, Any]) -> str:
    if message["role"] != "system":
        return canonical(message)
    text = _system_messages.get(message["content"])
    if text is None:
        text = canonical(message)
        if len(_system_messages) < SYSTEM_MESSAGES_KEPT:
            _system_messages[message["content"]] = text
    return text
