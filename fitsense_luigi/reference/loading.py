"""Reading a reference data file: CSV shipped inside the package, checked field by field on load.

The files live in ``fitsense_luigi/reference/data/`` and travel as package data,
so a wheel and the container image read exactly what a checkout reads. A file
starts with ``#`` comment lines that explain its columns; then a header row
naming the columns in a fixed order; then one row per entry, each with its
``source``. Lists inside a cell are joined by ``|``.

Every field is parsed by its column's parser. All problems of a file are
collected and raised together as one :class:`ReferenceDataError` line naming
the file, the line, the entry and the field, e.g.::

    reference data reference/data/exercises.csv: line 34 (Box Jump) field impact: 'hgh' is not one of
    low, moderate, high
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fitsense_luigi.errors import ReferenceDataError

DATA_DIR = "data"
LIST_SEPARATOR = "|"

Parser = Callable[[str], Any]  # raises ValueError with the reason a value is wrong


@dataclass(frozen=True)
class Column:
    name: str
    parse: Parser


def text(value: str) -> str:
    """A non-empty string without surrounding spaces."""
    if not value:
        raise ValueError("is empty")
    if value != value.strip():
        raise ValueError(f"{value!r} has leading or trailing spaces")
    return value


def one_of(choices: Collection[str]) -> Parser:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return parse


def items(choices: Collection[str] | None = None) -> Parser:
    """A ``|``-joined list (empty cell: no items) of distinct non-empty items, each in ``choices`` if given."""

    def parse(value: str) -> tuple[str, ...]:
        found = tuple(value.split(LIST_SEPARATOR)) if value else ()
        for item in found:
            text(item)
            if choices is not None and item not in choices:
                raise ValueError(f"{item!r} is not one of {', '.join(choices)}")
        if len(set(found)) != len(found):
            raise ValueError(f"{value!r} lists an item twice")
        return found

    return parse


def number(low: float, high: float) -> Parser:
    def parse(value: str) -> float:
        try:
            parsed = float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
        if not low <= parsed <= high:
            raise ValueError(f"{value!r} is outside [{low:g}, {high:g}]")
        return parsed

    return parse


def yes_no(value: str) -> bool:
    if value not in ("yes", "no"):
        raise ValueError(f"{value!r} is not yes or no")
    return value == "yes"


def read_table(file_name: str, columns: Sequence[Column]) -> list[dict[str, Any]]:
    """The rows of a packaged data file, parsed; the first column is the entry's unique key."""
    text_of_file = resources.files(__package__).joinpath(DATA_DIR, file_name).read_text(encoding="utf-8")
    return parse_table(file_name, text_of_file, columns)


def parse_table(file_name: str, content: str, columns: Sequence[Column]) -> list[dict[str, Any]]:
    """Rows of ``content`` (the text of ``file_name``); ReferenceDataError listing every bad field at once."""
    where = f"reference data reference/{DATA_DIR}/{file_name}"
    numbered = [(n, line) for n, line in enumerate(content.splitlines(), 1) if not line.startswith("#")]
    reader = csv.reader(line for _, line in numbered)
    header = next(reader, None)
    expected = [c.name for c in columns]
    if header != expected:
        raise ReferenceDataError(f"{where}: the header is {header}, expected {expected}")
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for cells in reader:
        line = numbered[reader.line_num - 1][0]
        if not any(cells):
            continue
        entry = cells[0] or "?"
        if len(cells) != len(columns):
            problems.append(f"line {line} ({entry}): {len(cells)} fields, expected {len(columns)}")
            continue
        row: dict[str, Any] = {}
        for column, value in zip(columns, cells, strict=True):
            try:
                row[column.name] = column.parse(value)
            except ValueError as exc:
                problems.append(f"line {line} ({entry}) field {column.name}: {exc}")
        if entry in seen:
            problems.append(f"line {line} ({entry}) field {columns[0].name}: also on line {seen[entry]}")
        seen.setdefault(entry, line)
        rows.append(row)
    if problems:
        raise ReferenceDataError(f"{where}: " + "; ".join(problems))
    if not rows:
        raise ReferenceDataError(f"{where}: no entries")
    return rows
