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

from fitsense_luigi.contracts.rows import Rows
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


def unsafe_records(dataset: dict[str, Rows], queries: Rows) -> dict[str, Any]:
    """Per split: records judged, records flagged, counts by rule and by slice (``dimension=value``)."""
    by_query = {q["query_id"]: q for q in queries}
    out: dict[str, Any] = {"records": 0, "flagged": 0, "by_rule": Counter(), "by_split": {}, "by_slice": {}}
    by_slice: dict[str, Counter[str]] = defaultdict(Counter)
    examples = []
    for split in SPLITS:
        flagged = 0
        for record in dataset.get(split, []):
            out["records"] += 1
            flags = record_flags(record, by_query.get(record["metadata"]["query_id"]))
            if not flags:
                continue
            flagged += 1
            rules = sorted({f.split(":", 1)[0] for f in flags})
            out["by_rule"].update(rules)
            tags = (record.get("context") or {}).get("slice_tags") or {}
            for dimension, value in sorted(tags.items()):
                by_slice[f"{dimension}={value}"].update(rules)
            if len(examples) < 5:
                examples.append(f"{record['record_id']} ({split}): {flags[0]}")
        out["by_split"][split] = flagged
        out["flagged"] += flagged
    out["by_rule"] = dict(sorted(out["by_rule"].items()))
    out["by_slice"] = {name: dict(sorted(c.items())) for name, c in sorted(by_slice.items())}
    out["examples"] = examples
    return out
