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
# Floor work needs a floor, not a mat: a plan may use the mat whether or not the user listed one.
ALWAYS_AT_HAND = frozenset({"exercise_mat"})
SOURCES: dict[str, str] = {row["name"]: row["source"] for row in _ROWS}
