"""Medications (``data/medications.csv``): what each treats, its class and its doses.

The order matters: the synthetic world draws medications by position, so rows
are appended, never reordered. What a drug class means for a plan (a
beta-blocker: effort by RPE) is a safety rule (:mod:`.safety`).
"""

from __future__ import annotations

from dataclasses import dataclass

from fitsense_luigi.reference.conditions import CONDITIONS
from fitsense_luigi.reference.loading import Column, items, one_of, read_table, text

BETA_BLOCKER = "beta-blocker"


@dataclass(frozen=True)
class Medication:
    name: str
    treats: str  # condition name
    dosages: tuple[str, ...]
    frequency: str
    drug_class: str = ""


def _dosages(value: str) -> tuple[str, ...]:
    found = items()(value)
    if not found:
        raise ValueError("is empty")
    return found


_ROWS = read_table(
    "medications.csv",
    (
        Column("name", text),
        Column("treats", one_of(CONDITIONS)),
        Column("drug_class", text),
        Column("dosages", _dosages),
        Column("frequency", text),
        Column("source", text),
    ),
)

MEDICATIONS: tuple[Medication, ...] = tuple(
    Medication(row["name"], row["treats"], row["dosages"], row["frequency"], row["drug_class"]) for row in _ROWS
)
MEDICATIONS_BY_NAME: dict[str, Medication] = {m.name: m for m in MEDICATIONS}
DRUG_CLASS: dict[str, str] = {row["name"]: row["drug_class"] for row in _ROWS}
BETA_BLOCKERS = frozenset(name for name, kind in DRUG_CLASS.items() if kind == BETA_BLOCKER)
SOURCES: dict[str, str] = {row["name"]: row["source"] for row in _ROWS}
