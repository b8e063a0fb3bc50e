"""The implied rules of the app schema that keys alone do not enforce.

From ``shared/reference/fitsense_schema.md``: a workout's plan belongs to the
same user, ``ended_at > started_at``, a workout exercise's plan exercise belongs
to that workout's plan, dates lie inside the run's look-back window. Added here
because a loader or the app would trip over them too: users are adults, sets are
done during their workout, validity periods do not end before they start, and
nothing was created after the run's as-of date.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fitsense_luigi.contracts.world import World
from fitsense_luigi.quality.validate.tablecheck import check, key_rows, lookup, render

MAX_WORKOUT_HOURS = 6
ADULT_AGE = (18, 100)

# (table, column, identifying column): events that must fall inside the look-back window
WINDOWED = (
    ("workouts", "started_at", "workout_id"),
    ("workout_sets", "completed_at", "workout_set_id"),
    ("calorie_intake_logs", "log_date", "calorie_log_id"),
    ("sleep_duration_logs", "log_date", "sleep_log_id"),
    ("weight_logs", "logged_at", "weight_log_id"),
)
# (table, start column, end column, identifying column): periods that must not end before they start
PERIODS = (
    ("calorie_targets", "effective_from", "effective_to", "calorie_target_id"),
    ("sleep_targets", "effective_from", "effective_to", "sleep_target_id"),
    ("user_medications", "start_date", "end_date", "medication_id"),
)
# (table, column, identifying column): records that cannot have been made after the as-of date
CREATED = (
    ("users", "created_at", "user_id"),
    ("user_profiles", "updated_at", "user_id"),
    ("workout_plans", "created_at", "plan_id"),
    ("calorie_targets", "created_at", "calorie_target_id"),
    ("sleep_targets", "created_at", "sleep_target_id"),
)


def implied_rules(world: World, as_of: dt.date, lookback_days: int) -> list[dict[str, Any]]:
    return [
        plan_belongs_to_user(world),
        workout_ends_after_start(world),
        workout_duration(world),
        plan_exercise_in_workout_plan(world),
        sets_inside_their_workout(world),
        adult_users(world, as_of),
        *inside_window(world, as_of, lookback_days),
        *periods_in_order(world),
        *not_from_the_future(world, as_of),
    ]


def _days(values: pa.ChunkedArray) -> np.ndarray:
    """Dates or timestamps as fractional days since the epoch (NULL -> nan)."""
    if pa.types.is_date32(values.type):
        raw = values.cast(pa.int32()).to_numpy(zero_copy_only=False).astype(float)
        return raw
    micros = values.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return micros.to_numpy(zero_copy_only=False).astype(float) / 86_400e6


def _epoch_day(day: dt.date) -> float:
    return float((day - dt.date(1970, 1, 1)).days)


def _rule(name: str, table: pa.Table, bad: np.ndarray, columns: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    """An implied-rule check over ``table``: ``bad`` are the offending row positions, shown by ``columns``."""
    return check(name, "implied rule", bad.size == 0, bad.size, table.num_rows, render(table, bad, columns), **extra)


def plan_belongs_to_user(world: World) -> dict[str, Any]:
    plans = world.table("workout_plans", ["plan_id", "user_id"])
    workouts = world.table("workouts", ["workout_id", "user_id", "plan_id"])
    workouts = workouts.filter(pc.is_valid(workouts["plan_id"]))
    owner, found = lookup(
        key_rows(plans, ("plan_id",)), key_rows(plans, ("user_id",)), key_rows(workouts, ("plan_id",))
    )
    wrong = np.flatnonzero(found & (owner != key_rows(workouts, ("user_id",))))
    return _rule(
        "workouts.plan_id belongs to the workout's user", workouts, wrong, ("workout_id", "user_id", "plan_id")
    )


def workout_ends_after_start(world: World) -> dict[str, Any]:
    workouts = world.table("workouts", ["workout_id", "started_at", "ended_at"])
    bad = np.flatnonzero(_days(workouts["ended_at"]) <= _days(workouts["started_at"]))
    return _rule("workouts.ended_at > started_at", workouts, bad, ("workout_id", "started_at", "ended_at"))


def workout_duration(world: World) -> dict[str, Any]:
    workouts = world.table("workouts", ["workout_id", "started_at", "ended_at"])
    hours = (_days(workouts["ended_at"]) - _days(workouts["started_at"])) * 24
    bad = np.flatnonzero(hours > MAX_WORKOUT_HOURS)
    return _rule(
        f"workouts last at most {MAX_WORKOUT_HOURS} h", workouts, bad, ("workout_id", "started_at", "ended_at")
    )


def plan_exercise_in_workout_plan(world: World) -> dict[str, Any]:
    wex = world.table("workout_exercises", ["workout_exercise_id", "workout_id", "plan_exercise_id"])
    wex = wex.filter(pc.is_valid(wex["plan_exercise_id"]))
    pex = world.table("plan_exercises", ["plan_exercise_id", "plan_id"])
    workouts = world.table("workouts", ["workout_id", "plan_id"])
    via_exercise, f1 = lookup(
        key_rows(pex, ("plan_exercise_id",)), key_rows(pex, ("plan_id",)), key_rows(wex, ("plan_exercise_id",))
    )
    via_workout, f2 = lookup(
        key_rows(workouts, ("workout_id",)), key_rows(workouts, ("plan_id",)), key_rows(wex, ("workout_id",))
    )
    # a missing parent is the foreign-key check's finding; here only resolvable rows that disagree count
    bad = np.flatnonzero(f1 & f2 & (via_exercise != via_workout))
    return _rule(
        "workout_exercises.plan_exercise_id belongs to the workout's plan",
        wex,
        bad,
        ("workout_exercise_id", "workout_id", "plan_exercise_id"),
    )


def sets_inside_their_workout(world: World) -> dict[str, Any]:
    sets = world.table("workout_sets", ["workout_set_id", "workout_exercise_id", "completed_at"])
    sets = sets.filter(pc.is_valid(sets["completed_at"]))
    wex = world.table("workout_exercises", ["workout_exercise_id", "workout_id"])
    workouts = world.table("workouts", ["workout_id", "started_at", "ended_at"])
    workout_of_set, f1 = lookup(
        key_rows(wex, ("workout_exercise_id",)),
        key_rows(wex, ("workout_id",)),
        key_rows(sets, ("workout_exercise_id",)),
    )
    position = np.arange(workouts.num_rows)
    row, f2 = lookup(key_rows(workouts, ("workout_id",)), position, workout_of_set)
    done = _days(sets["completed_at"])
    start, end = _days(workouts["started_at"])[row], _days(workouts["ended_at"])[row]
    bad = np.flatnonzero(f1 & f2 & ((done < start) | (done > end)))
    return _rule("workout_sets.completed_at inside its workout", sets, bad, ("workout_set_id", "completed_at"))


def adult_users(world: World, as_of: dt.date) -> dict[str, Any]:
    profiles = world.table("user_profiles", ["user_id", "date_of_birth"])
    age = (_epoch_day(as_of) - _days(profiles["date_of_birth"])) / 365.25
    low, high = ADULT_AGE
    bad = np.flatnonzero((age < low) | (age >= high + 1))
    return _rule(f"users are {low}-{high} years old on the as-of date", profiles, bad, ("user_id", "date_of_birth"))


def inside_window(world: World, as_of: dt.date, lookback_days: int) -> list[dict[str, Any]]:
    first = _epoch_day(as_of) - (lookback_days - 1)
    end = _epoch_day(as_of) + 1  # the whole as-of day is inside
    out = []
    for table_name, column, ident in WINDOWED:
        table = world.table(table_name, [ident, column])
        days = _days(table[column])
        bad = np.flatnonzero((days < first) | (days >= end))
        out.append(
            _rule(
                f"{table_name}.{column} inside the {lookback_days}-day look-back window",
                table,
                bad,
                (ident, column),
                window=[(as_of - dt.timedelta(days=lookback_days - 1)).isoformat(), as_of.isoformat()],
            )
        )
    return out


def periods_in_order(world: World) -> list[dict[str, Any]]:
    out = []
    for table_name, start, stop, ident in PERIODS:
        table = world.table(table_name, [ident, start, stop])
        bad = np.flatnonzero(_days(table[stop]) < _days(table[start]))  # open periods (NULL end) compare False
        out.append(_rule(f"{table_name}.{stop} not before {start}", table, bad, (ident, start, stop)))
    return out


def not_from_the_future(world: World, as_of: dt.date) -> list[dict[str, Any]]:
    end = _epoch_day(as_of) + 1
    out = []
    for table_name, column, ident in CREATED:
        table = world.table(table_name, [ident, column])
        bad = np.flatnonzero(_days(table[column]) >= end)
        out.append(_rule(f"{table_name}.{column} not after the as-of date", table, bad, (ident, column)))
    return out
