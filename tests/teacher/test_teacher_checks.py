"""Post-checks: schema, catalogue, contraindications, beta-blocker and diabetes rules, constraints addressed."""

from __future__ import annotations

import copy
import json

import pytest

from fitsense_luigi.contracts import files
from fitsense_luigi.teacher.checks import post_check

PLAN = {
    "answer": "Here is a simple two-day start.",
    "summary": "3-day plan",
    "days_per_week": 2,
    "days": [
        {
            "day": "Monday",
            "focus": "Full body",
            "exercises": [
                {
                    "name": "Goblet Squat",
                    "sets": 3,
                    "reps": 10,
                    "seconds": None,
                    "rir": 2,
                    "rest_seconds": 90,
                    "load_kg": 16,
                    "notes": "",
                },
            ],
        },
        {
            "day": "Thursday",
            "focus": "Full body",
            "exercises": [
                {
                    "name": "Push-Up",
                    "sets": 3,
                    "reps": 10,
                    "seconds": None,
                    "rir": 2,
                    "rest_seconds": 90,
                    "load_kg": None,
                    "notes": "",
                },
            ],
        },
    ],
    "progression": "Add a rep each week.",
    "safety_notes": [],
    "explanation": "A simple start.",
}
NONE: dict = {"conditions": [], "medications": []}


def check(plan, context=NONE, expected=()):
    return post_check(json.dumps(plan), context, list(expected))


def with_exercise(name: str, day: int = 0) -> dict:
    plan = copy.deepcopy(PLAN)
    plan["days"][day]["exercises"][0]["name"] = name
    return plan


def test_a_clean_plan_passes():
    validation, flags = check(PLAN)
    assert validation == {
        "parsed": True,
        "schema_valid": True,
        "schema_errors": [],
        "unknown_exercises": [],
        "constraints_addressed": [],
        "constraints_missing": [],
        "valid": True,
        "extracted": "as_is",
        "reasoning": None,
        "repairs": [],
        "refusal": None,
        "reasks": 0,
        "reask_errors": [],
    }
    assert flags == []


@pytest.mark.parametrize(
    ("content", "parsed"),
    [(None, False), ("", False), ("plan: squat", False), ("[1, 2]", False), ('{"summary": "x"}', True)],
)
def test_unusable_answers_are_not_valid(content, parsed):
    validation, flags = post_check(content, NONE, ["avoid_valsalva"])
    assert validation["parsed"] is parsed and not validation["valid"] and not validation["schema_valid"]
    assert validation["constraints_missing"] == ["avoid_valsalva"] and flags == []


def test_schema_errors_name_the_place():
    plan = copy.deepcopy(PLAN)
    plan["days"][1]["exercises"][0]["rir"] = 9
    validation, _ = check(plan)
    assert validation["schema_errors"] == ["days/1/exercises/0/rir: 9 is greater than the maximum of 6"]


def test_contraindicated_exercises_are_flagged_for_the_users_conditions():
    knee = {"conditions": ["knee_osteoarthritis"], "medications": []}
    _, flags = check(with_exercise("Box Jump"), knee)
    assert flags == ["contraindicated:Box Jump:high_impact"]
    _, flags = check(with_exercise("Box Jump"), NONE)
    assert flags == []


def test_exercise_names_match_regardless_of_case_and_unknown_ones_are_listed():
    knee = {"conditions": ["knee_osteoarthritis"], "medications": []}
    validation, flags = check(with_exercise("box jump"), knee)
    assert flags == ["contraindicated:Box Jump:high_impact"]
    validation, _ = check(with_exercise("Hyperbaric Squat"))
    assert validation["unknown_exercises"] == ["Hyperbaric Squat"]


def test_heart_rate_zones_are_flagged_only_on_a_beta_blocker():
    plan = copy.deepcopy(PLAN)
    plan["days"][0]["exercises"][0]["notes"] = "Keep it in zone 2, about 65% of max heart rate."
    on = {"conditions": ["hypertension"], "medications": ["metoprolol succinate"]}
    _, flags = check(plan, on, ["avoid_valsalva", "rpe_not_heart_rate"])
    assert flags == ["heart_rate_zones_on_beta_blocker:zone 2"]
    _, flags = check(plan, {"conditions": ["hypertension"], "medications": ["lisinopril"]})
    assert flags == []


@pytest.mark.parametrize(
    ("days", "flag"),
    [
        (("Monday", "Thursday"), None),
        (("Monday", "Tuesday"), "monday-tuesday"),
        (("Monday", "Sunday"), "sunday-monday"),
    ],
)
def test_diabetes_forbids_consecutive_resistance_days(days, flag):
    plan = copy.deepcopy(PLAN)
    for entry, name in zip(plan["days"], days, strict=True):
        entry["day"] = name
    _, flags = check(plan, {"conditions": ["type_2_diabetes"], "medications": []}, ["nonconsecutive_resistance_days"])
    assert flags == ([f"consecutive_resistance_days:{flag}"] if flag else [])


def test_constraints_are_addressed_by_id_or_in_words():
    plan = copy.deepcopy(PLAN)
    plan["safety_notes"] = [{"constraint_id": "avoid_valsalva", "note": "Keep breathing."}]
    plan["explanation"] = "Keep your reliever inhaler at hand."
    validation, _ = check(plan, NONE, ["avoid_valsalva", "asthma_warmup_inhaler", "protect_lower_back"])
    assert validation["constraints_addressed"] == ["avoid_valsalva", "asthma_warmup_inhaler"]
    assert validation["constraints_missing"] == ["protect_lower_back"]


def test_fast_and_reference_validators_agree(built_run):
    """The compiled validator decides; the reference one words the errors: they must judge alike."""
    import random

    from jsonschema import Draft202012Validator

    from fitsense_luigi.config import load_schema
    from fitsense_luigi.teacher.checks import schema_errors

    reference = Draft202012Validator(load_schema("plan_response.schema.json"))
    rows = built_run.files.rows(files.RESPONSES)
    rng = random.Random(7)
    mutations = [
        lambda p: p.pop("summary"),
        lambda p: p.update(days_per_week=0),
        lambda p: p["days"][0]["exercises"][0].update(sets="3"),
        lambda p: p["days"][0]["exercises"][0].update(load_kg=-1),
        lambda p: p["days"][0].update(exercises=[]),
        lambda p: p.update(extra=True),
        lambda p: p["safety_notes"].append({"constraint_id": "x"}),
        lambda p: p["days"][0]["exercises"][0].update(rest_seconds=5.5),
    ]
    for row in rows:
        plan = json.loads(row["response_text"])
        assert schema_errors(plan) == [] and reference.is_valid(plan)
        broken = copy.deepcopy(plan)
        rng.choice(mutations)(broken)
        assert bool(schema_errors(broken)) == (not reference.is_valid(broken))
