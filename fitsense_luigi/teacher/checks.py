"""Post-checks on every teacher answer, whoever the teacher is.

A plan must parse, match the plan_response schema, avoid every exercise whose
contraindication tags the user's conditions or medications rule out, and
address each expected safety constraint (by id, or in words).
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator

from fitsense_luigi import catalog
from fitsense_luigi.config import load_schema

_VALIDATOR: Draft202012Validator | None = None


def _validator() -> Draft202012Validator:
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = Draft202012Validator(load_schema("plan_response.schema.json"))
    return _VALIDATOR


def post_check(content: str | None, context: dict[str, Any], expected: list[str]) -> tuple[dict[str, Any], list[str]]:
    """(post_validation, safety_flags) for one answer."""
    result: dict[str, Any] = {
        "parsed": False,
        "schema_valid": False,
        "schema_errors": [],
        "unknown_exercises": [],
        "constraints_addressed": [],
        "constraints_missing": list(expected),
    }
    flags: list[str] = []
    if not content:
        result["valid"] = False
        return result, flags
    try:
        plan = json.loads(content)
    except json.JSONDecodeError:
        result["valid"] = False
        return result, flags
    result["parsed"] = True
    errors = sorted(_validator().iter_errors(plan), key=lambda e: list(e.absolute_path))
    result["schema_errors"] = [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"[:200] for e in errors[:5]
    ]
    result["schema_valid"] = not errors
    if errors or not isinstance(plan, dict):
        result["valid"] = False
        return result, flags

    avoid = catalog.avoided_tags(context.get("conditions", []), context.get("medications", []))
    for day in plan["days"]:
        for item in day["exercises"]:
            exercise = catalog.EXERCISES_BY_NAME.get(item["name"])
            if exercise is None:
                result["unknown_exercises"].append(item["name"])
                continue
            for tag in sorted(exercise.tags & avoid):
                flags.append(f"contraindicated:{exercise.name}:{tag}")
    text = " ".join(
        [plan.get("explanation", ""), plan.get("progression", "")]
        + [n.get("note", "") for n in plan.get("safety_notes", [])]
    ).lower()
    cited = {n.get("constraint_id") for n in plan.get("safety_notes", [])}
    addressed = [c for c in expected if c in cited or any(k in text for k in catalog.SAFETY_CONSTRAINTS[c].keywords)]
    result["constraints_addressed"] = addressed
    result["constraints_missing"] = [c for c in expected if c not in addressed]
    result["valid"] = True
    return result, flags
