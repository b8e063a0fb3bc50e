"""The exercise catalogue (``data/exercises.csv``): every exercise a plan may contain, in catalogue order.

The order matters: the synthetic world indexes exercises by their position
(``synth/exercises.py``), so rows are appended, never reordered.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fitsense_luigi.errors import ReferenceDataError
from fitsense_luigi.reference.equipment import EQUIPMENT
from fitsense_luigi.reference.loading import Column, items, number, one_of, read_table, text, yes_no
from fitsense_luigi.reference.row_ids import catalog_id
from fitsense_luigi.reference.tags import ALL_TAGS, HIGH_IMPACT

PATTERNS = (
    "squat",
    "hinge",
    "lunge",
    "push_h",
    "push_v",
    "pull_h",
    "pull_v",
    "core",
    "carry",
    "isolation",
    "conditioning",
)
IMPACTS = ("low", "moderate", "high")
LEVELS = ("beginner", "intermediate", "advanced")
LOADS = ("barbell", "dumbbell", "kettlebell", "machine", "cable", "bodyweight", "band", "cardio")
WORK = ("reps", "hold", "carry", "interval")  # how a set is prescribed; all but reps in seconds
TIMED_WORK = frozenset(WORK[1:])


@dataclass(frozen=True)
class Exercise:
    name: str
    primary_muscle: str
    equipment: tuple[str, ...]
    pattern: str  # one of PATTERNS
    impact: str  # low | moderate | high
    tags: frozenset[str]
    level: str  # beginner | intermediate | advanced
    load: str  # one of LOADS
    strength_ratio: float  # typical 1RM / body weight for an intermediate man (per hand for dumbbells)
    # How a set is prescribed: reps, or seconds for a hold, a carry or a cardio interval (schema v3's
    # ``seconds``; the app schema has one ``reps`` column, a 45 s plank is logged as reps=45).
    work: str = "reps"
    plyometric: bool = False  # a jump drill (NSCA): needs a base of strength and technique

    @property
    def timed(self) -> bool:
        return self.work in TIMED_WORK

    @property
    def unit(self) -> str:
        """What the app's ``reps`` column counts for this exercise: reps or seconds."""
        return "seconds" if self.timed else "reps"

    @property
    def exercise_id(self) -> uuid.UUID:
        return catalog_id("exercise", self.name)


_ROWS = read_table(
    "exercises.csv",
    (
        Column("name", text),
        Column("primary_muscle", text),
        Column("equipment", items(EQUIPMENT)),
        Column("pattern", one_of(PATTERNS)),
        Column("impact", one_of(IMPACTS)),
        Column("plyometric", yes_no),
        Column("tags", items(ALL_TAGS)),
        Column("level", one_of(LEVELS)),
        Column("load", one_of(LOADS)),
        Column("strength_ratio", number(0.0, 5.0)),
        Column("work", one_of(WORK)),
        Column("source", text),
    ),
)

EXERCISES: tuple[Exercise, ...] = tuple(
    Exercise(
        name=row["name"],
        primary_muscle=row["primary_muscle"],
        equipment=row["equipment"],
        pattern=row["pattern"],
        impact=row["impact"],
        tags=frozenset(row["tags"]),
        level=row["level"],
        load=row["load"],
        strength_ratio=row["strength_ratio"],
        work=row["work"],
        plyometric=row["plyometric"],
    )
    for row in _ROWS
)
_UNLANDED = [e.name for e in EXERCISES if e.plyometric and HIGH_IMPACT not in e.tags]
if _UNLANDED:  # a jump lands: the rules that rule out high impact must rule out every plyometric drill too
    raise ReferenceDataError(
        f"reference data reference/data/exercises.csv: plyometric without {HIGH_IMPACT}: {_UNLANDED}"
    )
EXERCISES_BY_NAME: dict[str, Exercise] = {e.name: e for e in EXERCISES}
SOURCES: dict[str, str] = {row["name"]: row["source"] for row in _ROWS}
