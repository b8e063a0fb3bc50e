"""DetectAnomalies: what is odd about this run's data, and how it moved since the last good run.

Each finding is an alert with a severity:

- ``critical``: the data cannot be trusted as it is (a record or query twice,
  queries lost between stages, responses the dataset filters should have
  removed, a record in train/val/test that breaks a safety or coaching rule
  (:mod:`.safety`), an empty split, a removed field or changed type);
- ``warning``: worth a look but not wrong in itself (repeated texts, failed
  teacher calls or unusable answers below the configured share, length
  outliers, split ratios off target, feature drift, an added field).

A call that failed (no answer came back: ``failed_calls``) and an answer that
came back but cannot be trained on (refused, cut off, filtered, not JSON, not
a plan: ``unusable_answers``) are different alerts with different wording.

The run's severity is the worst alert's, or ``none``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np

from fitsense_luigi.config import Config
from fitsense_luigi.contracts.rows import Rows
from fitsense_luigi.contracts.splits import ALL_RECORDS, REJECTED, SPLITS
from fitsense_luigi.quality.anomalies.baseline import Baseline
from fitsense_luigi.quality.anomalies.drift import feature_drift, schema_drift
from fitsense_luigi.quality.anomalies.safety import unsafe_records
from fitsense_luigi.quality.validate.split_integrity import allowed_deviation
from fitsense_luigi.quality.validate.tablecheck import EXAMPLES
from fitsense_luigi.teacher.summary import FAILED_CALL_STATUSES, describe_unusable, unusable_cause, usability
from fitsense_luigi.wording import counted

MIN_EXPECTED_IN_SPLIT = 10  # an empty split is critical only when it should have held at least this many


def alert(name: str, severity: str, count: int, message: str, examples: list[Any] | None = None, **extra: Any) -> dict:
    return {
        "alert": name,
        "severity": severity,
        "count": int(count),
        "message": message,
        "examples": (examples or [])[:EXAMPLES],
        **extra,
    }


def detect(
    config: Config,
    dataset: dict[str, Rows],
    queries: Rows,
    responses: Rows,
    stats: dict[str, Any],
    baseline: Baseline | None,
    baseline_notes: list[str] | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    records = dataset[ALL_RECORDS]
    alerts = (
        duplicates(records)
        + missing_responses(config, dataset, queries, responses)
        + odd_lengths(config, records)
        + split_imbalance(config, dataset)
    )
    safety = unsafe_records(dataset, queries)
    alerts += unsafe_training_data(safety)
    drift = drift_section(config, stats, baseline, baseline_notes or [], params or {})
    alerts += drift.pop("alerts")
    severities = {a["severity"] for a in alerts}
    severity = "critical" if "critical" in severities else "warning" if severities else "none"
    return {
        "severity": severity,
        "num_alerts": len(alerts),
        "counts": {level: sum(a["severity"] == level for a in alerts) for level in ("critical", "warning")},
        "alerts": alerts,
        "checked": {"records": len(records), "queries": len(queries), "responses": len(responses)},
        "safety": safety,
        "drift": drift,
    }


def unsafe_training_data(safety: dict[str, Any]) -> list[dict[str, Any]]:
    """Critical: a record in train/val/test breaks a safety or coaching rule (named with counts, per split)."""
    if not safety["flagged"]:
        return []
    rules = ", ".join(f"{rule} {n}" for rule, n in sorted(safety["by_rule"].items(), key=lambda kv: -kv[1]))
    splits = ", ".join(f"{split} {n}" for split, n in safety["by_split"].items() if n)
    return [
        alert(
            "unsafe_training_records",
            "critical",
            safety["flagged"],
            f"{counted(safety['flagged'], 'record')} in the splits break a safety or coaching rule ({splits}): {rules}",
            safety["examples"],
            by_rule=safety["by_rule"],
            by_split=safety["by_split"],
        )
    ]


def _repeats(keys: list[Any], ids: list[str]) -> tuple[int, list[list[str]]]:
    """(extra copies beyond the first, example groups of ids sharing a key)."""
    groups: dict[Any, list[str]] = defaultdict(list)
    for key, ident in zip(keys, ids, strict=True):
        groups[key].append(ident)
    shared = [g for g in groups.values() if len(g) > 1]
    return sum(len(g) - 1 for g in shared), [g[:3] for g in shared[:EXAMPLES]]


def duplicates(records: Rows) -> list[dict[str, Any]]:
    ids = [r["record_id"] for r in records]
    out = []
    for name, severity, keys, what in (
        ("duplicate_record_ids", "critical", ids, "record ids occur more than once"),
        ("duplicate_queries", "critical", [r["metadata"]["query_id"] for r in records], "queries answered twice"),
        ("duplicate_responses", "warning", [r["response"] for r in records], "records repeat another's response"),
        ("duplicate_instructions", "warning", [r["instruction"] for r in records], "records repeat an instruction"),
    ):
        count, groups = _repeats(keys, ids)
        if count:
            out.append(alert(name, severity, count, f"{count} {what}", groups, share=round(count / len(records), 4)))
    return out


def missing_responses(config: Config, dataset: dict[str, Rows], queries: Rows, responses: Rows) -> list[dict]:
    out = []
    answered = {r["query_id"]: r for r in responses}
    lost = [q["query_id"] for q in queries if q["query_id"] not in answered]
    if lost:
        out.append(
            alert(
                "missing_responses",
                "critical",
                len(lost),
                f"no teacher response for {counted(len(lost), 'query', 'queries')}",
                lost,
            )
        )
    out += teacher_outcomes(config, responses)
    empty = [r["record_id"] for r in dataset[ALL_RECORDS] if not str(r.get("response", "")).strip()]
    if empty:
        out.append(
            alert(
                "empty_responses",
                "critical",
                len(empty),
                f"an empty response in {counted(len(empty), 'record')}",
                empty,
            )
        )
    accounted = {r["metadata"]["query_id"] for r in dataset[ALL_RECORDS]} | {r["query_id"] for r in dataset[REJECTED]}
    unaccounted = [q["query_id"] for q in queries if q["query_id"] not in accounted]
    if unaccounted:
        out.append(
            alert(
                "unaccounted_queries",
                "critical",
                len(unaccounted),
                f"neither a record nor a rejection: {counted(len(unaccounted), 'query', 'queries')}",
                unaccounted,
            )
        )
    return out


def teacher_outcomes(config: Config, responses: Rows) -> list[dict[str, Any]]:
    """Two different failures, worded apart: calls that got no answer, and answers that cannot be used."""
    if not responses:
        return []
    limit = config.quality.anomalies.max_failed_response_share
    out = []
    failed = [r for r in responses if r.get("status") in FAILED_CALL_STATUSES]
    if failed:
        share = len(failed) / len(responses)
        by_status = dict(sorted(Counter(r.get("status") for r in failed).items()))
        out.append(
            alert(
                "failed_calls",
                "critical" if share > limit else "warning",
                len(failed),
                f"{len(failed)}/{len(responses)} teacher calls failed, no answer came back ({share:.1%}; "
                f"critical above {limit:.0%}): {', '.join(f'{n} {s}' for s, n in by_status.items())}",
                [r["query_id"] for r in failed],
                share=round(share, 4),
                by_status=by_status,
            )
        )
    usable = usability(responses)
    if usable["unusable"]:
        share = usable["unusable_share"]
        out.append(
            alert(
                "unusable_answers",
                "critical" if share > limit else "warning",
                usable["unusable"],
                f"{describe_unusable(usable)} (every call answered; {share:.1%} of the answers, critical above "
                f"{limit:.0%})",
                [r["query_id"] for r in responses if unusable_cause(r)],
                share=share,
                by_cause=usable["unusable_by_cause"],
            )
        )
    return out


def odd_lengths(config: Config, records: Rows) -> list[dict[str, Any]]:
    if not records:
        return []
    lengths = np.array([len(r["response"]) for r in records])
    ids = np.array([r["record_id"] for r in records])
    out = []
    low, high = config.dataset.response_chars.min, config.dataset.response_chars.max
    for name, mask, what in (
        ("short_responses", lengths < low, f"shorter than dataset.response_chars.min ({low})"),
        ("long_responses", lengths > high, f"longer than dataset.response_chars.max ({high})"),
    ):
        if mask.any():
            out.append(
                alert(
                    name,
                    "critical",
                    mask.sum(),
                    f"{counted(int(mask.sum()), 'record')} {what}: the length filter let them in",
                    ids[mask].tolist(),
                )
            )
    q1, q3 = np.quantile(lengths, [0.25, 0.75])
    k = config.quality.anomalies.length_outlier_iqr
    fence_low, fence_high = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
    for name, mask, side in (
        ("short_response_outliers", lengths < fence_low, f"below Q1 - {k:g} IQR ({fence_low:.0f} chars)"),
        ("long_response_outliers", lengths > fence_high, f"above Q3 + {k:g} IQR ({fence_high:.0f} chars)"),
    ):
        if mask.any():
            order = np.argsort(lengths[mask])
            picked = ids[mask][order if name.startswith("short") else order[::-1]]
            out.append(alert(name, "warning", mask.sum(), f"{mask.sum()} response lengths {side}", picked.tolist()))
    return out


def split_imbalance(config: Config, dataset: dict[str, Rows]) -> list[dict[str, Any]]:
    """Like the validation ratio check: the tolerance widens to 3 standard errors when users are few."""
    total = sum(len(dataset[s]) for s in SPLITS)
    users = len({r["user_id"] for s in SPLITS for r in dataset[s]})
    out = []
    for split, expected in config.dataset.split.as_dict().items():
        size = len(dataset[split])
        observed = size / total if total else 0.0
        allowed = allowed_deviation(expected, users, config.quality.split_tolerance)
        if size == 0 and expected > 0:
            severity = "critical" if expected * total >= MIN_EXPECTED_IN_SPLIT else "warning"
            out.append(
                alert("empty_split", severity, 1, f"{split} is empty (expected {expected:.0%} of {total})", split=split)
            )
        elif abs(observed - expected) > allowed:
            out.append(
                alert(
                    "split_imbalance",
                    "warning",
                    size,
                    f"{split} holds {observed:.1%} of records, configured {expected:.0%} "
                    f"(tolerance {allowed:.1%} for {users} users)",
                    split=split,
                    expected=expected,
                    observed=round(observed, 4),
                )
            )
    return out


def drift_section(
    config: Config, stats: dict[str, Any], baseline: Baseline | None, notes: list[str], params: dict[str, Any]
) -> dict[str, Any]:
    if baseline is None:
        return {
            "baseline": None,
            "notes": notes or ["no previous successful run: nothing to compare with"],
            "features": [],
            "schema_changes": [],
            "alerts": [],
        }
    features = feature_drift(baseline.stats, stats, config.quality.drift)
    changes = schema_drift(baseline.stats, stats)
    alerts = []
    drifted = [f for f in features if f["drifted"]]
    for row in sorted(drifted, key=lambda f: -f["distance"]):
        alerts.append(
            alert(
                "feature_drift",
                "warning",
                1,
                f"{row['scope']}.{row['feature']} ({row['basis']}): {row['measure']} {row['distance']:.3f} "
                f"> {row['threshold']:g} against run {baseline.run_id}",
                scope=row["scope"],
                feature=row["feature"],
                distance=row["distance"],
            )
        )
    for change in changes:
        what = f"{change['scope']}: {change['field']} {change['change']}"
        if change["change"] == "type changed":
            what += f" ({change['before']} -> {change['after']})"
        details = {k: v for k, v in change.items() if k != "severity"}
        alerts.append(alert("schema_drift", change["severity"], 1, f"{what} since run {baseline.run_id}", **details))
    return {
        "baseline": dict(baseline.describe(), changed_params=baseline.changed_params(params)),
        "notes": notes,
        "features": features,
        "drifted": len(drifted),
        "schema_changes": changes,
        "alerts": alerts,
    }
