"""The app schema as SQL, and a loader that puts a run's 23 tables into SQLite with every constraint enforced.

The DDL is generated from ``schema.TABLES`` (the same declaration the
generators and the quality checks use): types, NOT NULL, PRIMARY KEY, UNIQUE,
FOREIGN KEY and the row CHECKs. The implied cross-table rules of
``shared/reference/fitsense_schema.md`` are declared too, so the database
itself rejects a violation:

* a workout's plan belongs to the workout's user: a composite foreign key
  ``workouts(plan_id, user_id) -> workout_plans(plan_id, user_id)``;
* a workout exercise's plan exercise belongs to that workout's plan: a trigger.

Loading with ``PRAGMA foreign_keys = ON`` in parent-before-child order makes
SQLite check every row as it arrives. Use it to demo the app on synthetic data:

    python -m fitsense_luigi.pipeline.sqlite --data-root data --run-id 2026-02-17 fitsense.db
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fitsense_luigi import ids
from fitsense_luigi.synth.schema import TABLES, TableSpec

# Extra declarations for the implied rules (added to the tables' own constraints).
_EXTRA_UNIQUE = {"workout_plans": (("plan_id", "user_id"),)}
_EXTRA_FOREIGN = {"workouts": ((("plan_id", "user_id"), "workout_plans", ("plan_id", "user_id")),)}
_TRIGGERS = (
    """CREATE TRIGGER workout_exercise_in_workout_plan BEFORE INSERT ON workout_exercises
WHEN NEW.plan_exercise_id IS NOT NULL
 AND (SELECT plan_id FROM plan_exercises WHERE plan_exercise_id = NEW.plan_exercise_id)
     IS NOT (SELECT plan_id FROM workouts WHERE workout_id = NEW.workout_id)
BEGIN
  SELECT RAISE(ABORT, 'workout_exercises.plan_exercise_id must belong to the plan of its workout');
END""",
)


def sql_type(kind: pa.DataType) -> str:
    """The app's logical type, spelled so that SQLite gives it the right affinity."""
    if isinstance(kind, pa.BaseExtensionType):
        return "CHAR(36)"  # uuid in canonical text form (TEXT affinity in SQLite)
    if pa.types.is_decimal(kind):
        return f"DECIMAL({kind.precision},{kind.scale})"
    if pa.types.is_timestamp(kind):
        return "TIMESTAMP"
    if pa.types.is_date(kind):
        return "DATE"
    if pa.types.is_boolean(kind):
        return "BOOLEAN"
    if pa.types.is_integer(kind):
        return "INTEGER"
    return "TEXT"


def _column(field: pa.Field) -> str:
    parts = [field.name, sql_type(field.type)]
    if not field.nullable:
        parts.append("NOT NULL")
    if isinstance(field.type, pa.BaseExtensionType):
        parts.append(f"CHECK (length({field.name}) = 36)")
    if pa.types.is_boolean(field.type):
        parts.append(f"CHECK ({field.name} IN (0, 1))")
    return " ".join(parts)


def create_table(spec: TableSpec) -> str:
    lines = [_column(f) for f in spec.schema]
    if spec.primary_key:
        lines.append(f"PRIMARY KEY ({', '.join(spec.primary_key)})")
    for unique in (*spec.unique, *_EXTRA_UNIQUE.get(spec.name, ())):
        lines.append(f"UNIQUE ({', '.join(unique)})")
    for column, parent, parent_column in spec.foreign_keys:
        lines.append(f"FOREIGN KEY ({column}) REFERENCES {parent} ({parent_column})")
    for columns, parent, parent_columns in _EXTRA_FOREIGN.get(spec.name, ()):
        lines.append(f"FOREIGN KEY ({', '.join(columns)}) REFERENCES {parent} ({', '.join(parent_columns)})")
    lines.extend(f"CHECK ({rule})" for rule in spec.checks)
    body = ",\n  ".join(lines)
    return f"CREATE TABLE {spec.name} (\n  {body}\n)"


def load_order() -> list[str]:
    """Parents before children, so that foreign keys are checked row by row on insert."""
    done: list[str] = []
    pending = list(TABLES)
    while pending:
        for name in pending:
            parents = {p for _, p, _ in TABLES[name].foreign_keys if p != name}
            if parents <= set(done):
                done.append(name)
                pending.remove(name)
                break
        else:
            raise ValueError(f"foreign keys form a cycle among {pending}")
    return done


def ddl() -> list[str]:
    return [create_table(TABLES[name]) for name in load_order()] + list(_TRIGGERS)


def connect(path: str | Path = ":memory:") -> sqlite3.Connection:
    connection = sqlite3.connect(str(path))
    connection.execute("PRAGMA foreign_keys = ON")
    for statement in ddl():
        connection.execute(statement)
    return connection


def sql_values(column: pa.Array | pa.ChunkedArray) -> list:
    """One Arrow column as Python values SQLite stores: uuid and dates as text, decimals as numbers."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    if isinstance(kind, pa.BaseExtensionType):
        filled = pc.fill_null(column.storage, pa.scalar(b"\0" * 16, kind.storage_type))
        values = ids.to_strings(ids.from_arrow(filled)).astype(object)
    elif pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        unit = "D" if pa.types.is_date(kind) else "us"
        values = np.datetime_as_string(column.to_numpy(zero_copy_only=False), unit=unit).astype(object)
    elif pa.types.is_decimal(kind):
        values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False).astype(object)
    elif pa.types.is_boolean(kind) or pa.types.is_integer(kind):
        values = pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False).astype(object)
    else:
        values = np.array(column.to_pylist(), dtype=object)
    values[~valid] = None
    return values.tolist()


def insert(connection: sqlite3.Connection, name: str, table: pa.Table) -> None:
    names = TABLES[name].schema.names
    columns = [sql_values(table[c]) for c in names]
    marks = ", ".join("?" * len(names))
    connection.executemany(f"INSERT INTO {name} ({', '.join(names)}) VALUES ({marks})", zip(*columns, strict=True))


def load(connection: sqlite3.Connection, world: dict[str, pa.Table] | Iterable[tuple[str, pa.Table]]) -> None:
    """Insert every table in parent-before-child order inside one transaction."""
    tables = dict(world) if not isinstance(world, dict) else world
    with connection:
        for name in load_order():
            insert(connection, name, tables[name])
