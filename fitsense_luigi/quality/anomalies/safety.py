"""Unsafe training data: every record of train/val/test judged again by the safety and coaching rules.

The dataset filters drop answers the teacher stage flagged, so in a healthy
run nothing here fires. The gate does not take that on trust: each record's
response (the training target) is read back and judged by the same rules the
post-checks use (``teacher.safety_checks``: what the user's listed safety
rules rule out and their limits; ``teacher.coaching_checks``: prescriptions
that mean what they say, replies that answer the request's question, read
from the query's ``asks``). A flag that reaches a split (an old cached answer
judged by older rules, a filter bug, a hand-edited file) is a critical
anomaly, counted per rule and per slice, so the report says which rules and
whose records.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from fitsense_luigi.contracts.splits import SPLITS
from fitsense_luigi.teacher import coaching_checks, safety_checks


def record_flags(record: dict[str, Any], query: dict[str, Any] | None) -> list[str]:
    """``<rule_id>:<detail>`` for every rule the record's response breaks (an unreadable plan: ``unreadable``)."""
    context = record.get("context") or {}
    expected = list(context.get("expected_safety_constraints") or [])
    facts = context.get("context_summary") or {}
    try:
        plan = json.loads(record["response"])
        return safety_checks.flags(plan, expected) + coaching_checks.flags(
            plan, facts, expected, (query or {}).get("asks")
        )
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return ["unreadable:the response is not a plan the checks can read"]


class UnsafeTally:
    """Per split: records judged, records flagged, counts by rule and by slice (``dimension=value``), added
    record by record while the reports read the splits once (:meth:`add`), then :meth:`result`."""

    def __init__(self) -> None:
        self.records = 0
        self.by_rule: Counter[str] = Counter()
        self.by_split: dict[str, int] = {split: 0 for split in SPLITS}
        self.by_slice: dict[str, Counter[str]] = defaultdict(Counter)
        self.examples: list[str] = []

    def add(self, split: str, record: dict[str, Any], query: dict[str, Any] | None) -> None:
        """``query``: the record's query (its ``asks`` are what the reply is judged against), if known."""
        self.records += 1
        flags = record_flags(record, query)
        if not flags:
            return
        self.by_split[split] += 1
        rules = sorted({f.split(":", 1)[0] for f in flags})
        self.by_rule.update(rules)
        tags = (record.get("context") or {}).get("slice_tags") or {}
        for dimension, value in sorted(tags.items()):
            self.by_slice[f"{dimension}={value}"].update(rules)
        if len(self.examples) < 5:
            self.examples.append(f"{record['record_id']} ({split}): {flags[0]}")

    def result(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "flagged": sum(self.by_split.values()),
            "by_rule": dict(sorted(self.by_rule.items())),
            "by_split": dict(self.by_split),
            "by_slice": {name: dict(sorted(c.items())) for name, c in sorted(self.by_slice.items())},
            "examples": self.examples,
        }
