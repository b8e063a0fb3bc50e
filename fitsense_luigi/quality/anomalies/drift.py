"""Drift between two runs' statistics: feature distributions and schemas.

Distances are computed from the statistics each run keeps (ComputeStats), not
from the raw data, so a baseline whose data have been cleaned away can still be
compared, and comparing costs nothing at any scale:

- categorical features: L-infinity distance, the largest absolute difference
  between the two runs' shares of any one value (TFDV's measure);
- numeric, temporal and text-length features: Jensen-Shannon divergence (base 2,
  so 0 = identical and 1 = disjoint) between histograms of the two runs'
  101-percentile sketches over shared bins.

Schema drift compares column sets and types per table and the field paths of
the records: a removed field or a changed type breaks readers (critical), an
added one does not (warning). A type that was ``null`` (no value seen) is not a
type change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fitsense_luigi.config import DriftSection
from fitsense_luigi.contracts.splits import ALL_RECORDS

JS_BINS = 20


def linf_distance(before: Mapping[str, int], after: Mapping[str, int]) -> float:
    total_before, total_after = sum(before.values()), sum(after.values())
    if not total_before or not total_after:
        return 0.0 if total_before == total_after else 1.0
    keys = set(before) | set(after)
    return max(abs(before.get(k, 0) / total_before - after.get(k, 0) / total_after) for k in keys)


def js_divergence(before: list[float], after: list[float], bins: int = JS_BINS) -> float:
    """Jensen-Shannon divergence (base 2) between two distributions given as percentile sketches."""
    a, b = np.asarray(before, float), np.asarray(after, float)
    if not a.size or not b.size:
        return 0.0 if a.size == b.size else 1.0
    pooled = np.concatenate([a, b])
    distinct = np.unique(pooled)
    if distinct.size <= bins:  # few values: one bin per value, so atoms on either side never merge
        edges = (distinct[1:] + distinct[:-1]) / 2
    else:
        edges = np.unique(np.quantile(pooled, np.linspace(0, 1, bins + 1)[1:-1]))
    p = np.bincount(np.searchsorted(edges, a, side="left"), minlength=edges.size + 1) / a.size
    q = np.bincount(np.searchsorted(edges, b, side="left"), minlength=edges.size + 1) / b.size
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(max(0.0, min(1.0, (kl_p + kl_q) / 2)))


def _basis(feature: Mapping[str, Any]) -> tuple[str, Any] | None:
    kind = feature.get("kind")
    if kind == "categorical" and "value_counts" in feature:
        return "categorical", feature["value_counts"]
    if kind == "numeric" and "percentiles" in feature:
        return "numeric", feature["percentiles"]
    if kind == "temporal" and "days_before_as_of" in feature:
        return "numeric", feature["days_before_as_of"]["percentiles"]
    if kind == "text" and "length" in feature:
        return "numeric", feature["length"]["percentiles"]
    return None


def _scopes(stats: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    scopes = {f"table {name}": t.get("features", {}) for name, t in stats.get("tables", {}).items()}
    records = stats.get("splits", {}).get(ALL_RECORDS)
    if records:
        scopes["records"] = records.get("features", {})
    return scopes


def feature_drift(
    baseline: Mapping[str, Any], current: Mapping[str, Any], limits: DriftSection
) -> list[dict[str, Any]]:
    """One row per feature both runs describe the same way, with its distance and whether it drifted."""
    before_scopes, rows = _scopes(baseline), []
    for scope, features in _scopes(current).items():
        before_features = before_scopes.get(scope, {})
        for name, feature in features.items():
            now, then = _basis(feature), _basis(before_features.get(name, {}))
            if now is None or then is None or now[0] != then[0]:
                continue
            if now[0] == "categorical":
                measure, distance, threshold = "L-infinity", linf_distance(then[1], now[1]), limits.categorical_linf
            else:
                measure, distance, threshold = "Jensen-Shannon", js_divergence(then[1], now[1]), limits.numeric_js
            basis = (
                "length"
                if feature.get("kind") == "text"
                else "days before as-of"
                if feature["kind"] == "temporal"
                else "value"
            )
            rows.append(
                {
                    "scope": scope,
                    "feature": name,
                    "basis": basis,
                    "measure": measure,
                    "distance": round(distance, 4),
                    "threshold": threshold,
                    "drifted": distance > threshold,
                }
            )
    return rows


def _changes(scope: str, before: Mapping[str, str], after: Mapping[str, str]) -> list[dict[str, Any]]:
    out = []
    for field in sorted(set(before) | set(after)):
        old, new = before.get(field), after.get(field)
        if old == new or "null" in (old, new):
            continue
        if old is None:
            out.append({"scope": scope, "field": field, "change": "added", "after": new, "severity": "warning"})
        elif new is None:
            out.append({"scope": scope, "field": field, "change": "removed", "before": old, "severity": "critical"})
        else:
            out.append(
                {
                    "scope": scope,
                    "field": field,
                    "change": "type changed",
                    "before": old,
                    "after": new,
                    "severity": "critical",
                }
            )
    return out


def schema_drift(baseline: Mapping[str, Any], current: Mapping[str, Any]) -> list[dict[str, Any]]:
    before, after = baseline.get("schema", {}), current.get("schema", {})
    before_tables, after_tables = before.get("tables", {}), after.get("tables", {})
    out = []
    for table in sorted(set(before_tables) | set(after_tables)):
        if table not in after_tables:
            out.append({"scope": "tables", "field": table, "change": "removed", "severity": "critical"})
        elif table not in before_tables:
            out.append({"scope": "tables", "field": table, "change": "added", "severity": "warning"})
        else:
            out += _changes(f"table {table}", before_tables[table], after_tables[table])
    return out + _changes("records", before.get("records", {}), after.get("records", {}))
