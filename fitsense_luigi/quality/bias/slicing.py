"""BiasSlicing: is any group of users served worse than the others?

Slices are the values of ``age_band``, ``sex``, ``goal_type``, ``activity_level``
and ``condition_flag``, and every pairwise intersection of them. Each slice is
compared with the rest of the users on five metrics:

==================  =======  =========================================================
metric              kind     per query
==================  =======  =========================================================
response_chars      numeric  length of the accepted response (what the student learns)
relative_volume     numeric  prescribed sessions per week / the larger of the sessions
                             per week the user completed in the look-back window and
                             the guideline floor of 2 (no plan: not measured)
relative_intensity  numeric  prescribed load / the user's estimated 1RM, averaged over
                             the exercises the user has a recorded max for
rejection_rate      rate     the query produced no training record
safety_flag_rate    rate     the teacher's answer carried a safety flag
refusal_rate        rate     the teacher refused to answer (who gets refused matters most)
==================  =======  =========================================================

Relative volume is measured against the guideline, not against inactivity
(``reference.frequency``). Muscle-strengthening work is advised on 2 or more
days a week (ACSM/AHA 2007; WHO 2020), so a plan that keeps the guidance asks
a user who did 0.5 sessions a week for 2 days: divided by what they did, that
reads as 4 times their volume whatever the coach does, so a slice of inactive
users looks over-served by arithmetic (at 100,000 users, sedentary read 3.79 vs
1.69 for the rest: partly that, partly real jumps the coach then made and the
post-check below now flags). Below the floor the baseline is the floor: 1.0 means
the user was planned the minimum, 2.0 twice the minimum (a fault the post-check
``gradual_frequency_progression`` flags too). Above it the baseline is what the
user did, so a plan one day up from 3 a week reads 1.33. A reply without a
plan (a yes/no question) prescribes no volume and is left out, not counted as 0.

For each slice and metric with at least ``min_slice_size`` observations: the
value with a percentile bootstrap interval (its resamples drawn from a stream of
the run seed keyed by dimension, slice and metric), the value of the rest, a test of
slice against rest (Kruskal-Wallis for numeric metrics, chi-square for rates)
and a disparity ratio. Across dimensions, an omnibus test per dimension and
metric is reported too. All slice p-values of the run form one family and are
Benjamini-Hochberg corrected (q-values).

Which users a slice is compared with depends on whether the difference is
expected. Some dimensions legitimately change a metric
(``quality.bias.explained_by``): a very active user should get more training
days and so a longer answer, a user with a condition more safety notes, a
strength goal heavier loads than an endurance goal. Age band and sex explain
nothing by default. So, per slice and metric:

* no dimension of the slice explains the metric (``female``, ``60+ & male``):
  the slice is compared with the rest of the users;
* some do (``female & extra_active`` for response length): the slice is
  compared with the other users who share those values (the other
  ``extra_active`` users), so that the expected difference cancels out;
* all do (``extra_active`` for response length): the slice is compared with the
  rest and reported, but raises no alert.

Disparity follows the four-fifths rule: for rates, the slice's favourable rate
(accepted, not flagged) over the rest's must not fall below ``disparity_ratio``;
for numeric metrics the ratio of means must stay within [r, 1/r]. A slice
raises ``bias_alert`` only when it is both significant (q < alpha) and
disparate, so neither a tiny-but-significant gap in a huge run nor a large gap
in a noisy small slice trips it alone. Slices below the minimum size are listed,
not tested.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from fitsense_luigi.config import BiasSection, Config
from fitsense_luigi.contracts.rows import SLICE_KEYS, Rows
from fitsense_luigi.quality.bias.significance import (
    CRAMERS_V,
    EPSILON_SQUARED,
    RankedSample,
    benjamini_hochberg,
    bootstrap_mean_interval,
    bootstrap_rate_interval,
    chi_square,
    cramers_v,
    epsilon_squared,
    kruskal_groups,
)
from fitsense_luigi.reference import frequency
from fitsense_luigi.rng import stage_rng

GRID = 1e-3  # ratios are bootstrapped on this grid (exact for lengths); point estimates use exact values


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # numeric | rate
    label: str
    unit: str


METRICS = (
    Metric("response_chars", "numeric", "response length", "chars"),
    Metric("relative_volume", "numeric", "relative volume (sessions prescribed / done)", "x"),
    Metric("relative_intensity", "numeric", "relative intensity (load / est. 1RM)", "x"),
    Metric("rejection_rate", "rate", "rejection rate", ""),
    Metric("safety_flag_rate", "rate", "safety-flag rate", ""),
    Metric("refusal_rate", "rate", "refusal rate", ""),
)


def dimensions() -> list[tuple[str, ...]]:
    return [(k,) for k in SLICE_KEYS] + list(itertools.combinations(SLICE_KEYS, 2))


# ------------------------------------------------------------------ observations


def observations(queries: Rows, responses: Rows, records: Rows) -> dict[str, np.ndarray]:
    """One entry per query: its slice tags and the five metric values (nan where it does not apply)."""
    # each response and record reduced on reading to what the metrics take (the rows would be gigabytes)
    answered = {r["query_id"]: _answer_facts(r) for r in responses}
    kept = {r["metadata"]["query_id"]: _record_facts(r) for r in records}
    n = len(queries)
    out: dict[str, np.ndarray] = {key: np.empty(n, dtype=object) for key in SLICE_KEYS}
    for name in ("response_chars", "relative_volume", "relative_intensity", "rejection_rate", "safety_flag_rate",
                 "refusal_rate"):  # fmt: skip
        out[name] = np.full(n, np.nan)
    for i, query in enumerate(queries):
        tags = query.get("slice_tags") or {}
        for key in SLICE_KEYS:
            out[key][i] = str(tags.get(key, "unknown"))
        record = kept.get(query["query_id"])
        out["rejection_rate"][i] = 0.0 if record is not None else 1.0
        response = answered.get(query["query_id"])
        if response is not None:
            out["safety_flag_rate"][i] = 1.0 if response.get("safety_flags") else 0.0
            out["refusal_rate"][i] = 1.0 if response.get("status") == "refused" else 0.0
        if record is not None:
            out["response_chars"][i], out["relative_volume"][i], out["relative_intensity"][i] = record
    return out


def _answer_facts(response: dict[str, Any]) -> dict[str, Any]:
    return {"safety_flags": bool(response.get("safety_flags")), "status": response.get("status")}


def _record_facts(record: dict[str, Any]) -> tuple[float, float, float]:
    """(response length, relative volume, relative intensity)."""
    return (len(record["response"]), *prescription(record))


def prescription(record: dict[str, Any]) -> tuple[float, float]:
    """(relative volume, relative intensity) of the plan in a record; nan without a plan (a yes/no reply) or a
    baseline (no look-back window, no recorded max)."""
    try:
        plan = json.loads(record["response"])
    except (json.JSONDecodeError, TypeError):
        return np.nan, np.nan
    summary = (record.get("context") or {}).get("context_summary") or {}
    volume = np.nan
    baseline = frequency.volume_baseline(summary)
    if isinstance(plan, dict) and baseline and plan.get("days_per_week"):  # a yes/no reply without a plan: no volume
        volume = float(plan["days_per_week"]) / baseline
    maxes = {
        str(lift.get("exercise", "")).lower(): lift.get("estimated_1rm_kg")
        for lift in summary.get("top_lifts") or []
        if isinstance(lift, dict)
    }
    ratios = []
    for day in plan.get("days", []) if isinstance(plan, dict) else []:
        for exercise in day.get("exercises", []):
            one_rm = maxes.get(str(exercise.get("name", "")).lower())
            load = exercise.get("load_kg")
            if load is not None and one_rm:
                ratios.append(float(load) / float(one_rm))
    return volume, float(np.mean(ratios)) if ratios else np.nan


# ------------------------------------------------------------------ slicing


def slice_report(config: Config, queries: Rows, responses: Rows, records: Rows) -> dict[str, Any]:
    settings = config.quality.bias
    obs = observations(queries, responses, records)
    ranked = {m.name: RankedSample(obs[m.name][~np.isnan(obs[m.name])]) for m in METRICS if m.kind == "numeric"}
    seed = config.reproducibility.seed
    slices, omnibus, below = [], [], []
    for dims in dimensions():
        labels = _labels(obs, dims)
        groups: dict[str, list[np.ndarray]] = {m.name: [] for m in METRICS}
        rate_rows: dict[str, list[list[int]]] = {m.name: [] for m in METRICS if m.kind == "rate"}
        for value in sorted(set(labels)):
            mask = labels == value
            values = dict(zip(dims, value.split(" & "), strict=True))
            row = {
                "dimension": " x ".join(dims),
                "slice": value,
                "values": values,
                "queries": int(mask.sum()),
                "metrics": {},
            }
            for metric in METRICS:
                rng = bootstrap_rng(seed, row["dimension"], value, metric.name)
                explained = [d for d in dims if d in settings.explained_by[metric.name]]
                reference, versus = ~mask, "the rest"
                if explained and len(explained) < len(dims):  # compare within the explaining values
                    same = np.logical_and.reduce([obs[d].astype(str) == values[d] for d in explained])
                    reference = ~mask & same
                    versus = "others with " + ", ".join(f"{d}={values[d]}" for d in explained)
                fast = ranked.get(metric.name) if versus == "the rest" else None
                result = _measure(metric, obs[metric.name], mask, reference, fast, settings, rng)
                result["reference"] = versus
                result["alerting"] = len(explained) < len(dims)
                row["metrics"][metric.name] = result
                if result["tested"]:
                    present = obs[metric.name][mask & ~np.isnan(obs[metric.name])]
                    if metric.kind == "numeric":
                        groups[metric.name].append(present)
                    else:
                        rate_rows[metric.name].append([int(present.sum()), int(present.size - present.sum())])
            if not any(m["tested"] for m in row["metrics"].values()):
                below.append({"dimension": row["dimension"], "slice": value, "queries": row["queries"]})
            slices.append(row)
        for metric in METRICS:
            if metric.kind == "numeric":
                statistic, p = kruskal_groups(groups[metric.name])
                tested = len(groups[metric.name])
                measure = EPSILON_SQUARED
                effect = epsilon_squared(statistic, sum(g.size for g in groups[metric.name]))
            else:
                table = np.array(rate_rows[metric.name])
                statistic, p = chi_square(table) if rate_rows[metric.name] else (0.0, 1.0)
                tested = len(rate_rows[metric.name])
                measure = CRAMERS_V
                effect = cramers_v(table) if rate_rows[metric.name] else 0.0
            if tested >= 2:
                omnibus.append(
                    {
                        "dimension": " x ".join(dims),
                        "metric": metric.name,
                        "test": "kruskal-wallis" if metric.kind == "numeric" else "chi-square",
                        "groups": tested,
                        "statistic": round(statistic, 4),
                        "p_value": p,
                        "effect_size": round(effect, 4),
                        "effect_measure": measure,
                    }
                )
    _correct(slices, omnibus, settings)
    alerts = _alerts(slices)
    return {
        "bias_alert": bool(alerts),
        "reasons": [a["reason"] for a in alerts],
        "alerts": alerts,
        "overall": _overall(obs),
        "metrics": {m.name: {"kind": m.kind, "label": m.label, "unit": m.unit} for m in METRICS},
        "slices": slices,
        "dimension_tests": omnibus,
        "below_min_size": below,
        "settings": {
            "min_slice_size": settings.min_slice_size,
            "disparity_ratio": settings.disparity_ratio,
            "alpha": settings.alpha,
            "bootstrap_resamples": settings.bootstrap_resamples,
            "confidence": settings.confidence,
            "explained_by": {k: list(v) for k, v in settings.explained_by.items()},
            "reference": "the rest of the users; within the values of the slice's dimensions that explain the "
            "metric; slices fully explained are reported without alerts",
        },
    }


def bootstrap_rng(seed: int, dimension: str, slice_value: str, metric: str) -> np.random.Generator:
    """The bootstrap's own random stream for one (dimension, slice, metric), derived from the run seed.

    Keyed by the names rather than by a running count, so adding or removing a
    metric, a dimension or a slice leaves every other interval as it was.
    """
    return stage_rng(seed, f"bias:{dimension}:{slice_value}:{metric}")


def _labels(obs: dict[str, np.ndarray], dims: tuple[str, ...]) -> np.ndarray:
    labels = obs[dims[0]].astype(str)
    for key in dims[1:]:
        labels = np.char.add(np.char.add(labels, " & "), obs[key].astype(str))
    return labels


def _measure(
    metric: Metric,
    values: np.ndarray,
    mask: np.ndarray,
    reference: np.ndarray,
    ranked: RankedSample | None,
    settings: BiasSection,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Slice against its reference group; ``ranked`` is the fast path when the reference is the whole rest."""
    present = ~np.isnan(values)
    inside, outside = values[mask & present], values[reference & present]
    result: dict[str, Any] = {"n": int(inside.size), "tested": False}
    if inside.size < settings.min_slice_size or outside.size == 0:
        result["reason"] = "below minimum size" if inside.size < settings.min_slice_size else "no rest to compare"
        if inside.size:
            result["value"] = _r(inside.mean())
        return result
    value, rest = float(inside.mean()), float(outside.mean())
    if metric.kind == "numeric":
        low, high = bootstrap_mean_interval(
            np.round(inside / GRID) * GRID, rng, settings.bootstrap_resamples, settings.confidence
        )
        statistic, p = ranked.slice_vs_rest(mask[present]) if ranked else kruskal_groups([inside, outside])
        ratio = value / rest if rest else None
        ratio_ci = [low / rest, high / rest] if rest else None
        disparate = ratio is not None and not (settings.disparity_ratio <= ratio <= 1 / settings.disparity_ratio)
    else:
        events = int(inside.sum())
        low, high = bootstrap_rate_interval(events, inside.size, rng, settings.bootstrap_resamples, settings.confidence)
        rest_events = int(outside.sum())
        statistic, p = chi_square(np.array([[events, inside.size - events], [rest_events, outside.size - rest_events]]))
        favourable_rest = 1 - rest
        ratio = (1 - value) / favourable_rest if favourable_rest else None
        ratio_ci = [(1 - high) / favourable_rest, (1 - low) / favourable_rest] if favourable_rest else None
        disparate = ratio is not None and ratio < settings.disparity_ratio
    result.update(
        tested=True,
        value=_r(value),
        ci=[_r(low), _r(high)],
        rest=_r(rest),
        rest_n=int(outside.size),
        disparity_ratio=_r(ratio) if ratio is not None else None,
        disparity_ci=[_r(v) for v in ratio_ci] if ratio_ci else None,
        disparate=bool(disparate),
        test="kruskal-wallis" if metric.kind == "numeric" else "chi-square",
        statistic=_r(statistic),
        p_value=p,
    )
    return result


def _r(value: float) -> float:
    return float(f"{value:.6g}")


def _correct(slices: list[dict[str, Any]], omnibus: list[dict[str, Any]], settings: BiasSection) -> None:
    tested = [m for s in slices for m in s["metrics"].values() if m["tested"]]
    for item, q in zip(tested, benjamini_hochberg([m["p_value"] for m in tested]), strict=True):
        item["q_value"] = _r(q)
        item["significant"] = bool(q < settings.alpha)
        item["p_value"] = _r(item["p_value"])
    for item, q in zip(omnibus, benjamini_hochberg([o["p_value"] for o in omnibus]), strict=True):
        item["q_value"] = _r(q)
        item["significant"] = bool(q < settings.alpha)
        item["p_value"] = _r(item["p_value"])


def _alerts(slices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in slices:
        for metric in METRICS:
            m = row["metrics"][metric.name]
            if not (m["tested"] and m["significant"] and m["disparate"] and m["alerting"]):
                continue
            versus = m["reference"]
            if metric.kind == "rate":
                detail = f"{metric.label} {m['value']:.1%} vs {m['rest']:.1%} for {versus}"
                ratio = f"favourable-rate ratio {m['disparity_ratio']:.2f}"
            else:
                detail = f"{metric.label} {m['value']:.3g} vs {m['rest']:.3g} {metric.unit} for {versus}"
                ratio = f"ratio {m['disparity_ratio']:.2f}"
            reason = f"{row['slice']} ({row['dimension']}): {detail}; {ratio}, q={m['q_value']:.2g}, n={m['n']}"
            out.append(
                {
                    "dimension": row["dimension"],
                    "slice": row["slice"],
                    "metric": metric.name,
                    "value": m["value"],
                    "rest": m["rest"],
                    "ci": m["ci"],
                    "disparity_ratio": m["disparity_ratio"],
                    "q_value": m["q_value"],
                    "n": m["n"],
                    "reason": reason,
                }
            )
    out.sort(key=lambda a: (a["q_value"], a["dimension"], a["slice"], a["metric"]))
    return out


def _overall(obs: dict[str, np.ndarray]) -> dict[str, Any]:
    out = {}
    for metric in METRICS:
        values = obs[metric.name][~np.isnan(obs[metric.name])]
        out[metric.name] = {"n": int(values.size), "value": _r(values.mean()) if values.size else None}
    return out
