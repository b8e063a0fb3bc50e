"""The written Parquet files carry exactly the app's logical types; the exercise catalogue is complete."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import synth_world

from fitsense_luigi.config import load_schema
from fitsense_luigi.reference.catalogue import EXERCISES
from fitsense_luigi.reference.equipment import EQUIPMENT
from fitsense_luigi.reference.tags import HEAVY_SPINAL_LOADING, HIGH_IMPACT, MAXIMAL_VALSALVA
from fitsense_luigi.synth import exercises, plans, training, workouts
from fitsense_luigi.synth.schema import TABLES

LOGICAL = {
    "uuid": lambda t: isinstance(t, pa.BaseExtensionType) and t.extension_name == "arrow.uuid",
    "date": pa.types.is_date32,
    "timestamp": lambda t: pa.types.is_timestamp(t) and t.tz == "UTC",
    "decimal": pa.types.is_decimal,
    "boolean": pa.types.is_boolean,
}


def test_all_23_tables_are_written_with_the_declared_schema():
    run = synth_world.default_world()
    assert len(TABLES) == 23
    for name, spec in TABLES.items():
        written = pq.read_schema(run.path(name))
        assert written.remove_metadata() == spec.schema, name
        assert pq.read_metadata(run.path(name)).num_rows > 0, name


def test_logical_types_are_the_apps():
    kinds = {f"{name}.{f.name}": f.type for name, spec in TABLES.items() for f in spec.schema}
    assert LOGICAL["uuid"](kinds["users.user_id"]) and LOGICAL["uuid"](kinds["workout_sets.workout_exercise_id"])
    assert LOGICAL["date"](kinds["user_profiles.date_of_birth"]) and LOGICAL["date"](
        kinds["calorie_intake_logs.log_date"]
    )
    assert LOGICAL["timestamp"](kinds["workouts.started_at"]) and LOGICAL["timestamp"](kinds["weight_logs.logged_at"])
    assert LOGICAL["decimal"](kinds["user_profiles.height_cm"]) and LOGICAL["decimal"](kinds["workout_sets.weight"])
    assert LOGICAL["boolean"](kinds["workout_sets.is_warmup"]) and LOGICAL["boolean"](kinds["workout_plans.is_active"])


def test_exercise_catalogue_has_forty_tagged_exercises():
    assert len(EXERCISES) >= 40
    for e in EXERCISES:
        assert (
            e.primary_muscle and e.pattern and e.impact in {"low", "moderate", "high"} and e.unit in {"reps", "seconds"}
        )
        assert set(e.equipment) <= set(EQUIPMENT)
    tagged = {tag: {e.name for e in EXERCISES if tag in e.tags} for tag in exercises.TAGS}
    assert "Box Jump" in tagged[HIGH_IMPACT]
    assert "Conventional Deadlift" in tagged[HEAVY_SPINAL_LOADING]
    assert "Barbell Bench Press" in tagged[MAXIMAL_VALSALVA]
    table = synth_world.default_tables()["exercises"].to_pylist()
    notes = {row["name"]: row["notes"] for row in table}
    assert "high_impact" in notes["Box Jump"] and "unit=seconds" in notes["Plank"]


def test_packed_row_keys_never_overflow_their_bits():
    lookback_max = load_schema("params.schema.json")["properties"]["world"]["properties"]["lookback_days"]["maximum"]
    assert lookback_max < 2**workouts.DAY_BITS
    assert plans.MAX_DAYS * plans.MAX_SLOTS <= 2**workouts.PLAN_POSITION_BITS
    assert plans.MAX_SLOTS < 2**workouts.POSITION_BITS
    assert training.MAX_SETS + 3 < 2**workouts.SET_BITS  # working sets plus up to three warm-ups
