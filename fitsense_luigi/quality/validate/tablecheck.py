"""Relational checks over the world's tables: the constraints a database loader would enforce.

Each check is a query DuckDB answers over the Parquet files (``contracts.world_sql``),
streaming and within its memory limit, so checking hundreds of millions of rows
costs a scan and a hash join, not memory. Every check says how many rows it
looked at, how many broke the rule and shows the first few of them (in the
order the table is stored) by key, so that a failure can be found in the data
without rerunning anything.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from typing import Any

from fitsense_luigi.contracts.world_sql import WorldSQL
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


def quoted(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def examples(db: WorldSQL, table: str, where: str, columns: Sequence[str], *, joins: str = "") -> list[dict[str, Any]]:
    """The first EXAMPLES rows of ``table`` (alias ``t``) matching ``where``, in stored order, as printable values."""
    select = ", ".join(f't."{c}"' for c in columns)
    sql = f'SELECT {select} FROM "{table}__pos" t {joins} WHERE {where} ORDER BY t._pos LIMIT {EXAMPLES}'
    return [{k: _printable(v) for k, v in row.items()} for row in db.arrow(sql).to_pylist()]


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


def present(columns: Sequence[str], alias: str = "") -> str:
    """SQL: rows whose key columns are all filled (UNIQUE and FOREIGN KEY ignore rows with a NULL key)."""
    prefix = f"{alias}." if alias else ""
    return " AND ".join(f'{prefix}"{c}" IS NOT NULL' for c in columns) or "TRUE"


def table_checks(db: WorldSQL) -> list[dict[str, Any]]:
    """NN, PK, UQ and FK of every table, as the app database's loader would enforce them."""
    out = []
    for name, spec in TABLES.items():
        ident = identifying_columns(name)
        missing = ", ".join(f"count(*) - count({quoted([c])})" for c in spec.not_null) or "0"
        nulls = db.one(f'SELECT count(*), {missing} FROM "{name}"')
        rows = nulls[0]
        for column, count in zip(spec.not_null, nulls[1:], strict=False):
            shown = examples(db, name, f't."{column}" IS NULL', ident) if count else []
            out.append(check(f"{name}.{column} not null", "not null", count == 0, count, rows, shown))
        for key in ([spec.primary_key] if spec.primary_key else []) + list(spec.unique):
            distinct = f"count(DISTINCT {quoted(key)})" if len(key) == 1 else f"count(DISTINCT ({quoted(key)}))"
            checked, distinct = db.one(f'SELECT count(*), {distinct} FROM "{name}" WHERE {present(key)}')
            repeats = checked - distinct
            shown = _repeats(db, name, key) if repeats else []
            kind = "primary key" if key == spec.primary_key else "unique"
            out.append(check(f"{name} {kind} ({', '.join(key)})", kind, repeats == 0, repeats, checked, shown))
        for column, parent, parent_column in spec.foreign_keys:
            orphan = f'NOT EXISTS (SELECT 1 FROM "{parent}" p WHERE p."{parent_column}" = t."{column}")'
            checked, missing = db.one(
                f'SELECT count(*), count(*) FILTER (WHERE {orphan}) FROM "{name}" t WHERE t."{column}" IS NOT NULL'
            )
            where = f't."{column}" IS NOT NULL AND {orphan}'
            shown = examples(db, name, where, sorted({column, *ident})) if missing else []
            out.append(
                check(
                    f"{name}.{column} -> {parent}.{parent_column}",
                    "foreign key",
                    missing == 0,
                    missing,
                    checked,
                    shown,
                )
            )
    return out


def _repeats(db: WorldSQL, name: str, key: Sequence[str]) -> list[dict[str, Any]]:
    """The first rows whose key also occurs on an earlier row."""
    ranked = (
        f"SELECT {quoted(key)}, _pos, row_number() OVER (PARTITION BY {quoted(key)} ORDER BY _pos) AS _nth "
        f'FROM "{name}__pos" WHERE {present(key)}'
    )
    sql = f"SELECT {quoted(key)} FROM ({ranked}) WHERE _nth > 1 ORDER BY _pos LIMIT {EXAMPLES}"
    return [{k: _printable(v) for k, v in row.items()} for row in db.arrow(sql).to_pylist()]
