"""Relational checks over Arrow tables: the constraints a database loader would enforce.

Keys are compared as fixed-width byte rows (numpy void views), so checking
millions of rows costs a sort, not a Python loop. Every check says how many rows
it looked at, how many broke the rule and shows a few of them by key, so that a
failure can be found in the data without rerunning anything.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fitsense_luigi.contracts.world import World
from fitsense_luigi.synth.schema import TABLES

EXAMPLES = 5


def check(
    name: str,
    category: str,
    passed: bool,
    count: int,
    checked: int,
    examples: Sequence[Any] = (),
    *,
    severity: str = "error",
    **extra: Any,
) -> dict[str, Any]:
    """One reported check: ``count`` offending items out of ``checked``, with up to EXAMPLES of them."""
    return {
        "check": name,
        "category": category,
        "passed": bool(passed),
        "severity": severity,
        "count": int(count),
        "checked": int(checked),
        "examples": list(examples)[:EXAMPLES],
        **extra,
    }


def _storage(column: pa.Array) -> pa.Array:
    return column.storage if isinstance(column.type, pa.BaseExtensionType) else column


def key_rows(table: pa.Table, columns: Sequence[str]) -> np.ndarray:
    """One opaque fixed-width value per row, equal iff the key columns are equal.

    UUIDs, numbers and dates compare across tables (foreign keys); text columns are
    dictionary codes that compare only within the one table they came from.
    """
    parts = []
    for name in columns:
        column = _storage(table[name].combine_chunks())
        if pa.types.is_fixed_size_binary(column.type):
            width = column.type.byte_width
            data = np.frombuffer(column.buffers()[1], np.uint8)[column.offset * width :]
            parts.append(data[: len(column) * width].reshape(len(column), -1))
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            # equal strings get equal dictionary codes within this one column
            codes = pc.dictionary_encode(column).indices.to_numpy(zero_copy_only=False)
            parts.append(codes.astype(np.int64).view(np.uint8).reshape(-1, 8))
        else:
            if pa.types.is_date32(column.type):
                values = column.view(pa.int32())
            elif pa.types.is_timestamp(column.type) or pa.types.is_date64(column.type):
                values = column.view(pa.int64())
            else:
                values = column.cast(pa.int64())
            parts.append(values.to_numpy(zero_copy_only=False).astype(np.int64).view(np.uint8).reshape(-1, 8))
    joined = np.ascontiguousarray(np.hstack(parts)) if parts else np.zeros((table.num_rows, 0), np.uint8)
    return joined.view(np.dtype((np.void, joined.shape[1]))).ravel()


def lookup(parent_keys: np.ndarray, parent_values: np.ndarray, child_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised dict lookup: (value for each child key, whether the key was found)."""
    if parent_keys.size == 0:
        return np.zeros(child_keys.size, parent_values.dtype), np.zeros(child_keys.size, bool)
    order = np.argsort(parent_keys, kind="stable")
    sorted_keys = parent_keys[order]
    pos = np.clip(np.searchsorted(sorted_keys, child_keys), 0, sorted_keys.size - 1)
    found = sorted_keys[pos] == child_keys
    return parent_values[order][pos], found


def duplicated_rows(keys: np.ndarray) -> np.ndarray:
    """Positions of the rows whose key also occurs on an earlier row."""
    if keys.size == 0:
        return np.zeros(0, np.int64)
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    repeat = np.zeros(keys.size, bool)
    repeat[1:] = ordered[1:] == ordered[:-1]
    return np.sort(order[repeat])


def render(table: pa.Table, positions: np.ndarray | Sequence[int], columns: Sequence[str]) -> list[dict[str, Any]]:
    """Up to EXAMPLES rows as {column: printable value}, for the report."""
    taken = table.select(list(columns)).take(pa.array(np.asarray(positions[:EXAMPLES], dtype=np.int64)))
    return [{k: _printable(v) for k, v in row.items()} for row in taken.to_pylist()]


def _printable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def identifying_columns(name: str) -> tuple[str, ...]:
    """The columns that name a row of ``name`` in examples: its primary key, else its first unique key."""
    spec = TABLES[name]
    return spec.primary_key or (spec.unique[0] if spec.unique else tuple(spec.schema.names[:2]))


def not_null_present(table: pa.Table, columns: Sequence[str]) -> pa.Array:
    """Rows whose key columns are all filled (SQL: UNIQUE and FOREIGN KEY ignore rows with a NULL key)."""
    mask = pa.array(np.ones(table.num_rows, bool))
    for name in columns:
        mask = pc.and_(mask, pc.is_valid(table[name]))
    return mask


def table_checks(world: World) -> list[dict[str, Any]]:
    """NN, PK, UQ and FK of every table, as the app database's loader would enforce them."""
    out = []
    for name, spec in TABLES.items():
        ident = identifying_columns(name)
        for column in spec.not_null:
            table = world.table(name, sorted({column, *ident}))
            nulls = np.flatnonzero(table[column].is_null().to_numpy(zero_copy_only=False))
            out.append(
                check(
                    f"{name}.{column} not null",
                    "not null",
                    nulls.size == 0,
                    nulls.size,
                    table.num_rows,
                    render(table, nulls, ident),
                )
            )
        for key in ([spec.primary_key] if spec.primary_key else []) + list(spec.unique):
            table = world.table(name, list(key))
            table = table.filter(not_null_present(table, key))
            repeats = duplicated_rows(key_rows(table, key))
            kind = "primary key" if key == spec.primary_key else "unique"
            out.append(
                check(
                    f"{name} {kind} ({', '.join(key)})",
                    kind,
                    repeats.size == 0,
                    repeats.size,
                    table.num_rows,
                    render(table, repeats, key),
                )
            )
        for column, parent, parent_column in spec.foreign_keys:
            table = world.table(name, sorted({column, *ident}))
            table = table.filter(pc.is_valid(table[column]))
            parent_keys = key_rows(world.table(parent, [parent_column]), (parent_column,))
            _, found = lookup(parent_keys, parent_keys, key_rows(table, (column,)))
            missing = np.flatnonzero(~found)
            out.append(
                check(
                    f"{name}.{column} -> {parent}.{parent_column}",
                    "foreign key",
                    missing.size == 0,
                    missing.size,
                    table.num_rows,
                    render(table, missing, sorted({column, *ident})),
                )
            )
    return out
