"""Health conditions (``data/conditions.csv``): the app's names and descriptions, in catalogue order.

What a condition means for a plan is a safety rule (:mod:`.safety`), not a column here.
"""

from __future__ import annotations

from fitsense_luigi.reference.loading import Column, read_table, text

_ROWS = read_table("conditions.csv", (Column("name", text), Column("description", text), Column("source", text)))

CONDITIONS: dict[str, str] = {row["name"]: row["description"] for row in _ROWS}
SOURCES: dict[str, str] = {row["name"]: row["source"] for row in _ROWS}
