"""Safety constraints a plan must address (``data/safety_constraints.csv``), in the order a teacher reads them."""

from __future__ import annotations

from dataclasses import dataclass

from fitsense_luigi.reference.loading import Column, items, read_table, text


@dataclass(frozen=True)
class SafetyConstraint:
    constraint_id: str
    text: str
    keywords: tuple[str, ...]  # words a plan's safety notes use when it addresses the constraint


_ROWS = read_table(
    "safety_constraints.csv",
    (Column("constraint_id", text), Column("text", text), Column("keywords", items()), Column("source", text)),
)

SAFETY_CONSTRAINTS: dict[str, SafetyConstraint] = {
    row["constraint_id"]: SafetyConstraint(row["constraint_id"], row["text"], row["keywords"]) for row in _ROWS
}
SOURCES: dict[str, str] = {row["constraint_id"]: row["source"] for row in _ROWS}
