"""The teacher's API key: read from the environment, checked once, sent only in the Authorization header.

The key lives in one object whose ``repr``/``str`` never show it and which
refuses to be pickled, so it cannot reach a log line, an exception, a Luigi
parameter or a file by accident. Reading it registers it with
:mod:`fitsense_luigi.teacher.redact`, which takes it out of everything the
server sends back (after decoding) and out of every log line of the process.

A key that cannot travel in an HTTP header (a control character such as the CR
of a Windows line ending, or a character outside Latin-1) would fail every
request the same way, so it is refused before the first one, in one line that
never shows the key: :func:`key_problem`.
"""

from __future__ import annotations

import os
import unicodedata
from typing import NoReturn

from fitsense_luigi.errors import CredentialError
from fitsense_luigi.teacher import redact

_CONTROL_NAMES = {"\r": "CR", "\n": "LF", "\t": "TAB", "\x00": "NUL", "\x7f": "DEL"}


def key_problem(value: str) -> str | None:
    """Why ``value`` cannot be sent as ``Authorization: Bearer <value>`` (None when it can); never quotes the key."""
    for position, char in enumerate(value, start=1):
        if unicodedata.category(char) == "Cc":
            name = _CONTROL_NAMES.get(char, f"U+{ord(char):04X}")
            return f"holds a control character ({name} at position {position})"
        if ord(char) > 0xFF:
            return f"holds a character HTTP headers cannot carry (U+{ord(char):04X} at position {position})"
    return None


def read_key(env: str) -> str | None:
    """The key in ``$env`` (surrounding whitespace ignored), checked and registered for redaction; None if unset."""
    value = os.environ.get(env, "").strip() or None
    if value is None:
        return None
    problem = key_problem(value)
    if problem:
        raise CredentialError(
            f"${env} {problem}: an API key is one line of printable characters; set the variable again "
            f"(e.g. without the line ending of the file it came from)"
        )
    redact.register(value)
    return value


class ApiKey:
    __slots__ = ("_value", "env")

    def __init__(self, env: str) -> None:
        self.env = env
        self._value = read_key(env)

    @property
    def present(self) -> bool:
        return self._value is not None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._value}"} if self._value else {}

    def redact(self, text: str) -> str:
        return redact.redact_text(text)

    def __repr__(self) -> str:
        return f"ApiKey(env={self.env!r}, present={self.present})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("ApiKey cannot be pickled: the key must stay in this process's memory")
