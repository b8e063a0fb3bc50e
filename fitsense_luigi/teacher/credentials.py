"""The teacher's API key: read from the environment, sent only in the Authorization header.

The key lives in one object whose ``repr``/``str`` never show it and which
refuses to be pickled, so it cannot reach a log line, an exception, a Luigi
parameter or a file by accident. Whatever the server sends back is passed
through :meth:`ApiKey.redact` before it is kept, in case a proxy echoes the
header into an error body.
"""

from __future__ import annotations

import os
from typing import NoReturn

REDACTED = "[redacted]"
# Shorter values are placeholders for local servers that ignore the key
# ("ollama", "x"); redacting them would mangle ordinary words in answers.
MIN_REDACTED_LENGTH = 8


class ApiKey:
    __slots__ = ("_value", "env")

    def __init__(self, env: str) -> None:
        self.env = env
        self._value = os.environ.get(env, "").strip() or None

    @property
    def present(self) -> bool:
        return self._value is not None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._value}"} if self._value else {}

    def redact(self, text: str) -> str:
        if self._value and len(self._value) >= MIN_REDACTED_LENGTH and self._value in text:
            return text.replace(self._value, REDACTED)
        return text

    def __repr__(self) -> str:
        return f"ApiKey(env={self.env!r}, present={self.present})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("ApiKey cannot be pickled: the key must stay in this process's memory")
