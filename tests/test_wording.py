"""Counted nouns: no message says "1 files"."""

from __future__ import annotations

from fitsense_luigi.wording import counted


def test_one_is_singular_and_every_other_count_plural() -> None:
    assert [counted(n, "file") for n in (0, 1, 2)] == ["0 files", "1 file", "2 files"]
    assert [counted(n, "query", "queries") for n in (1, 3)] == ["1 query", "3 queries"]
