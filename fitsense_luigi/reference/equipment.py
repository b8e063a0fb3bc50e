"""The app's equipment (``data/equipment.csv``): name -> category, and the basic kit a home trainee has."""

from __future__ import annotations

from fitsense_luigi.reference.loading import Column, read_table, text, yes_no

_ROWS = read_table(
    "equipment.csv",
    (Column("name", text), Column("category", text), Column("home", yes_no), Column("source", text)),
)

EQUIPMENT: dict[str, str] = {row["name"]: row["category"] for row in _ROWS}
HOME_EQUIPMENT = frozenset(row["name"] for row in _ROWS if row["home"])
GYM_EQUIPMENT = frozenset(EQUIPMENT)
SOURCES: dict[str, str] = {row["name"]: row["source"] for row in _ROWS}
