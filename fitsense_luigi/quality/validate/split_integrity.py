"""Split integrity: no user leaks between splits, each record sits once in its own split's file, ratios hold.

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
from fitsense_luigi.contracts.splits import SPLITS
from fitsense_luigi.quality.validate.tablecheck import EXAMPLES, check


def split_checks(config: Config, dataset: dict[str, Rows]) -> list[dict[str, Any]]:
    placement = _Placement.read(dataset)
    return [no_user_in_two_splits(placement), each_record_in_its_split(placement), *ratio_checks(config, placement)]


class _Placement:
    """Where every record and user sits: the split files read once (each is a gigabyte at 100,000 queries)."""

    def __init__(self) -> None:
        self.users: dict[str, set[str]] = {}  # user -> the splits holding their records
        self.placed: Counter[str] = Counter()  # record id -> split files holding it
        self.misplaced: list[dict[str, Any]] = []
        self.sizes: dict[str, int] = {}

    @classmethod
    def read(cls, dataset: dict[str, Rows]) -> _Placement:
        placement = cls()
        for split in SPLITS:
            part = files.records(split).name
            placement.sizes[split] = 0
            for record in dataset[split]:
                placement.sizes[split] += 1
                placement.users.setdefault(record["user_id"], set()).add(split)
                placement.placed[record["record_id"]] += 1
                if record.get("split") != split:
                    placement.misplaced.append(
                        {
                            "record_id": record["record_id"],
                            "problem": f"in {part} but its split is {record.get('split')!r}",
                        }
                    )
        return placement


def no_user_in_two_splits(placement: _Placement) -> dict[str, Any]:
    users = placement.users
    leaked = sorted(u for u, s in users.items() if len(s) > 1)
    examples = [{"user_id": u, "splits": sorted(users[u], key=SPLITS.index)} for u in leaked[:EXAMPLES]]
    return check("no user in two splits", "split", not leaked, len(leaked), len(users), examples)


def each_record_in_its_split(placement: _Placement) -> dict[str, Any]:
    """Every record sits in the split file its ``split`` field names, and in one split file, once."""
    placed = placement.placed
    problems = placement.misplaced + [
        {"record_id": rid, "problem": f"{times} times in the split files"} for rid, times in placed.items() if times > 1
    ]
    return check(
        "each record once, in its own split's file", "split", not problems, len(problems), len(placed), problems
    )


def ratio_checks(config: Config, placement: _Placement) -> list[dict[str, Any]]:
    sizes = placement.sizes
    total = sum(sizes.values())
    users = len(placement.users)
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
