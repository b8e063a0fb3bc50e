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

import pyarrow as pa

from fitsense_luigi.contracts.world_sql import WorldSQL
from fitsense_luigi.quality.validate.tablecheck import check, examples

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


def implied_rules(db: WorldSQL, as_of: dt.date, lookback_days: int) -> list[dict[str, Any]]:
    return [
        plan_belongs_to_user(db),
        workout_ends_after_start(db),
        workout_duration(db),
        plan_exercise_in_workout_plan(db),
        sets_inside_their_workout(db),
        adult_users(db, as_of),
        *inside_window(db, as_of, lookback_days),
        *periods_in_order(db),
        *not_from_the_future(db, as_of),
    ]


def _days(db: WorldSQL, table: str, column: str, alias: str = "t") -> str:
    """SQL: a date or timestamp as days since the epoch, computed as the in-memory checks did (float64)."""
    if pa.types.is_date(db.schema(table).field(column).type):
        return f"CAST({alias}.\"{column}\" - DATE '1970-01-01' AS DOUBLE)"
    return f'(CAST(epoch_us({alias}."{column}") AS DOUBLE) / 86400000000.0)'


def _epoch_day(day: dt.date) -> float:
    return float((day - dt.date(1970, 1, 1)).days)


def _rule(
    db: WorldSQL,
    name: str,
    table: str,
    bad: str,
    columns: tuple[str, ...],
    *,
    joins: str = "",
    where: str = "TRUE",
    **extra: Any,
) -> dict[str, Any]:
    """An implied-rule check over the rows of ``table`` (alias ``t``) matching ``where``; ``bad`` names offenders."""
    checked, count = db.one(f'SELECT count(*), count(*) FILTER (WHERE {bad}) FROM "{table}" t {joins} WHERE {where}')
    shown = examples(db, table, f"({where}) AND ({bad})", columns, joins=joins) if count else []
    return check(name, "implied rule", count == 0, count, checked, shown, **extra)


def plan_belongs_to_user(db: WorldSQL) -> dict[str, Any]:
    other = 'EXISTS (SELECT 1 FROM "workout_plans" p WHERE p.plan_id = t.plan_id AND p.user_id <> t.user_id)'
    return _rule(
        db,
        "workouts.plan_id belongs to the workout's user",
        "workouts",
        other,
        ("workout_id", "user_id", "plan_id"),
        where="t.plan_id IS NOT NULL",
    )


def workout_ends_after_start(db: WorldSQL) -> dict[str, Any]:
    bad = f"{_days(db, 'workouts', 'ended_at')} <= {_days(db, 'workouts', 'started_at')}"
    return _rule(db, "workouts.ended_at > started_at", "workouts", bad, ("workout_id", "started_at", "ended_at"))


def workout_duration(db: WorldSQL) -> dict[str, Any]:
    hours = f"({_days(db, 'workouts', 'ended_at')} - {_days(db, 'workouts', 'started_at')}) * 24"
    return _rule(
        db,
        f"workouts last at most {MAX_WORKOUT_HOURS} h",
        "workouts",
        f"{hours} > {MAX_WORKOUT_HOURS}",
        ("workout_id", "started_at", "ended_at"),
    )


def plan_exercise_in_workout_plan(db: WorldSQL) -> dict[str, Any]:
    # a missing parent is the foreign-key check's finding; here only resolvable rows that disagree count
    # (parents are joined by their primary keys, which the key checks hold unique). An EXISTS of inner joins,
    # not two LEFT JOINs: DuckDB keeps two left-join hash tables pinned at once and cannot spill them
    # (out of memory at 100,000 users under 1 GB); the semi-join spills.
    other = (
        'EXISTS (SELECT 1 FROM "plan_exercises" pe JOIN "workouts" w ON w.workout_id = t.workout_id '
        "WHERE pe.plan_exercise_id = t.plan_exercise_id AND pe.plan_id IS DISTINCT FROM w.plan_id)"
    )
    return _rule(
        db,
        "workout_exercises.plan_exercise_id belongs to the workout's plan",
        "workout_exercises",
        other,
        ("workout_exercise_id", "workout_id", "plan_exercise_id"),
        where="t.plan_exercise_id IS NOT NULL",
    )


def sets_inside_their_workout(db: WorldSQL) -> dict[str, Any]:
    joins = (
        'LEFT JOIN "workout_exercises" e ON e.workout_exercise_id = t.workout_exercise_id '
        'LEFT JOIN "workouts" w ON w.workout_id = e.workout_id'
    )
    done = _days(db, "workout_sets", "completed_at")
    start, stop = _days(db, "workouts", "started_at", "w"), _days(db, "workouts", "ended_at", "w")
    return _rule(
        db,
        "workout_sets.completed_at inside its workout",
        "workout_sets",
        f"{done} < {start} OR {done} > {stop}",  # NULL (no workout found) is not outside
        ("workout_set_id", "completed_at"),
        joins=joins,
        where="t.completed_at IS NOT NULL",
    )


def adult_users(db: WorldSQL, as_of: dt.date) -> dict[str, Any]:
    age = f"(({_epoch_day(as_of)!r} - {_days(db, 'user_profiles', 'date_of_birth')}) / 365.25)"
    low, high = ADULT_AGE
    return _rule(
        db,
        f"users are {low}-{high} years old on the as-of date",
        "user_profiles",
        f"{age} < {low} OR {age} >= {high + 1}",
        ("user_id", "date_of_birth"),
    )


def inside_window(db: WorldSQL, as_of: dt.date, lookback_days: int) -> list[dict[str, Any]]:
    first = _epoch_day(as_of) - (lookback_days - 1)
    end = _epoch_day(as_of) + 1  # the whole as-of day is inside
    out = []
    for table, column, ident in WINDOWED:
        days = _days(db, table, column)
        out.append(
            _rule(
                db,
                f"{table}.{column} inside the {lookback_days}-day look-back window",
                table,
                f"{days} < {first!r} OR {days} >= {end!r}",
                (ident, column),
                window=[(as_of - dt.timedelta(days=lookback_days - 1)).isoformat(), as_of.isoformat()],
            )
        )
    return out


def periods_in_order(db: WorldSQL) -> list[dict[str, Any]]:
    out = []
    for table, start, stop, ident in PERIODS:
        bad = f"{_days(db, table, stop)} < {_days(db, table, start)}"  # open periods (NULL end) compare NULL
        out.append(_rule(db, f"{table}.{stop} not before {start}", table, bad, (ident, start, stop)))
    return out


def not_from_the_future(db: WorldSQL, as_of: dt.date) -> list[dict[str, Any]]:
    end = _epoch_day(as_of) + 1
    out = []
    for table, column, ident in CREATED:
        bad = f"{_days(db, table, column)} >= {end!r}"
        out.append(_rule(db, f"{table}.{column} not after the as-of date", table, bad, (ident, column)))
    return out
