"""Value ranges and vocabularies: what a plausible value of each app column is.

The bounds are physiological or practical limits (nobody is 3 m tall, sleeps
30 h or does 300 reps in a set), not the generator's own parameters, so that a
generator bug shows up here instead of being validated against itself. Closed
vocabularies come from the shared catalogue or the app's own enumerations.
NULL is never a range violation: not-null is checked on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fitsense_luigi.contracts.world import World
from fitsense_luigi.quality.validate.tablecheck import check, identifying_columns, render
from fitsense_luigi.reference.catalogue import EXERCISES
from fitsense_luigi.reference.conditions import CONDITIONS
from fitsense_luigi.reference.equipment import EQUIPMENT
from fitsense_luigi.reference.goals import GOALS


@dataclass(frozen=True)
class Range:
    table: str
    column: str
    low: float
    high: float
    why: str


@dataclass(frozen=True)
class Vocabulary:
    table: str
    column: str
    allowed: frozenset[str]
    why: str


RANGES: tuple[Range, ...] = (
    Range("user_profiles", "height_cm", 120, 230, "adult heights"),
    Range("user_goals", "priority", 1, len(GOALS), "one priority per goal"),
    # Mifflin-St Jeor x activity gives ~900 kcal for the smallest, oldest sedentary women
    Range("calorie_targets", "maintenance_calories", 800, 6000, "adult energy needs"),
    Range("sleep_targets", "target_sleep_hours", 4, 12, "sleep targets"),
    Range("plan_exercises", "position", 0, 50, "exercises in one plan day"),
    Range("plan_sets", "set_number", 1, 20, "sets of one exercise"),
    Range("plan_sets", "target_reps", 1, 100, "reps in a set"),
    Range("plan_sets", "target_weight", 0, 500, "load in kg"),
    Range("plan_sets", "target_rir", 0, 10, "reps in reserve"),
    Range("plan_sets", "rest_seconds", 0, 900, "rest between sets"),
    Range("workout_exercises", "position", 0, 50, "exercises in one workout"),
    Range("workout_sets", "set_number", 1, 20, "sets of one exercise"),
    Range("workout_sets", "reps", 0, 100, "reps in a set"),
    Range("workout_sets", "weight", 0, 500, "load in kg"),
    Range("workout_sets", "rir", 0, 10, "reps in reserve"),
    Range("calorie_intake_logs", "calories_consumed", 0, 10000, "daily intake"),
    Range("sleep_duration_logs", "sleep_duration_hours", 0, 24, "hours in a day"),
    Range("weight_logs", "weight_kg", 30, 350, "adult body weight"),
    Range("weight_logs", "body_fat_percentage", 2, 75, "body fat"),
)

SEVERITIES = frozenset({"mild", "moderate", "severe"})

VOCABULARIES: tuple[Vocabulary, ...] = (
    Vocabulary("user_profiles", "sex", frozenset({"female", "male"}), "the app's sex field"),
    Vocabulary(
        "user_profiles",
        "activity_level",
        frozenset({"sedentary", "lightly_active", "moderately_active", "very_active", "extra_active"}),
        "the five standard activity factors",
    ),
    Vocabulary("user_conditions", "severity", SEVERITIES, "severity scale"),
    Vocabulary("user_allergies", "severity", SEVERITIES, "severity scale"),
    Vocabulary("goals", "name", frozenset(GOALS), "goal catalogue"),
    Vocabulary("conditions", "name", frozenset(CONDITIONS), "condition catalogue"),
    Vocabulary("equipment", "name", frozenset(EQUIPMENT), "equipment catalogue"),
    Vocabulary("exercises", "name", frozenset(e.name for e in EXERCISES), "exercise catalogue"),
)


def range_checks(world: World) -> list[dict[str, Any]]:
    out = []
    for rule in RANGES:
        table, values = _column(world, rule.table, rule.column)
        if pa.types.is_decimal(values.type):
            values = values.cast(pa.float64())
        numbers = values.to_numpy(zero_copy_only=False).astype(float)  # NULL -> nan, never outside
        outside = np.flatnonzero((numbers < rule.low) | (numbers > rule.high))
        name = f"{rule.table}.{rule.column} within [{rule.low:g}, {rule.high:g}]"
        out.append(_offending(name, "value range", rule.table, rule.column, table, outside, rule.why))
    for vocab in VOCABULARIES:
        table, values = _column(world, vocab.table, vocab.column)
        known = pc.is_in(values, value_set=pa.array(sorted(vocab.allowed), pa.string()))
        unknown = np.flatnonzero(pc.and_(pc.is_valid(values), pc.invert(known)).to_numpy(zero_copy_only=False))
        name = f"{vocab.table}.{vocab.column} in its vocabulary"
        out.append(_offending(name, "vocabulary", vocab.table, vocab.column, table, unknown, vocab.why))
    return out


def _column(world: World, table_name: str, column: str) -> tuple[pa.Table, pa.ChunkedArray]:
    table = world.table(table_name, sorted({column, *identifying_columns(table_name)}))
    return table, table[column]


def _offending(
    name: str, category: str, table_name: str, column: str, table: pa.Table, rows: np.ndarray, why: str
) -> dict[str, Any]:
    shown = sorted({column, *identifying_columns(table_name)})
    checked = table.num_rows - table[column].null_count
    return check(name, category, rows.size == 0, rows.size, checked, render(table, rows, shown), why=why)
