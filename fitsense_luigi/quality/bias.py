"""BiasSlicing: is any group of users served worse than the others?"""

from __future__ import annotations

from typing import Any

import numpy as np

from fitsense_luigi.config import Config

SLICE_KEYS = ("age_band", "sex", "goal_type", "activity_level", "condition_flag")


def slice_report(config: Config, dataset: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    records = dataset["all_records"]
    rejected = dataset["rejected"]
    overall = float(np.mean([len(r["response"]) for r in records])) if records else 0.0
    slices: dict[str, list[dict[str, Any]]] = {}
    alerts = []
    for key in SLICE_KEYS:
        groups: dict[str, list[int]] = {}
        for r in records:
            groups.setdefault(r["context"]["slice_tags"][key], []).append(len(r["response"]))
        rejected_by: dict[str, int] = {}
        for r in rejected:
            value = r["slice_tags"][key]
            rejected_by[value] = rejected_by.get(value, 0) + 1
        rows = []
        for value in sorted(set(groups) | set(rejected_by)):
            lengths = groups.get(value, [])
            n = len(lengths)
            mean = float(np.mean(lengths)) if lengths else 0.0
            gap = (mean - overall) / overall if overall else 0.0
            tested = n >= config.quality.bias.min_slice_size
            rows.append(
                {
                    "value": value,
                    "records": n,
                    "rejected": rejected_by.get(value, 0),
                    "mean_response_chars": round(mean, 1),
                    "gap_ratio": round(gap, 4),
                    "tested": tested,
                }
            )
            if tested and abs(gap) > config.quality.bias.max_length_gap_ratio:
                alerts.append({"slice": key, "value": value, "gap_ratio": round(gap, 4)})
        slices[key] = rows
    return {
        "bias_alert": bool(alerts),
        "alerts": alerts,
        "overall_mean_response_chars": round(overall, 1),
        "slices": slices,
        "min_slice_size": config.quality.bias.min_slice_size,
        "max_length_gap_ratio": config.quality.bias.max_length_gap_ratio,
    }
