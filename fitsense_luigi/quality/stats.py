"""ComputeStats: per table and per split statistics in the spirit of TFDV."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)


def column_stats(column: pa.ChunkedArray) -> dict[str, Any]:
    kind = column.type
    out: dict[str, Any] = {"type": str(kind), "count": len(column), "missing": column.null_count}
    if isinstance(kind, pa.BaseExtensionType):
        out["distinct"] = len(pc.unique(column.combine_chunks().storage))
        return out
    if pa.types.is_decimal(kind):
        column = column.cast(pa.float64())
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        values = column.drop_null().to_numpy()
        if values.size:
            out["quantiles"] = dict(
                zip([str(q) for q in QUANTILES], np.quantile(values, QUANTILES).round(4).tolist(), strict=True)
            )
            out["mean"] = round(float(values.mean()), 4)
            out["std"] = round(float(values.std()), 4)
        return out
    if pa.types.is_string(column.type):
        values = column.drop_null()
        counts = pc.value_counts(values).to_pylist()
        counts.sort(key=lambda d: (-d["counts"], d["values"]))
        out["distinct"] = len(counts)
        out["top_values"] = [{"value": d["values"], "count": d["counts"]} for d in counts[:5]]
        lengths = pc.utf8_length(values).to_numpy() if len(values) else np.array([0])
        out["length"] = {
            "min": int(lengths.min()),
            "mean": round(float(lengths.mean()), 2),
            "max": int(lengths.max()),
        }
        return out
    if pa.types.is_boolean(column.type):
        out["true"] = int(pc.sum(column).as_py() or 0)
        return out
    if pa.types.is_temporal(column.type):
        values = column.drop_null()
        if len(values):
            out["min"] = str(pc.min(values).as_py())
            out["max"] = str(pc.max(values).as_py())
    return out


def table_stats(world: dict[str, pa.Table]) -> dict[str, Any]:
    return {
        name: {"rows": t.num_rows, "columns": {c: column_stats(t[c]) for c in t.column_names}}
        for name, t in world.items()
    }


def split_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    lengths = np.array([len(r["response"]) for r in rows] or [0])
    words = np.array([len(r["response"].split()) for r in rows] or [0])
    tags: dict[str, Counter] = {}
    for r in rows:
        for key, value in r["context"]["slice_tags"].items():
            tags.setdefault(key, Counter())[value] += 1
    return {
        "count": len(rows),
        "distinct_users": len({r["user_id"] for r in rows}),
        "prompt_type": dict(Counter(r["context"]["prompt_type"] for r in rows)),
        "slice_tags": {k: dict(v) for k, v in sorted(tags.items())},
        "response_chars": dict(zip([str(q) for q in QUANTILES], np.quantile(lengths, QUANTILES).tolist(), strict=True)),
        "response_words_mean": round(float(words.mean()), 2),
    }


def compute_stats(world: dict[str, pa.Table], dataset: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "tables": table_stats(world),
        "splits": {name: split_stats(dataset[name]) for name in ("all_records", "train", "val", "test")},
        "rejected": {
            "count": len(dataset["rejected"]),
            "by_reason": dict(Counter(r["reason"] for r in dataset["rejected"])),
        },
    }
