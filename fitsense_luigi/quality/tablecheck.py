"""Relational checks over Arrow tables: the constraints a database loader would enforce.

Keys are compared as fixed-width byte rows (numpy void views), so checking
millions of rows costs a sort, not a Python loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fitsense_luigi.synth.schema import TABLES

EXAMPLES = 3


def key_rows(table: pa.Table, columns: tuple[str, ...]) -> np.ndarray:
    """One opaque fixed-width value per row, equal iff the key columns are equal."""
    parts = []
    for name in columns:
        column = table[name].combine_chunks()
        if isinstance(column.type, pa.BaseExtensionType):
            column = column.storage
        if pa.types.is_fixed_size_binary(column.type):
            data = np.frombuffer(column.buffers()[1], np.uint8)[column.offset * column.type.byte_width :]
            parts.append(data[: len(column) * column.type.byte_width].reshape(len(column), -1))
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            hashed = np.array([hash(v) for v in column.to_pylist()], dtype=np.int64)
            parts.append(hashed.view(np.uint8).reshape(-1, 8))
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
    order = np.argsort(parent_keys, kind="stable")
    sorted_keys = parent_keys[order]
    pos = np.clip(np.searchsorted(sorted_keys, child_keys), 0, max(sorted_keys.size - 1, 0))
    if sorted_keys.size == 0:
        return parent_values[:0], np.zeros(child_keys.size, bool)
    found = sorted_keys[pos] == child_keys
    return parent_values[order][pos], found


def duplicates(keys: np.ndarray) -> int:
    return int(keys.size - np.unique(keys).size)


def check(name: str, passed: bool, count: int, examples: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "check": name,
        "passed": bool(passed),
        "count": int(count),
        "examples": (examples or [])[:EXAMPLES],
        **extra,
    }


def table_checks(world: dict[str, pa.Table]) -> list[dict[str, Any]]:
    out = []
    for name, spec in TABLES.items():
        table = world[name]
        for column in spec.not_null:
            nulls = table[column].null_count
            out.append(check(f"{name}.{column} not null", nulls == 0, nulls))
        for key in ([spec.primary_key] if spec.primary_key else []) + list(spec.unique):
            dup = duplicates(key_rows(table, key))
            kind = "primary key" if key == spec.primary_key else "unique"
            out.append(check(f"{name} {kind} ({', '.join(key)})", dup == 0, dup))
        for column, parent, parent_column in spec.foreign_keys:
            child = table[column].combine_chunks()
            present = pc.invert(pc.is_null(child))
            child_keys = key_rows(table.filter(present), (column,))
            parent_keys = key_rows(world[parent], (parent_column,))
            _, found = lookup(parent_keys, parent_keys, child_keys)
            missing = ~found
            out.append(check(f"{name}.{column} -> {parent}.{parent_column}", not missing.any(), missing.sum()))
    return out
