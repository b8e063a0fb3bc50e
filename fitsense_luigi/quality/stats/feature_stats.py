"""ComputeStats: per table and per split feature statistics in the spirit of TensorFlow Data Validation.

Every feature gets a kind and the statistics that kind supports:

- ``numeric`` (integers, floats, decimals): min, max, mean, std, zeros, quantiles;
- ``categorical`` (booleans, text with at most MAX_CATEGORIES distinct values):
  top values and the full value counts, plus string lengths;
- ``text`` (other strings): top values, string length and token count quantiles;
- ``temporal`` (dates, timestamps): first and last value, and the age of each
  value in days before the as-of date (so daily runs compare like with like);
- ``identifier`` (UUIDs): distinct count only.

Besides the readable quantiles, each distribution is kept as 101 percentiles
and each categorical feature with all its counts: the next run's drift check
compares against exactly these (see :mod:`fitsense_luigi.quality.anomalies.drift`).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fitsense_luigi.contracts.splits import ALL_RECORDS, RECORD_FILES, REJECTED
from fitsense_luigi.contracts.world import World
from fitsense_luigi.quality.stats.features import IDENTIFIERS, TEXT, TOKEN, record_table, records_schema

MAX_CATEGORIES = 50
TOP_VALUES = 10
QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
PERCENTILES = np.linspace(0.0, 1.0, 101)
SPLITS = RECORD_FILES  # all_records, then the splits


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def percentiles(ordered: np.ndarray) -> np.ndarray:
    """np.quantile's default (linear) percentiles, read off an already sorted array: one sort serves all."""
    position = PERCENTILES * (ordered.size - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, ordered.size - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def distribution(values: np.ndarray, *, ordered: bool = False) -> dict[str, Any]:
    """Readable quantiles plus the 101 percentiles drift is measured on."""
    values = values.astype(float)
    if not ordered:
        values = np.sort(values)
    points = percentiles(values)
    named = {f"p{round(q * 100)}": _round(points[round(q * 100)]) for q in QUANTILES}
    return {
        "min": _round(values.min()),
        "max": _round(values.max()),
        "mean": _round(values.mean()),
        "std": _round(values.std()),
        "quantiles": named,
        "percentiles": [_round(v) for v in points],
    }


def kind_of(name: str, column: pa.ChunkedArray) -> str:
    kind = column.type
    if isinstance(kind, pa.BaseExtensionType) or pa.types.is_fixed_size_binary(kind) or name in IDENTIFIERS:
        return "identifier"
    if pa.types.is_boolean(kind):
        return "categorical"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "numeric"
    if pa.types.is_temporal(kind):
        return "temporal"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        if name in TEXT:
            return "text"
        distinct = pc.count_distinct(column).as_py()
        return "categorical" if distinct <= MAX_CATEGORIES else "text"
    return "other"


def feature_stats(name: str, column: pa.ChunkedArray, as_of: dt.date, tokens: bool = True) -> dict[str, Any]:
    kind = kind_of(name, column)
    count = len(column)
    present = column.drop_null()
    out: dict[str, Any] = {
        "kind": kind,
        "type": str(column.type),
        "count": count,
        "missing": column.null_count,
        "missing_ratio": round(column.null_count / count, 4) if count else 0.0,
    }
    if kind == "identifier":
        storage = present.combine_chunks()
        storage = storage.storage if isinstance(storage.type, pa.BaseExtensionType) else storage
        out["distinct"] = pc.count_distinct(storage).as_py() if len(storage) else 0
    elif kind == "numeric":
        numbers = np.sort(present.cast(pa.float64()).to_numpy()) if len(present) else np.zeros(0)
        out["distinct"] = int(numbers.size and 1 + np.count_nonzero(numbers[1:] != numbers[:-1]))
        out["zeros"] = int((numbers == 0).sum())
        if numbers.size:
            out.update(distribution(numbers, ordered=True))
    elif kind == "temporal":
        out.update(_temporal(present, as_of))
    elif kind in ("categorical", "text"):
        out.update(_categories(present, kind, tokens))
    return out


def _temporal(present: pa.ChunkedArray, as_of: dt.date) -> dict[str, Any]:
    if not len(present):
        return {}
    if pa.types.is_date32(present.type):
        days = present.cast(pa.int32()).to_numpy().astype(float)
    else:
        days = present.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy() / 86_400e6
    before = float((as_of - dt.date(1970, 1, 1)).days + 1) - days  # days before the end of the as-of day
    return {
        "first": str(pc.min(present).as_py()),
        "last": str(pc.max(present).as_py()),
        "days_before_as_of": distribution(before),
    }


def _categories(present: pa.ChunkedArray, kind: str, tokens: bool = True) -> dict[str, Any]:
    if pa.types.is_boolean(present.type):
        counts = Counter({"true": int(pc.sum(present).as_py() or 0)})
        counts["false"] = len(present) - counts["true"]
        counts = Counter({k: v for k, v in counts.items() if v})
        return {"distinct": len(counts), "top_values": _top(counts), "value_counts": dict(sorted(counts.items()))}
    pairs = pc.value_counts(present).to_pylist() if len(present) else []
    counts = Counter({str(p["values"]): int(p["counts"]) for p in pairs})
    if kind == "text":  # free text: only values that repeat are worth showing, and only their start
        top = [{"value": t["value"][:120], "count": t["count"]} for t in _top(counts, 5) if t["count"] > 1]
    else:
        top = _top(counts)
    out: dict[str, Any] = {"distinct": len(counts), "top_values": top}
    if kind == "categorical":
        out["value_counts"] = dict(sorted(counts.items()))
    if len(present):
        out["length"] = distribution(pc.utf8_length(present).to_numpy())
        if kind == "text" and tokens:
            out["tokens"] = distribution(pc.count_substring_regex(present, TOKEN).to_numpy())
    return out


def _top(counts: Counter[str], limit: int = TOP_VALUES) -> list[dict[str, Any]]:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"value": value, "count": count} for value, count in ranked[:limit]]


def table_stats(world: World, as_of: dt.date) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """(statistics per table, schema per table), one table in memory at a time."""
    stats, schemas = {}, {}
    for name in world.names():
        table = world.table(name)
        stats[name] = {
            "rows": table.num_rows,
            "features": {c: feature_stats(c, table[c], as_of) for c in table.column_names},
        }
        schemas[name] = {f.name: str(f.type) for f in table.schema}
        del table
    return stats, schemas


def split_stats(table: pa.Table, as_of: dt.date) -> dict[str, Any]:
    """Statistics of one split's feature table (token counts are its own ``*_tokens`` columns)."""
    return {
        "count": table.num_rows,
        "users": pc.count_distinct(table["user_id"]).as_py() if table.num_rows else 0,
        "features": {c: feature_stats(c, table[c], as_of, tokens=False) for c in table.column_names if c != "user_id"},
    }


def compute_stats(world: World, dataset: dict[str, list[dict[str, Any]]], as_of: dt.date) -> dict[str, Any]:
    tables, table_schemas = table_stats(world, as_of)
    records = record_table(dataset[ALL_RECORDS])  # the splits together (each record once: checked by ValidateData)
    rejected = dataset[REJECTED]
    return {
        "as_of_date": as_of.isoformat(),
        "tables": tables,
        "splits": {
            name: split_stats(
                records if name == ALL_RECORDS else records.filter(pc.equal(records["split"], name)), as_of
            )
            for name in SPLITS
        },
        "rejected": {
            "count": len(rejected),
            "by_reason": dict(sorted(Counter(r.get("reason", "?") for r in rejected).items())),
            "by_prompt_type": dict(sorted(Counter(r.get("prompt_type", "?") for r in rejected).items())),
        },
        "schema": {"tables": table_schemas, "records": records_schema(dataset[ALL_RECORDS])},
    }
