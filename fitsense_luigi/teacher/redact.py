"""Keeping the teacher's API key out of everything the pipeline keeps or shows.

A server (or a proxy in front of it) may echo the Authorization header back:
in an error message, in a debug field of a completion, in an HTML page. It may
echo it *encoded*: JSON-escaped (``\\u0073k-...``), percent-encoded, as HTML
entities. Redacting the raw bytes misses those spellings, and decoding then
brings the key back in plain text. So redaction runs **after decoding**, on
every string of the decoded body (:func:`redact_tree`), and on any text that
can still hold an encoded spelling (:func:`redact_text` tries the decoded forms
too). The same function guards the last exits: log records (the filter in
``pipeline/logs.py``), a failed task's explanation (which luigid keeps in its
state pickle and shows at ``/api/fetch_error``) and exception messages.

The secrets are registered per process (:func:`register`), by whoever reads
the key (``credentials.ApiKey``), so the log filter needs no reference to it.
Values shorter than ``MIN_SECRET_LENGTH`` are placeholders for local servers
that ignore the key ("ollama", "x"): redacting them would mangle ordinary words.
"""

from __future__ import annotations

import html
import re
import threading
import urllib.parse
from typing import Any

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 8

_secrets: set[str] = set()
_lock = threading.Lock()
# An escape that could spell a character of the key: \uXXXX, \xXX, %XX, &#NN; / &#xNN; / &name;
_ESCAPE = re.compile(r"\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}|\\/|%[0-9a-fA-F]{2}|&#?[xX]?[0-9a-zA-Z]+;")
_BACKSLASH_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})|\\(/)")
_DECODE_ROUNDS = 3  # nested spellings (a JSON string holding a percent-encoded key ...)


def register(secret: str | None) -> None:
    """Redact ``secret`` from now on, in this process (a no-op for placeholders)."""
    if secret and len(secret) >= MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(secret)


def registered() -> bool:
    return bool(_secrets)


def _unescape_backslashes(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match[1] or match[2]
        return chr(int(code, 16)) if code else "/"

    return _BACKSLASH_ESCAPE.sub(one, text)


_DECODERS = (_unescape_backslashes, html.unescape, urllib.parse.unquote)


def redact_text(text: str) -> str:
    """``text`` without any registered secret, in plain or in an encoded spelling.

    When a secret appears only once the text is decoded, the decoded text is
    returned (redacted): the exact spelling of an echo is worth less than the key.
    """
    secrets = _secrets
    if not secrets or not text:
        return text
    for _ in range(_DECODE_ROUNDS):
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if not _ESCAPE.search(text):
            return text
        for decode in _DECODERS:
            decoded = decode(text)
            if decoded != text and any(secret in decoded for secret in secrets):
                text = decoded
                break
        else:
            return text
    return text


def redact_tree(value: Any) -> Any:
    """A decoded JSON value with every string (keys included) passed through :func:`redact_text`."""
    if not _secrets:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {redact_text(k) if isinstance(k, str) else k: redact_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_tree(v) for v in value]
    return value
