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

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fitsense_luigi.config import Config
from fitsense_luigi.contracts.rows import Rows
from fitsense_luigi.contracts.splits import ALL_RECORDS, REJECTED, SPLITS
from fitsense_luigi.quality.anomalies.baseline import Baseline
from fitsense_luigi.quality.anomalies.drift import feature_drift, schema_drift
from fitsense_luigi.quality.anomalies.safety import UnsafeTally
from fitsense_luigi.quality.validate.split_integrity import allowed_deviation
from fitsense_luigi.quality.validate.tablecheck import EXAMPLES
from fitsense_luigi.teacher.summary import (
    FAILED_CALL_STATUSES,
    describe_unusable,
    summary_view,
    unusable_cause,
    usability,
)
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


@dataclass
class _Kept:
    """What the checks read of every kept record: all records read once, then the split files once (users and
    the safety judgement per split file)."""

    ids: list[str] = field(default_factory=list)
    query_ids: list[str] = field(default_factory=list)
    responses: list[bytes] = field(default_factory=list)  # a digest of the text: duplicates compare these
    instructions: list[bytes] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)  # record ids with an empty response
    sizes: dict[str, int] = field(default_factory=dict)  # split -> records in its file
    users: set[str] = field(default_factory=set)  # of the split files
    rejected: set[str] = field(default_factory=set)  # query ids of the rejections
    safety: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, dataset: dict[str, Rows], asks: dict[str, dict[str, Any]]) -> _Kept:
        kept, tally = cls(), UnsafeTally()
        for record in dataset[ALL_RECORDS]:
            kept.ids.append(record["record_id"])
            kept.query_ids.append(record["metadata"]["query_id"])
            kept.responses.append(_digest(record["response"]))
            kept.instructions.append(_digest(record["instruction"]))
            kept.lengths.append(len(record["response"]))
            if not str(record.get("response", "")).strip():
                kept.empty.append(record["record_id"])
        for split in SPLITS:
            kept.sizes[split] = 0
            for record in dataset.get(split, []):
                kept.sizes[split] += 1
                kept.users.add(record["user_id"])
                tally.add(split, record, asks.get(record["metadata"]["query_id"]))
        kept.rejected = {r["query_id"] for r in dataset[REJECTED]}
        kept.safety = tally.result()
        return kept


def _digest(value: Any) -> bytes:
    """Equal texts, equal digests (128 bits: a collision is out of reach), so repeats are found without holding
    100,000 texts."""
    return hashlib.blake2b(json.dumps(value).encode(), digest_size=16).digest()


@dataclass
class _Answers:
    """What the checks read of every teacher response (the file read once, without holding its rows)."""

    query_ids: set[str] = field(default_factory=set)
    rows: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (query id, status) of calls that failed
    # per response what teacher.summary.usability reads (teacher.summary.summary_view: a few hundred bytes)
    usable: list[dict[str, Any]] = field(default_factory=list)
    unusable: list[str] = field(default_factory=list)  # query ids of the unusable answers

    @classmethod
    def read(cls, responses: Rows) -> _Answers:
        answers = cls()
        for row in responses:
            answers.rows += 1
            answers.query_ids.add(row["query_id"])
            if row.get("status") in FAILED_CALL_STATUSES:
                answers.failed.append((row["query_id"], row.get("status")))
            cause = unusable_cause(row)
            answers.usable.append(summary_view(row))
            if cause:
                answers.unusable.append(row["query_id"])
        return answers


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
    """Every input file is read once (the splits, rejected, queries, responses), keeping per row only what the
    checks compare: at 100,000 queries the rows themselves are gigabytes as Python objects."""
    query_ids, asks = [], {}
    for query in queries:
        query_ids.append(query["query_id"])
        asks[query["query_id"]] = {"asks": query.get("asks")}
    kept = _Kept.read(dataset, asks)
    del asks
    answers = _Answers.read(responses)
    alerts = (
        duplicates(kept)
        + missing_responses(config, kept, query_ids, answers)
        + odd_lengths(config, kept)
        + split_imbalance(config, kept)
    )
    safety = kept.safety
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
        "checked": {"records": len(kept.ids), "queries": len(query_ids), "responses": answers.rows},
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


def duplicates(kept: _Kept) -> list[dict[str, Any]]:
    ids = kept.ids
    out = []
    for name, severity, keys, what in (
        ("duplicate_record_ids", "critical", ids, "record ids occur more than once"),
        ("duplicate_queries", "critical", kept.query_ids, "queries answered twice"),
        ("duplicate_responses", "warning", kept.responses, "records repeat another's response"),
        ("duplicate_instructions", "warning", kept.instructions, "records repeat an instruction"),
    ):
        count, groups = _repeats(keys, ids)
        if count:
            out.append(alert(name, severity, count, f"{count} {what}", groups, share=round(count / len(ids), 4)))
    return out


def missing_responses(config: Config, kept: _Kept, query_ids: list[str], answers: _Answers) -> list[dict]:
    out = []
    lost = [q for q in query_ids if q not in answers.query_ids]
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
    out += teacher_outcomes(config, answers)
    if kept.empty:
        out.append(
            alert(
                "empty_responses",
                "critical",
                len(kept.empty),
                f"an empty response in {counted(len(kept.empty), 'record')}",
                kept.empty,
            )
        )
    accounted = set(kept.query_ids) | kept.rejected
    unaccounted = [q for q in query_ids if q not in accounted]
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


def teacher_outcomes(config: Config, answers: _Answers) -> list[dict[str, Any]]:
    """Two different failures, worded apart: calls that got no answer, and answers that cannot be used."""
    if not answers.rows:
        return []
    limit = config.quality.anomalies.max_failed_response_share
    out = []
    if answers.failed:
        share = len(answers.failed) / answers.rows
        by_status = dict(sorted(Counter(status for _, status in answers.failed).items()))
        out.append(
            alert(
                "failed_calls",
                "critical" if share > limit else "warning",
                len(answers.failed),
                f"{len(answers.failed)}/{answers.rows} teacher calls failed, no answer came back ({share:.1%}; "
                f"critical above {limit:.0%}): {', '.join(f'{n} {s}' for s, n in by_status.items())}",
                [query_id for query_id, _ in answers.failed],
                share=round(share, 4),
                by_status=by_status,
            )
        )
    usable = usability(answers.usable)
    if usable["unusable"]:
        share = usable["unusable_share"]
        out.append(
            alert(
                "unusable_answers",
                "critical" if share > limit else "warning",
                usable["unusable"],
                f"{describe_unusable(usable)} (every call answered; {share:.1%} of the answers, critical above "
                f"{limit:.0%})",
                answers.unusable,
                share=share,
                by_cause=usable["unusable_by_cause"],
            )
        )
    return out


def odd_lengths(config: Config, kept: _Kept) -> list[dict[str, Any]]:
    if not kept.ids:
        return []
    lengths = np.array(kept.lengths)
    ids = np.array(kept.ids)
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


def split_imbalance(config: Config, kept: _Kept) -> list[dict[str, Any]]:
    """Like the validation ratio check: the tolerance widens to 3 standard errors when users are few."""
    total = sum(kept.sizes[s] for s in SPLITS)
    users = len(kept.users)
    out = []
    for split, expected in config.dataset.split.as_dict().items():
        size = kept.sizes[split]
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
