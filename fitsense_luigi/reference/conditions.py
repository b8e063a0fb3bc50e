"""Health conditions (``data/conditions.csv``): description, tags a plan must avoid, constraints it must address."""

from __future__ import annotations

from fitsense_luigi.reference.constraints import SAFETY_CONSTRAINTS
from fitsense_luigi.reference.loading import Column, items, read_table, text
from fitsense_luigi.reference.tags import ALL_TAGS

_ROWS = read_table(
    "conditions.csv",
    (
        Column("name", text),
        Column("description", text),
        Column("avoids", items(ALL_TAGS)),
        Column("constraints", items(SAFETY_CONSTRAINTS)),
        Column("source", text),
    ),
)

CONDITIONS: dict[str, str] = {row["name"]: row["description"] for row in _ROWS}
# exercises tagged with these must not appear in a plan for a user with the condition
CONDITION_AVOIDS: dict[str, frozenset[str]] = {row["name"]: frozenset(row["avoids"]) for row in _ROWS}
CONDITION_CONSTRAINTS: dict[str, tuple[str, ...]] = {row["name"]: row["constraints"] for row in _ROWS}
SOURCES: dict[str, str] = {row["name"]: row["source"] for row in _ROWS}
