"""Statistics of the world's tables, column by column, out of core.

Each column is reduced by DuckDB to its value counts (``contracts.world_sql``:
streaming, memory capped by a setting), and the statistics are read off the
counts: min, max, the 101 percentiles (exact order statistics, interpolated as
``np.quantile`` does), mean and standard deviation weighted by the counts. The
counts are as many as the column has distinct values, which the domain bounds
whatever the number of users: reps, loads and days take few values, and even a
timestamp takes at most one per second of the look-back window. Strings that
are free text report their distinct count and most frequent values; their
lengths and word counts are value counts too. The figures are those
:func:`.feature_stats.feature_stats` gives for the same column in memory (mean
and standard deviation can differ in the last bits of a float: they are summed
per distinct value, and reported to 6 significant digits).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fitsense_luigi.contracts.world import World
from fitsense_luigi.contracts.world_sql import Limits, WorldSQL, open_world
from fitsense_luigi.quality.stats.feature_stats import (
    PERCENTILES,
    QUANTILES,
    _round,
    _top,
    days_before,
    kind_of_type,
)
from fitsense_luigi.quality.stats.features import TOKEN


def table_stats(
    world: World, as_of: dt.date, limits: Limits | None = None
) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """(statistics per table, schema per table)."""
    stats, schemas = {}, {}
    with open_world(world, limits) as db:
        for name in world.names():
            schema = world.schema(name)
            rows = db.one(f'SELECT count(*) FROM "{name}"')[0]
            stats[name] = {"rows": rows, "features": {f.name: column_stats(db, name, f, rows, as_of) for f in schema}}
            schemas[name] = {f.name: str(f.type) for f in schema}
    return stats, schemas


def column_stats(db: WorldSQL, table: str, field: pa.Field, rows: int, as_of: dt.date) -> dict[str, Any]:
    column = f'"{field.name}"'
    filled, distinct = db.one(f'SELECT count({column}), count(DISTINCT {column}) FROM "{table}"')
    kind = _kind(field, distinct)
    missing = rows - filled
    out: dict[str, Any] = {
        "kind": kind,
        "type": str(field.type),
        "count": rows,
        "missing": missing,
        "missing_ratio": round(missing / rows, 4) if rows else 0.0,
    }
    counts = f'SELECT {column} AS v, count(*) AS n FROM "{table}" WHERE {column} IS NOT NULL GROUP BY ALL'
    if kind == "identifier":
        out["distinct"] = distinct
    elif kind == "numeric":
        found = db.arrow(counts)
        values, weights = _merged(pc.cast(found["v"], pa.float64()).to_numpy(zero_copy_only=False), found["n"])
        out["distinct"] = int(values.size)
        out["zeros"] = int(weights[values == 0].sum())
        if values.size:
            out.update(weighted_distribution(values, weights))
    elif kind == "temporal":
        found = db.arrow(counts)
        if found.num_rows:
            values, weights = _merged(days_before(found["v"], as_of), found["n"])
            out.update(
                first=str(pc.min(found["v"]).as_py()),
                last=str(pc.max(found["v"]).as_py()),
                days_before_as_of=weighted_distribution(values, weights),
            )
    elif kind in ("categorical", "text"):
        out.update(_strings(db, table, field, kind, distinct))
    return out


def _kind(field: pa.Field, distinct: int) -> str:
    """:func:`.feature_stats.kind_of` for a column whose distinct non-null values were counted."""
    return kind_of_type(field.name, field.type, lambda: distinct)


def _strings(db: WorldSQL, table: str, field: pa.Field, kind: str, distinct: int) -> dict[str, Any]:
    column = f'"{field.name}"'
    source = f'FROM "{table}" WHERE {column} IS NOT NULL'
    if pa.types.is_boolean(field.type):
        true, false = db.one(f"SELECT count(*) FILTER (WHERE {column}), count(*) FILTER (WHERE NOT {column}) {source}")
        counts = {k: v for k, v in (("true", true), ("false", false)) if v}
        top = _top(counts)
        return {"distinct": len(counts), "top_values": top, "value_counts": dict(sorted(counts.items()))}
    if kind == "categorical":
        counts = dict(db.rows(f"SELECT {column}, count(*) {source} GROUP BY ALL"))
        top = _top(counts)
    else:  # free text: only values that repeat are worth showing, and only their start
        ranked = db.rows(f"SELECT {column}, count(*) AS n {source} GROUP BY ALL ORDER BY n DESC, {column} LIMIT 5")
        top = [{"value": value[:120], "count": count} for value, count in ranked if count > 1]
    out: dict[str, Any] = {"distinct": distinct, "top_values": top}
    if kind == "categorical":
        out["value_counts"] = dict(sorted(counts.items()))
    if distinct:
        out["length"] = _distribution_of(db, f"length({column})", source)
        if kind == "text":
            out["tokens"] = _distribution_of(db, f"len(regexp_extract_all({column}, '{TOKEN}'))", source)
    return out


def _distribution_of(db: WorldSQL, expression: str, source: str) -> dict[str, Any]:
    found = db.arrow(f"SELECT {expression} AS v, count(*) AS n {source} GROUP BY ALL")
    return weighted_distribution(*_merged(found["v"].to_numpy(), found["n"]))


def _merged(numbers: np.ndarray, counts: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Value counts as sorted distinct floats and their counts (distinct raw values may meet as one float)."""
    order = np.argsort(numbers, kind="stable")
    numbers, weights = numbers[order].astype(float), counts.to_numpy().astype(np.int64)[order]
    if numbers.size == 0:
        return numbers, weights
    starts = np.flatnonzero(np.r_[True, numbers[1:] != numbers[:-1]])
    return numbers[starts], np.add.reduceat(weights, starts)


def weighted_distribution(values: np.ndarray, counts: np.ndarray) -> dict[str, Any]:
    """:func:`.feature_stats.distribution` of a column given as sorted distinct values and their counts."""
    n = int(counts.sum())
    ends = np.cumsum(counts)

    def order_statistic(k: np.ndarray) -> np.ndarray:
        return values[np.searchsorted(ends, k, side="right")]

    position = PERCENTILES * (n - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    points = order_statistic(low) + (order_statistic(high) - order_statistic(low)) * (position - low)
    mean = float(np.dot(values, counts) / n)
    std = float(np.sqrt(np.dot((values - mean) ** 2, counts) / n))
    named = {f"p{round(q * 100)}": _round(points[round(q * 100)]) for q in QUANTILES}
    return {
        "min": _round(values[0]),
        "max": _round(values[-1]),
        "mean": _round(mean),
        "std": _round(std),
        "quantiles": named,
        "percentiles": [_round(v) for v in points],
    }
