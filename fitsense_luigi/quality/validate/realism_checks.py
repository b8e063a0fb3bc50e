"""Realism checks: each generated marginal beside its published figure, from ``realism.json``.

The synthetic-world stage measures the marginals; the gate re-judges every one
(|observed - expected| <= tolerance, or inside [low, high] widened by the
tolerance when the published figure is a range) rather than trusting the
stage's own verdict. Published rates describe large populations: below
``quality.realism_min_users`` users a miss is sampling noise as often as a
generator bug, so it is reported as a warning and does not fail the gate.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

from fitsense_luigi.config import Config
from fitsense_luigi.contracts import files
from fitsense_luigi.quality.validate.tablecheck import check

REQUIRED = ("name", "observed", "expected", "tolerance", "source")


def realism_checks(config: Config, report: Any) -> list[dict[str, Any]]:
    if not isinstance(report, dict) or not isinstance(report.get("checks"), list):
        unreadable = f"{files.REALISM_REPORT.name} has no 'checks' list"
        return [check("realism report is readable", "realism", False, 1, 1, [unreadable])]
    enforced = config.world.users >= config.quality.realism_min_users
    severity = "error" if enforced else "warning"
    out = []
    for position, item in enumerate(report["checks"]):
        missing = [k for k in REQUIRED if not isinstance(item, dict) or k not in item]
        if missing:
            out.append(
                check(
                    f"realism check #{position + 1} is well-formed",
                    "realism",
                    False,
                    1,
                    1,
                    [f"missing {', '.join(missing)}"],
                )
            )
            continue
        passed, deviation = judge(item["observed"], item["expected"], item["tolerance"])
        extra = {
            "observed": item["observed"],
            "expected": item["expected"],
            "tolerance": item["tolerance"],
            "deviation": deviation,
            "source": item["source"],
            "basis": item.get("basis"),  # published, derived or assumption: how the report names the figure
            "kind": item.get("kind", "calibration"),  # held_out (evidence), calibration (aimed at) or rule
            "stage_verdict": item.get("passed"),
        }
        if not enforced:
            extra["note"] = f"{config.world.users} users < realism_min_users {config.quality.realism_min_users}"
        out.append(
            check(f"realism: {item['name']}", "realism", passed, 0 if passed else 1, 1, severity=severity, **extra)
        )
    return out


def judge(observed: Any, expected: Any, tolerance: Any) -> tuple[bool, float | None]:
    """(within tolerance, signed distance from the expected value or range; None if not numeric)."""
    if not isinstance(observed, Real) or not isinstance(tolerance, Real):
        return False, None
    if isinstance(expected, Real):
        deviation = float(observed) - float(expected)
    elif isinstance(expected, list | tuple) and len(expected) == 2 and all(isinstance(v, Real) for v in expected):
        low, high = sorted(float(v) for v in expected)
        deviation = min(0.0, float(observed) - low) + max(0.0, float(observed) - high)
    else:
        return False, None
    return abs(deviation) <= float(tolerance) + 1e-12, round(deviation, 6)
