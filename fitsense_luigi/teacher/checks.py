"""Post-checks on every teacher answer, whoever the teacher is.

Extraction comes before judgement: the JSON is found in what the model wrote
(:mod:`.extract`), safe repairs are made (:mod:`.repair`), and prose without
any JSON that opens like a refusal is named as one (:mod:`.refusal`). A plan
must then match the plan_response schema (v3) and its rules that JSON Schema
cannot say, and name exercises from the catalogue. The training target is the
repaired plan as canonical JSON (``Judgement.normalized_text``). Safety is
judged against the user's conditions and medications with the catalogue's
contraindication tags, plus two rules a tag cannot carry:
no heart-rate zones prescribed (in exercise notes or the progression) for
someone on a beta-blocker, and no resistance training on consecutive days
when a diabetes constraint applies. Each expected safety
constraint must be addressed (cited by id in safety_notes, or in words).
Problems become ``safety_flags`` (``kind:detail``) and ``post_validation``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from fitsense_luigi.config import load_schema
from fitsense_luigi.reference.catalogue import EXERCISES
from fitsense_luigi.reference.constraints import SAFETY_CONSTRAINTS
from fitsense_luigi.reference.medications import BETA_BLOCKERS
from fitsense_luigi.reference.safety import avoided_tags
from fitsense_luigi.teacher.extract import extract
from fitsense_luigi.teacher.refusal import looks_like_refusal
from fitsense_luigi.teacher.repair import normalise, parse_with_repairs

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


@dataclass(frozen=True)
class Judgement:
    """What the post-checks made of one answer."""

    validation: dict[str, Any]  # post_validation
    flags: list[str]  # safety_flags
    normalized_text: str  # the training target: the repaired plan as canonical JSON ("" unless it is a valid plan)
    refused: bool  # prose that refuses (and holds no JSON object)


def empty_validation(expected: list[str]) -> dict[str, Any]:
    """post_validation of an answer with nothing to judge; every row has these keys."""
    return {
        "parsed": False,
        "schema_valid": False,
        "schema_errors": [],
        "unknown_exercises": [],
        "constraints_addressed": [],
        "constraints_missing": list(expected),
        "valid": False,
        "extracted": None,  # as_is | fenced | object: where the JSON was found
        "reasoning": None,  # inline_think | reasoning_content: reasoning the answer carried (never trained on)
        "repairs": [],  # safe repairs made (see teacher.repair)
        "refusal": None,  # message | finish_reason | prose: how a refusal was recognised
        "reasks": 0,  # times the teacher was asked again with the errors of its previous answer
        "reask_errors": [],  # the first error of each answer that was re-asked
    }


def judge(content: str | None, context: dict[str, Any], expected: list[str]) -> Judgement:
    """Extraction before judgement: find the JSON, repair what is safe, then check schema, rules and safety."""
    result = empty_validation(expected)
    if not content:
        return Judgement(result, [], "", False)
    found = extract(content)
    result["extracted"], result["reasoning"] = found.extracted, found.reasoning
    if found.text is None:
        refused = looks_like_refusal(found.prose)
        result["refusal"] = "prose" if refused else None
        result["schema_errors"] = [] if refused else ["no JSON object in the answer"]
        return Judgement(result, [], "", refused)
    try:
        plan, repairs = parse_with_repairs(found.text)
    except json.JSONDecodeError as exc:
        result["schema_errors"] = [f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
        return Judgement(result, [], "", False)
    if isinstance(plan, dict) and not _fast_validator().is_valid(plan):  # a valid plan needs no value repair
        plan, value_repairs = normalise(plan, load_schema(PLAN_SCHEMA))
        repairs += value_repairs
    result["repairs"] = repairs
    result["parsed"] = isinstance(plan, dict)
    errors = schema_errors(plan)
    if not errors:
        errors = rule_errors(plan)
    result["schema_errors"] = errors
    result["schema_valid"] = not errors
    if errors or not isinstance(plan, dict):
        return Judgement(result, [], "", False)

    flags = contraindications(plan, context, result["unknown_exercises"])
    flags += rule_breaches(plan, context, expected)
    addressed = constraints_addressed(plan, expected)
    result["constraints_addressed"] = addressed
    result["constraints_missing"] = [c for c in expected if c not in addressed]
    result["valid"] = True
    return Judgement(result, flags, json.dumps(plan, ensure_ascii=False), False)


def post_check(content: str | None, context: dict[str, Any], expected: list[str]) -> tuple[dict[str, Any], list[str]]:
    """(post_validation, safety_flags) for one answer."""
    verdict = judge(content, context, expected)
    return verdict.validation, verdict.flags


def rule_errors(plan: dict[str, Any]) -> list[str]:
    """What schema v3 requires but JSON Schema (in strict mode) cannot say; worded like schema errors."""
    errors = []
    days = plan["days"]
    if plan["days_per_week"] != len(days):
        errors.append(f"days_per_week: {plan['days_per_week']} but days has {len(days)} entries")
    for d, day in enumerate(days):
        for e, item in enumerate(day["exercises"]):
            where = f"days/{d}/exercises/{e}"
            if (item["reps"] is None) == (item["seconds"] is None):
                errors.append(
                    f"{where}: exactly one of reps and seconds is set (reps={item['reps']}, seconds={item['seconds']})"
                )
            if isinstance(item["reps"], str):
                lo, hi = (int(x) for x in item["reps"].split("-"))
                if not lo < hi or hi > 50:
                    errors.append(f"{where}/reps: range {item['reps']!r} must go from low to high, at most 50")
    return errors[:5]


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
