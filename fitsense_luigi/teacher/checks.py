"""Post-checks on every teacher answer, whoever the teacher is.

Extraction comes before judgement: the JSON is found in what the model wrote
(:mod:`.extract`), safe repairs are made (:mod:`.repair`), and prose without
any JSON that opens like a refusal is named as one (:mod:`.refusal`). A plan
must then match the plan_response schema (v3) and its rules that JSON Schema
cannot say, and name exercises from the catalogue. The training target is the
repaired plan as canonical JSON (``Judgement.normalized_text``). A valid plan
is then judged by rule: the safety rules its query lists
(:mod:`.safety_checks`: what they rule out, their limits) and the coaching
rules every answer keeps (:mod:`.coaching_checks`: prescriptions that mean
what they say, replies that answer the question the request asks). Each broken
rule becomes a ``safety_flags`` entry ``<rule_id>:<detail>``; an expected
constraint is addressed when the plan keeps its rule and a safety note with
its id says how.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from fitsense_luigi.config import load_schema
from fitsense_luigi.teacher import coaching_checks, safety_checks
from fitsense_luigi.teacher.extract import extract
from fitsense_luigi.teacher.refusal import looks_like_refusal
from fitsense_luigi.teacher.repair import normalise, parse_with_repairs

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


def judge(
    content: str | None,
    context: dict[str, Any],
    expected: list[str],
    asks: dict[str, Any] | None = None,
    *,
    safety: bool = True,
) -> Judgement:
    """Extraction before judgement: find the JSON, repair what is safe, then check schema, rules and safety.

    ``context`` is the user's facts, ``expected`` the safety rules the query lists, ``asks`` what the request
    asks (``contracts.rows.RequestAsks``; None: the reply rules are not judged). ``safety=False``: whether the
    answer is a usable plan, a refusal or neither, and nothing more (no flags, constraints or normalised
    text): all a re-ask and the circuit breaker look at, for two thirds less CPU. The stage judges answers it
    fetches ahead for another shard that way; that shard judges them in full when it makes their rows."""
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
    valid = isinstance(plan, dict) and _fast_validator().is_valid(plan)
    if isinstance(plan, dict) and not valid:  # a valid plan needs no value repair
        plan, value_repairs = normalise(plan, load_schema(PLAN_SCHEMA))
        repairs += value_repairs
    result["repairs"] = repairs
    result["parsed"] = isinstance(plan, dict)
    errors = [] if valid else schema_errors(plan)  # a valid plan is not validated twice
    if not errors:
        errors = rule_errors(plan)
    result["schema_errors"] = errors
    result["schema_valid"] = not errors
    if errors or not isinstance(plan, dict):
        return Judgement(result, [], "", False)
    if not safety:
        result["valid"] = True
        return Judgement(result, [], "", False)

    result["unknown_exercises"] = [i["name"] for _, i, e in safety_checks.prescribed(plan) if e is None]
    flags = safety_checks.flags(plan, expected) + coaching_checks.flags(plan, context, expected, asks)
    addressed = safety_checks.addressed(plan, expected, flags)
    result["constraints_addressed"] = addressed
    result["constraints_missing"] = [c for c in expected if c not in addressed]
    result["valid"] = True
    return Judgement(result, flags, json.dumps(plan, ensure_ascii=False), False)


def post_check(
    content: str | None, context: dict[str, Any], expected: list[str], asks: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """(post_validation, safety_flags) for one answer."""
    verdict = judge(content, context, expected, asks)
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
