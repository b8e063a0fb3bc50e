"""Post-checks on every teacher answer, whoever the teacher is.

A plan must parse, match the plan_response schema and name exercises from the
catalogue. Safety is judged against the user's conditions and medications
with the catalogue's contraindication tags, plus two rules a tag cannot carry:
no heart-rate zones prescribed (in exercise notes or the progression) for
someone on a beta-blocker, and no resistance training on consecutive days
when a diabetes constraint applies. Each expected safety
constraint must be addressed (cited by id in safety_notes, or in words).
Problems become ``safety_flags`` (``kind:detail``) and ``post_validation``.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from fitsense_luigi.config import load_schema
from fitsense_luigi.reference.catalogue import EXERCISES
from fitsense_luigi.reference.constraints import SAFETY_CONSTRAINTS
from fitsense_luigi.reference.medications import BETA_BLOCKERS
from fitsense_luigi.reference.safety import avoided_tags

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HEART_RATE_ZONES = re.compile(
    r"heart[- ]rate zone|hr zone|zone [1-5]\b|% of (?:your )?max(?:imum)? heart rate|\b220 ?- ?age|\bmax hr\b|\bbpm\b",
    re.IGNORECASE,
)
_BY_LOWER_NAME = {e.name.lower(): e for e in EXERCISES}
PLAN_SCHEMA = "plan_response.schema.json"


@cache
def _validator() -> Draft202012Validator:
    """The reference validator, for the wording of schema errors (only invalid answers reach it)."""
    return Draft202012Validator(load_schema(PLAN_SCHEMA))


@cache
def _fast_validator() -> Any:
    """Compiled (jsonschema-rs) validator for the common case: a valid plan costs microseconds, not a
    millisecond of the GIL that the HTTP workers share. Built once per process."""
    import jsonschema_rs

    return jsonschema_rs.Draft202012Validator(load_schema(PLAN_SCHEMA))


def schema_errors(plan: Any) -> list[str]:
    """Up to five 'path: message' lines; empty when the plan matches plan_response.schema.json."""
    if _fast_validator().is_valid(plan):
        return []
    errors = sorted(_validator().iter_errors(plan), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"[:200] for e in errors[:5]]


def post_check(content: str | None, context: dict[str, Any], expected: list[str]) -> tuple[dict[str, Any], list[str]]:
    """(post_validation, safety_flags) for one answer."""
    result: dict[str, Any] = {
        "parsed": False,
        "schema_valid": False,
        "schema_errors": [],
        "unknown_exercises": [],
        "constraints_addressed": [],
        "constraints_missing": list(expected),
        "valid": False,
    }
    if not content:
        return result, []
    try:
        plan = json.loads(content)
    except json.JSONDecodeError:
        return result, []
    result["parsed"] = isinstance(plan, dict)
    errors = schema_errors(plan)
    result["schema_errors"] = errors
    result["schema_valid"] = not errors
    if errors or not isinstance(plan, dict):
        return result, []

    flags = contraindications(plan, context, result["unknown_exercises"])
    flags += rule_breaches(plan, context, expected)
    addressed = constraints_addressed(plan, expected)
    result["constraints_addressed"] = addressed
    result["constraints_missing"] = [c for c in expected if c not in addressed]
    result["valid"] = True
    return result, flags


def contraindications(plan: dict[str, Any], context: dict[str, Any], unknown: list[str]) -> list[str]:
    """``contraindicated:<exercise>:<tag>`` for every prescribed exercise the user's health rules out."""
    avoid = avoided_tags(context.get("conditions", []), context.get("medications", []))
    flags = []
    for day in plan["days"]:
        for item in day["exercises"]:
            exercise = _BY_LOWER_NAME.get(item["name"].strip().lower())
            if exercise is None:
                unknown.append(item["name"])
                continue
            flags.extend(f"contraindicated:{exercise.name}:{tag}" for tag in sorted(exercise.tags & avoid))
    return flags


def rule_breaches(plan: dict[str, Any], context: dict[str, Any], expected: list[str]) -> list[str]:
    flags = []
    if set(context.get("medications", [])) & BETA_BLOCKERS:
        # only where effort is prescribed: safety notes may rightly say "RPE instead of heart-rate zones"
        prescribed = [plan.get("progression", "")] + [
            f"{d.get('focus', '')} {e.get('notes', '')}" for d in plan["days"] for e in d["exercises"]
        ]
        match = _HEART_RATE_ZONES.search(" ".join(prescribed))
        if match:
            flags.append(f"heart_rate_zones_on_beta_blocker:{match.group(0).lower()}")
    if "nonconsecutive_resistance_days" in expected:
        days = sorted({_WEEKDAYS.index(d["day"].strip().lower()) for d in plan["days"] if _is_weekday(d["day"])})
        pairs = list(zip(days, [*days[1:], days[0] + 7], strict=True)) if len(days) > 1 else []
        for a, b in pairs:
            if b - a == 1:
                flags.append(f"consecutive_resistance_days:{_WEEKDAYS[a]}-{_WEEKDAYS[b % 7]}")
    return flags


def _is_weekday(name: str) -> bool:
    return name.strip().lower() in _WEEKDAYS


def constraints_addressed(plan: dict[str, Any], expected: list[str]) -> list[str]:
    notes = plan.get("safety_notes", [])
    cited = {n.get("constraint_id") for n in notes}
    text = " ".join([plan.get("explanation", ""), plan.get("progression", "")] + [n.get("note", "") for n in notes])
    text = text.lower()
    known = SAFETY_CONSTRAINTS
    return [c for c in expected if c in cited or (c in known and any(k in text for k in known[c].keywords))]
