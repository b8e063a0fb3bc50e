"""DetectAnomalies: duplicates, missing or odd-length responses, split imbalance."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fitsense_luigi.config import Config


def detect(config: Config, dataset: dict[str, list[dict[str, Any]]], stats_report: dict[str, Any]) -> dict[str, Any]:
    records = dataset["all_records"]
    alerts: list[dict[str, Any]] = []
    ids = Counter(r["record_id"] for r in records)
    dup_ids = [k for k, v in ids.items() if v > 1]
    if dup_ids:
        alerts.append(
            {
                "alert": "duplicate_record_ids",
                "severity": "critical",
                "count": len(dup_ids),
                "examples": dup_ids[:3],
            }
        )
    texts = Counter(r["response"] for r in records)
    dup_texts = sum(v - 1 for v in texts.values() if v > 1)
    if dup_texts:
        alerts.append({"alert": "duplicate_responses", "severity": "warning", "count": dup_texts})
    empty = [r["record_id"] for r in records if not r["response"].strip()]
    if empty:
        alerts.append(
            {"alert": "missing_responses", "severity": "critical", "count": len(empty), "examples": empty[:3]}
        )
    lo, hi = config.dataset.response_chars.min, config.dataset.response_chars.max
    short = [r["record_id"] for r in records if len(r["response"]) < lo]
    long_ = [r["record_id"] for r in records if len(r["response"]) > hi]
    for name, found in (("short_responses", short), ("long_responses", long_)):
        if found:
            alerts.append({"alert": name, "severity": "warning", "count": len(found), "examples": found[:3]})
    total = len(records)
    for split, ratio in config.dataset.split.as_dict().items():
        got = len(dataset[split]) / total if total else 0.0
        if abs(got - ratio) > config.quality.split_tolerance:
            alerts.append(
                {
                    "alert": "split_imbalance",
                    "severity": "warning",
                    "split": split,
                    "expected": ratio,
                    "observed": round(got, 4),
                }
            )
    severities = {a["severity"] for a in alerts}
    severity = "critical" if "critical" in severities else "warning" if severities else "none"
    return {
        "severity": severity,
        "num_alerts": len(alerts),
        "alerts": alerts,
        "records_checked": total,
        "tables_profiled": len(stats_report.get("tables", {})),
    }
