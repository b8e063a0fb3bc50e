"""The FitSense app's tables as explicit Arrow schemas plus their constraints.

One declaration serves three readers: the generators (who write Parquet with
exactly these types), the SQL load test (which turns it into DDL) and the
quality gate (which checks PK, UQ, FK and NN on every run). Types follow
``shared/reference/fitsense_schema.md``: uuid -> arrow.uuid, decimal ->
decimal128, timestamp -> UTC microseconds, date -> date32.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pyarrow as pa

UUID = pa.uuid()
TEXT = pa.string()
INT = pa.int32()
BOOL = pa.bool_()
DATE = pa.date32()
TS = pa.timestamp("us", tz="UTC")


def DEC(precision: int, scale: int) -> pa.DataType:
    return pa.decimal128(precision, scale)


@dataclass(frozen=True)
class TableSpec:
    name: str
    schema: pa.Schema
    primary_key: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    foreign_keys: tuple[tuple[str, str, str], ...] = ()  # (column, table, column)
    stage: str = "profiles"  # which generator writes it
    notes: dict[str, str] = field(default_factory=dict)
    checks: tuple[str, ...] = ()  # row rules as portable SQL boolean expressions (see CHECKS)

    @property
    def not_null(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.schema if not f.nullable)


def _schema(*fields: tuple[str, pa.DataType, bool]) -> pa.Schema:
    return pa.schema([pa.field(name, kind, nullable=nullable) for name, kind, nullable in fields])


NN, NULL = False, True

TABLES: dict[str, TableSpec] = {}


def _table(spec: TableSpec) -> None:
    TABLES[spec.name] = spec


# ------------------------------------------------------------- reference catalogues
_table(
    TableSpec(
        "goals",
        _schema(("goal_id", UUID, NN), ("name", TEXT, NN), ("description", TEXT, NULL)),
        ("goal_id",),
        (("name",),),
    )
)
_table(
    TableSpec(
        "conditions",
        _schema(("condition_id", UUID, NN), ("name", TEXT, NN), ("description", TEXT, NULL)),
        ("condition_id",),
        (("name",),),
    )
)
_table(
    TableSpec(
        "equipment",
        _schema(("equipment_id", UUID, NN), ("name", TEXT, NN), ("category", TEXT, NULL)),
        ("equipment_id",),
        (("name",),),
        stage="workouts",
    )
)
_table(
    TableSpec(
        "exercises",
        _schema(
            ("exercise_id", UUID, NN),
            ("name", TEXT, NN),
            ("primary_muscle", TEXT, NULL),
            ("notes", TEXT, NULL),
        ),
        ("exercise_id",),
        (("name",),),
        stage="workouts",
    )
)
_table(
    TableSpec(
        "exercise_equipment",
        _schema(("exercise_id", UUID, NN), ("equipment_id", UUID, NN)),
        (),
        (("exercise_id", "equipment_id"),),
        (("exercise_id", "exercises", "exercise_id"), ("equipment_id", "equipment", "equipment_id")),
        stage="workouts",
    )
)

# ------------------------------------------------------------------ per-user tables
_USER_FK = (("user_id", "users", "user_id"),)
_table(
    TableSpec(
        "users",
        _schema(("user_id", UUID, NN), ("name", TEXT, NULL), ("email", TEXT, NULL), ("created_at", TS, NULL)),
        ("user_id",),
        (("email",),),
    )
)
_table(
    TableSpec(
        "user_profiles",
        _schema(
            ("user_id", UUID, NN),
            ("date_of_birth", DATE, NULL),
            ("sex", TEXT, NULL),
            ("height_cm", DEC(5, 1), NULL),
            ("activity_level", TEXT, NULL),
            ("updated_at", TS, NULL),
        ),
        ("user_id",),
        (),
        _USER_FK,
    )
)
_table(
    TableSpec(
        "user_goals",
        _schema(("user_id", UUID, NN), ("goal_id", UUID, NN), ("priority", INT, NULL)),
        (),
        (("user_id", "goal_id"),),
        (*_USER_FK, ("goal_id", "goals", "goal_id")),
    )
)
_table(
    TableSpec(
        "user_conditions",
        _schema(("user_id", UUID, NN), ("condition_id", UUID, NN), ("severity", TEXT, NULL), ("notes", TEXT, NULL)),
        (),
        (("user_id", "condition_id"),),
        (*_USER_FK, ("condition_id", "conditions", "condition_id")),
    )
)
_table(
    TableSpec(
        "user_medical_profiles",
        _schema(
            ("medical_profile_id", UUID, NN),
            ("user_id", UUID, NN),
            ("has_injuries", BOOL, NULL),
            ("injury_details", TEXT, NULL),
            ("surgeries_history", TEXT, NULL),
            ("family_history", TEXT, NULL),
            ("notes", TEXT, NULL),
            ("updated_at", TS, NULL),
        ),
        ("medical_profile_id",),
        (),
        _USER_FK,
    )
)
_table(
    TableSpec(
        "user_medications",
        _schema(
            ("medication_id", UUID, NN),
            ("user_id", UUID, NN),
            ("medication_name", TEXT, NN),
            ("dosage", TEXT, NULL),
            ("frequency", TEXT, NULL),
            ("start_date", DATE, NULL),
            ("end_date", DATE, NULL),
            ("notes", TEXT, NULL),
        ),
        ("medication_id",),
        (),
        _USER_FK,
    )
)
_table(
    TableSpec(
        "user_allergies",
        _schema(
            ("allergy_id", UUID, NN),
            ("user_id", UUID, NN),
            ("allergen", TEXT, NN),
            ("reaction", TEXT, NULL),
            ("severity", TEXT, NULL),
            ("notes", TEXT, NULL),
        ),
        ("allergy_id",),
        (),
        _USER_FK,
    )
)
_table(
    TableSpec(
        "calorie_targets",
        _schema(
            ("calorie_target_id", UUID, NN),
            ("user_id", UUID, NN),
            ("maintenance_calories", INT, NN),
            ("method", TEXT, NULL),
            ("effective_from", DATE, NN),
            ("effective_to", DATE, NULL),
            ("notes", TEXT, NULL),
            ("created_at", TS, NULL),
        ),
        ("calorie_target_id",),
        (),
        _USER_FK,
    )
)
_table(
    TableSpec(
        "sleep_targets",
        _schema(
            ("sleep_target_id", UUID, NN),
            ("user_id", UUID, NN),
            ("target_sleep_hours", DEC(4, 2), NN),
            ("effective_from", DATE, NN),
            ("effective_to", DATE, NULL),
            ("notes", TEXT, NULL),
            ("created_at", TS, NULL),
        ),
        ("sleep_target_id",),
        (),
        _USER_FK,
    )
)

# ------------------------------------------------------------------ training tables
_table(
    TableSpec(
        "workout_plans",
        _schema(
            ("plan_id", UUID, NN),
            ("user_id", UUID, NN),
            ("name", TEXT, NULL),
            ("is_active", BOOL, NULL),
            ("created_at", TS, NULL),
        ),
        ("plan_id",),
        (),
        _USER_FK,
        stage="workouts",
    )
)
_table(
    TableSpec(
        "plan_exercises",
        _schema(
            ("plan_exercise_id", UUID, NN),
            ("plan_id", UUID, NN),
            ("exercise_id", UUID, NN),
            ("position", INT, NULL),
            ("notes", TEXT, NULL),
        ),
        ("plan_exercise_id",),
        (),
        (("plan_id", "workout_plans", "plan_id"), ("exercise_id", "exercises", "exercise_id")),
        stage="workouts",
    )
)
_table(
    TableSpec(
        "plan_sets",
        _schema(
            ("plan_set_id", UUID, NN),
            ("plan_exercise_id", UUID, NN),
            ("set_number", INT, NULL),
            ("target_reps", INT, NULL),
            ("target_weight", DEC(6, 2), NULL),
            ("target_rir", INT, NULL),
            ("rest_seconds", INT, NULL),
        ),
        ("plan_set_id",),
        (("plan_exercise_id", "set_number"),),
        (("plan_exercise_id", "plan_exercises", "plan_exercise_id"),),
        stage="workouts",
    )
)
_table(
    TableSpec(
        "workouts",
        _schema(
            ("workout_id", UUID, NN),
            ("user_id", UUID, NN),
            ("plan_id", UUID, NULL),
            ("started_at", TS, NULL),
            ("ended_at", TS, NULL),
            ("notes", TEXT, NULL),
        ),
        ("workout_id",),
        (),
        (*_USER_FK, ("plan_id", "workout_plans", "plan_id")),
        stage="workouts",
    )
)
_table(
    TableSpec(
        "workout_exercises",
        _schema(
            ("workout_exercise_id", UUID, NN),
            ("workout_id", UUID, NN),
            ("exercise_id", UUID, NN),
            ("plan_exercise_id", UUID, NULL),
            ("position", INT, NULL),
            ("notes", TEXT, NULL),
        ),
        ("workout_exercise_id",),
        (),
        (
            ("workout_id", "workouts", "workout_id"),
            ("exercise_id", "exercises", "exercise_id"),
            ("plan_exercise_id", "plan_exercises", "plan_exercise_id"),
        ),
        stage="workouts",
    )
)
_table(
    TableSpec(
        "workout_sets",
        _schema(
            ("workout_set_id", UUID, NN),
            ("workout_exercise_id", UUID, NN),
            ("set_number", INT, NULL),
            ("reps", INT, NULL),
            ("weight", DEC(6, 2), NULL),
            ("rir", INT, NULL),
            ("is_warmup", BOOL, NULL),
            ("completed_at", TS, NULL),
        ),
        ("workout_set_id",),
        (("workout_exercise_id", "set_number"),),
        (("workout_exercise_id", "workout_exercises", "workout_exercise_id"),),
        stage="workouts",
    )
)

# ----------------------------------------------------------------------- daily logs
_table(
    TableSpec(
        "calorie_intake_logs",
        _schema(
            ("calorie_log_id", UUID, NN),
            ("user_id", UUID, NN),
            ("log_date", DATE, NN),
            ("calories_consumed", INT, NN),
            ("notes", TEXT, NULL),
            ("created_at", TS, NULL),
        ),
        ("calorie_log_id",),
        (("user_id", "log_date"),),
        _USER_FK,
        stage="workouts",
    )
)
_table(
    TableSpec(
        "sleep_duration_logs",
        _schema(
            ("sleep_log_id", UUID, NN),
            ("user_id", UUID, NN),
            ("log_date", DATE, NN),
            ("sleep_duration_hours", DEC(4, 2), NN),
            ("notes", TEXT, NULL),
            ("created_at", TS, NULL),
        ),
        ("sleep_log_id",),
        (("user_id", "log_date"),),
        _USER_FK,
        stage="workouts",
    )
)
_table(
    TableSpec(
        "weight_logs",
        _schema(
            ("weight_log_id", UUID, NN),
            ("user_id", UUID, NN),
            ("logged_at", TS, NN),
            ("weight_kg", DEC(5, 2), NN),
            ("body_fat_percentage", DEC(4, 1), NULL),
            ("notes", TEXT, NULL),
        ),
        ("weight_log_id",),
        (),
        _USER_FK,
        stage="workouts",
    )
)


# ------------------------------------------------------------------------ row rules
# What a value may be, as the app database would declare it (CHECK constraints). Portable SQL; timestamps
# and dates compare correctly as ISO text. Cross-table rules (a workout's plan belongs to its user, ...)
# need more than a CHECK: see synth/sqlite.py.
_LEVELS = "'sedentary', 'lightly_active', 'moderately_active', 'very_active', 'extra_active'"
_SEVERITY = "severity IN ('mild', 'moderate', 'severe')"
CHECKS: dict[str, tuple[str, ...]] = {
    "users": ("email LIKE '_%@_%._%'",),
    "user_profiles": (
        "sex IN ('female', 'male')",
        "height_cm BETWEEN 120 AND 230",
        f"activity_level IN ({_LEVELS})",
        "date_of_birth < updated_at",
    ),
    "user_goals": ("priority >= 1",),
    "user_conditions": (_SEVERITY,),
    "user_medications": ("end_date IS NULL OR end_date >= start_date",),
    "user_allergies": (_SEVERITY,),
    "calorie_targets": (
        "maintenance_calories BETWEEN 800 AND 6000",
        "effective_to IS NULL OR effective_to >= effective_from",
    ),
    "sleep_targets": (
        "target_sleep_hours BETWEEN 4 AND 12",
        "effective_to IS NULL OR effective_to >= effective_from",
    ),
    "plan_exercises": ("position >= 1",),
    "plan_sets": (
        "set_number >= 1",
        "target_reps > 0",
        "target_weight IS NULL OR target_weight > 0",
        "target_rir IS NULL OR target_rir BETWEEN 0 AND 10",
        "rest_seconds >= 0",
    ),
    "workouts": ("ended_at > started_at",),
    "workout_exercises": ("position >= 1",),
    "workout_sets": (
        "set_number >= 1",
        "reps >= 0",
        "weight IS NULL OR weight >= 0",
        "rir IS NULL OR rir BETWEEN 0 AND 10",
    ),
    "calorie_intake_logs": ("calories_consumed >= 0",),
    "sleep_duration_logs": ("sleep_duration_hours > 0 AND sleep_duration_hours <= 24",),
    "weight_logs": (
        "weight_kg BETWEEN 20 AND 400",
        "body_fat_percentage IS NULL OR body_fat_percentage BETWEEN 2 AND 75",
    ),
}
for _name, _checks in CHECKS.items():
    TABLES[_name] = replace(TABLES[_name], checks=_checks)


def tables_for(stage: str) -> list[str]:
    return [name for name, spec in TABLES.items() if spec.stage == stage]


def conform(name: str, table: pa.Table) -> pa.Table:
    """Reorder and cast a generated table to the declared schema (fails loudly on a mismatch)."""
    schema = TABLES[name].schema
    return table.select(schema.names).cast(schema)
