"""Split integrity: no user leaks between splits, the split files are exactly the records, ratios hold.

A user seen in training and again in test makes test scores lie, so the leak
check is an error whatever its size. The ratio check allows the configured
tolerance or, when there are few users, three standard errors of assigning
users at random (the unit of assignment is the user, not the record): with 40
users a 10% split cannot be expected to land within 5 points.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from fitsense_luigi.config import Config
from fitsense_luigi.contracts import files
from fitsense_luigi.contracts.rows import Rows
from fitsense_luigi.contracts.splits import ALL_RECORDS, SPLITS
from fitsense_luigi.quality.validate.tablecheck import EXAMPLES, check


def split_checks(config: Config, dataset: dict[str, Rows]) -> list[dict[str, Any]]:
    return [no_user_in_two_splits(dataset), splits_partition_records(dataset), *ratio_checks(config, dataset)]


def no_user_in_two_splits(dataset: dict[str, Rows]) -> dict[str, Any]:
    users: dict[str, set[str]] = {}
    for split in SPLITS:
        for record in dataset[split]:
            users.setdefault(record["user_id"], set()).add(split)
    leaked = sorted(u for u, s in users.items() if len(s) > 1)
    examples = [{"user_id": u, "splits": sorted(users[u], key=SPLITS.index)} for u in leaked[:EXAMPLES]]
    return check("no user in two splits", "split", not leaked, len(leaked), len(users), examples)


def splits_partition_records(dataset: dict[str, Rows]) -> dict[str, Any]:
    """Every record of all_records sits in exactly the split file its ``split`` field names, unchanged."""
    everything = files.records(ALL_RECORDS).name
    by_id = {r["record_id"]: r for r in dataset[ALL_RECORDS]}
    placed: Counter[str] = Counter()
    listed = Counter(r["record_id"] for r in dataset[ALL_RECORDS])
    problems: list[dict[str, Any]] = [
        {"record_id": rid, "problem": f"{times} times in {everything}"} for rid, times in listed.items() if times > 1
    ]
    for split in SPLITS:
        part = files.records(split).name
        for record in dataset[split]:
            rid = record["record_id"]
            placed[rid] += 1
            original = by_id.get(rid)
            if original is None:
                problems.append({"record_id": rid, "problem": f"in {part} but not in {everything}"})
            elif record.get("split") != split:
                problems.append({"record_id": rid, "problem": f"in {part} but its split is {record.get('split')!r}"})
            elif record != original:
                problems.append({"record_id": rid, "problem": f"differs between {part} and {everything}"})
    for rid, times in placed.items():
        if times > 1:
            problems.append({"record_id": rid, "problem": f"in {times} split files"})
    problems += [
        {"record_id": rid, "problem": f"in {everything} but in no split file"} for rid in by_id if rid not in placed
    ]
    return check("split files partition all_records", "split", not problems, len(problems), len(by_id), problems)


def ratio_checks(config: Config, dataset: dict[str, Rows]) -> list[dict[str, Any]]:
    sizes = {s: len(dataset[s]) for s in SPLITS}
    total = sum(sizes.values())
    users = len({r["user_id"] for s in SPLITS for r in dataset[s]})
    out = []
    for split, expected in config.dataset.split.as_dict().items():
        observed = sizes[split] / total if total else 0.0
        allowed = allowed_deviation(expected, users, config.quality.split_tolerance)
        ok = total > 0 and abs(observed - expected) <= allowed
        out.append(
            check(
                f"{split} ratio within tolerance",
                "split",
                ok,
                sizes[split],
                total,
                expected=expected,
                observed=round(observed, 4),
                allowed_deviation=round(allowed, 4),
                users=users,
            )
        )
    return out


def allowed_deviation(expected: float, users: int, tolerance: float) -> float:
    """The configured tolerance, widened to 3 binomial standard errors when there are few users."""
    if users <= 0:
        return tolerance
    return max(tolerance, 3 * math.sqrt(expected * (1 - expected) / users))
