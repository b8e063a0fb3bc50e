"""The app's training goals (``data/goals.csv``): name -> description, in catalogue order."""

from __future__ import annotations

from fitsense_luigi.reference.loading import Column, read_table, text

_ROWS = read_table("goals.csv", (Column("name", text), Column("description", text), Column("source", text)))

GOALS: dict[str, str] = {row["name"]: row["description"] for row in _ROWS}
SOURCES: dict[str, str] = {row["name"]: row["source"] for row in _ROWS}
