"""Counted nouns for messages a person reads: "1 file", "2 files", "1 query", "3 queries".

One helper, so that no log line, status message or report says "1 files".
"""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun in the number it takes (``plural`` when adding "s" is wrong: query -> queries)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
