"""Post-checks: schema, catalogue, a crafted answer breaking each safety and coaching rule, constraints addressed."""

from __future__ import annotations

import copy
import json

import pytest

from fitsense_luigi.contracts import files
from fitsense_luigi.reference import safety
from fitsense_luigi.teacher.checks import judge, post_check
from tests.support.answer_shapes import SHAPES

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
NONE: dict = {"conditions": [], "medications": [], "equipment": ["dumbbells"]}


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


# ------------------------------------------------------------------ safety rules: crafted answers, one per rule
# Each case: a user with one risk factor of shared/reference/safety_guidance.md, the rule id the query carries,
# and an answer that breaks the guidance; the flag must name the rule.

GYM = ["barbell", "bench", "dumbbells", "kettlebell", "plyo_box", "squat_rack", "stationary_bike", "exercise_mat"]


def person(**facts) -> dict:
    return {"conditions": [], "medications": [], "equipment": GYM, **facts}


@pytest.mark.parametrize(
    ("rule_id", "facts", "exercise"),
    [
        ("low_impact_older_adult", {"age": 81}, "Box Jump"),  # ACSM/AHA 2007: no high impact without a history
        ("low_impact_high_bmi", {"bmi": 38.2}, "Burpee"),  # ACSM; NSCA: landing forces scale with body mass
        ("low_impact_knee", {"conditions": ["knee_osteoarthritis"]}, "Jump Squat"),  # ACR/OARSI 2019
        ("protect_lower_back", {"conditions": ["lower_back_pain"]}, "Jumping Jacks"),  # NICE NG59 during a flare
        ("protect_lower_back", {"conditions": ["lower_back_pain"]}, "Barbell Good Morning"),  # heavy spinal load
        ("novice_foundations", {"experience": "novice"}, "Box Jump"),  # NSCA: plyometrics need a strength base
        ("avoid_valsalva", {"conditions": ["hypertension"]}, "Conventional Deadlift"),  # AHA 2007: no maximal strain
    ],
)
def test_an_exercise_a_rule_rules_out_is_flagged_with_the_rules_id(rule_id, facts, exercise):
    plan = with_exercise(exercise)
    _, flags = check(plan, person(**facts), [rule_id])
    assert [f for f in flags if f.startswith(f"{rule_id}:{exercise} (")], flags
    # the same plan for someone without the risk factor breaks no safety rule
    _, flags = check(plan, person(), [])
    assert not [f for f in flags if f.split(":", 1)[0] in safety.RULES], flags


def test_the_listed_rules_follow_the_person_not_the_plan():
    # the query's constraints come from the user's facts (safety.constraints_for): an 81-year-old with type 2
    # diabetes on metoprolol (the example) carries the age, diabetes and beta-blocker rules
    facts = person(age=81, conditions=["type_2_diabetes"], medications=["metoprolol succinate"])
    rules = safety.constraints_for(facts)
    assert {"low_impact_older_adult", "nonconsecutive_resistance_days", "rpe_not_heart_rate"} <= set(rules)
    _, flags = check(with_exercise("Jumping Lunge"), facts, rules)
    assert any(f.startswith("low_impact_older_adult:Jumping Lunge") for f in flags), flags


def test_exercise_names_match_regardless_of_case_and_unknown_ones_are_listed():
    validation, flags = check(
        with_exercise("box jump"), person(conditions=["knee_osteoarthritis"]), ["low_impact_knee"]
    )
    assert "low_impact_knee:Box Jump (tag high_impact)" in flags
    validation, _ = check(with_exercise("Hyperbaric Squat"), person())
    assert validation["unknown_exercises"] == ["Hyperbaric Squat"]


def test_heart_rate_zones_are_flagged_only_on_a_beta_blocker():
    plan = copy.deepcopy(PLAN)
    plan["days"][0]["exercises"][0]["notes"] = "Keep it in zone 2, about 65% of max heart rate."
    on = person(conditions=["hypertension"], medications=["metoprolol succinate"])
    _, flags = check(plan, on, ["avoid_valsalva", "rpe_not_heart_rate"])
    assert flags == ["rpe_not_heart_rate:heart-rate zones prescribed (zone 2)"]
    _, flags = check(plan, person(conditions=["hypertension"], medications=["lisinopril"]), ["avoid_valsalva"])
    assert flags == []


@pytest.mark.parametrize(
    ("days", "flag"),
    [
        (("Monday", "Thursday"), None),
        (("Monday", "Tuesday"), "monday-tuesday back to back"),
        (("Monday", "Sunday"), "sunday-monday back to back"),
    ],
)
def test_diabetes_forbids_consecutive_resistance_days(days, flag):
    plan = copy.deepcopy(PLAN)
    for entry, name in zip(plan["days"], days, strict=True):
        entry["day"] = name
    _, flags = check(plan, person(conditions=["type_2_diabetes"]), ["nonconsecutive_resistance_days"])
    assert flags == ([f"nonconsecutive_resistance_days:{flag}"] if flag else [])


def test_a_novice_gets_at_most_three_days_and_a_hypertensive_user_no_maximal_sets():
    plan = copy.deepcopy(PLAN)
    plan["days_per_week"] = 4
    plan["days"] = [dict(plan["days"][0], day=d) for d in ("Monday", "Tuesday", "Thursday", "Friday")]
    _, flags = check(plan, person(experience="novice"), ["novice_foundations"])
    assert "novice_foundations:4 days a week, at most 3" in flags  # ACSM 2009: novices 2-3 days a week
    heavy = copy.deepcopy(PLAN)
    heavy["days"][0]["exercises"][0].update(reps="1-3", rir=0)
    _, flags = check(heavy, person(conditions=["hypertension"]), ["avoid_valsalva"])
    assert "avoid_valsalva:Goblet Squat sets of 1-3 reps, at least 6" in flags
    assert "avoid_valsalva:Goblet Squat 0 reps in reserve, at least 1" in flags


def test_constraints_are_addressed_only_by_a_kept_rule_and_a_note_that_says_how():
    plan = copy.deepcopy(PLAN)
    plan["safety_notes"] = [
        {"constraint_id": "avoid_valsalva", "note": "Exhale as you push and never hold your breath."},
        {"constraint_id": "low_impact_knee", "note": "No jumping: squats to a box and the bike instead."},
    ]
    plan["explanation"] = "Keep your reliever inhaler at hand; mind your knee and your back."  # words are not enough
    context = person(conditions=["hypertension", "asthma", "lower_back_pain", "knee_osteoarthritis"])
    expected = ["avoid_valsalva", "low_impact_knee", "protect_lower_back", "asthma_warmup_inhaler"]
    validation, _ = check(plan, context, expected)
    assert validation["constraints_addressed"] == ["avoid_valsalva", "low_impact_knee"]
    assert validation["constraints_missing"] == ["protect_lower_back", "asthma_warmup_inhaler"]
    # a note that claims the rule while the plan breaks it does not address it
    jumping = copy.deepcopy(plan)
    jumping["days"][0]["exercises"][0]["name"] = "Box Jump"
    validation, flags = check(jumping, context, expected)
    assert "low_impact_knee" in validation["constraints_missing"] and any(
        f.startswith("low_impact_knee:") for f in flags
    )
    # a note too short to say how does not either
    terse = copy.deepcopy(plan)
    terse["safety_notes"][0]["note"] = "Breathe."
    validation, _ = check(terse, context, expected)
    assert "avoid_valsalva" in validation["constraints_missing"]


# ------------------------------------------------------------------ coaching rules: prescriptions, replies


def timed(name: str, **item) -> dict:
    plan = with_exercise(name)
    plan["days"][0]["exercises"][0].update({"load_kg": None, **item})
    return plan


@pytest.mark.parametrize(
    ("plan", "flag"),
    [
        (timed("Plank", reps=10, seconds=None, rir=None), "timed_work_in_seconds:Plank as 10 reps"),
        (timed("Farmer's Carry", reps=12, seconds=None, rir=2), "timed_work_in_seconds:Farmer's Carry as 12 reps"),
        (timed("Stationary Bike Intervals", reps=1, seconds=None, rir=2), "timed_work_in_seconds:Stationary Bike"),
        (timed("Side Plank", reps=None, seconds=10, rir=None), "hold_at_least_15s:Side Plank 10 s"),
        (timed("Wall Sit", reps=None, seconds=40, rir=2), "reps_in_reserve_on_rep_work:Wall Sit rir 2"),
        (
            timed("Plank", reps=None, seconds=40, rir=None, notes="Own the lowering phase, then drive up."),
            "notes_fit_the_exercise:Plank 'lowering phase'",
        ),
    ],
)
def test_timed_work_is_prescribed_in_seconds_with_notes_that_fit(plan, flag):
    # the guidance notes: holds and carries as time (20-60 s for planks), not repetitions; RIR counts reps
    _, flags = check(plan, person())
    assert any(f.startswith(flag) for f in flags), flags


def test_a_well_prescribed_hold_passes():
    _, flags = check(timed("Plank", reps=None, seconds=40, rir=None, notes="Squeeze glutes, breathe normally."))
    assert flags == []


def test_equipment_the_user_lacks_is_flagged():
    plan = json.dumps(with_exercise("Barbell Back Squat"))
    _, flags = post_check(plan, person(equipment=["dumbbells"]), [], dict(ASKS, equipment=["dumbbells"]))
    assert flags == ["equipment_at_hand:Barbell Back Squat needs barbell, squat_rack"]
    # the request's new setting counts (asks), not only the facts' list
    _, flags = post_check(plan, person(equipment=["dumbbells"]), [], dict(ASKS, equipment=[*GYM, "squat_rack"]))
    assert flags == []


def test_a_load_far_above_the_users_own_max_is_flagged():
    plan = copy.deepcopy(PLAN)
    plan["days"][0]["exercises"][0].update(load_kg=30)  # 10 reps + 2 in reserve on a 24 kg estimated max
    context = person(top_lifts=[{"exercise": "Goblet Squat", "estimated_1rm_kg": 24.0, "change_kg": 0.0}])
    _, flags = check(plan, context)
    assert [f for f in flags if f.startswith("gradual_load_progression:Goblet Squat 30 kg")], flags


ASKS = {"question": None, "about": None, "wants_plan": True, "days": None, "conflicting_days": [],
        "stalled_lift": None, "equipment": GYM}  # fmt: skip


def replying(answer: str, explanation: str = "A simple start.", days: int | None = None) -> dict:
    plan = copy.deepcopy(PLAN)
    plan.update(answer=answer, explanation=explanation)
    if days == 0:
        plan.update(days_per_week=0, days=[])
    return plan


def test_a_yes_no_question_gets_yes_or_no_first_and_no_when_a_rule_rules_it_out():
    asks = dict(ASKS, question="yes_no", about="Box Jump", wants_plan=False)
    knee = person(conditions=["knee_osteoarthritis"])
    _, flags = post_check(json.dumps(replying("Here is a plan.", days=0)), knee, ["low_impact_knee"], asks)
    assert [f for f in flags if f.startswith("answers_yes_no:no yes or no first")], flags
    _, flags = post_check(json.dumps(replying("Yes, box jumps are fine.", days=0)), knee, ["low_impact_knee"], asks)
    assert "answers_yes_no:yes, but Box Jump is ruled out" in flags
    _, flags = post_check(json.dumps(replying("No - jumping loads the knee.", days=0)), knee, ["low_impact_knee"], asks)
    assert flags == []


def test_push_or_back_off_gets_a_decision_with_a_number():
    asks = dict(ASKS, question="push_or_back_off")
    _, flags = post_check(json.dumps(replying("Great work so far!")), person(), [], asks)
    assert [f for f in flags if f.startswith("decides_push_or_back_off:")], flags
    said = "Push: you made 92% of your sessions, so add 2.5% to the main lifts."
    _, flags = post_check(json.dumps(replying(said)), person(), [], asks)
    assert flags == []


def test_a_stalled_lift_a_contradiction_and_a_missing_plan_are_flagged():
    asks = dict(ASKS, stalled_lift="Goblet Squat", conflicting_days=[2, 4])
    _, flags = post_check(json.dumps(replying("Here is your plan.")), person(), [], asks)
    assert "names_the_stalled_lift:Goblet Squat not named" in flags
    assert {"points_out_contradiction:2 days not named", "points_out_contradiction:4 days not named"} <= set(flags)
    said = "You said 2 days and also four days; I planned 2. Goblet Squat: drop 10% and build back."
    _, flags = post_check(json.dumps(replying(said)), person(), [], asks)
    assert flags == []
    _, flags = post_check(json.dumps(replying("Yes.", days=0)), person(), [], ASKS)
    assert flags == ["plan_when_asked:a plan was asked for, none given"]
    _, flags = post_check(json.dumps(replying("Here it is.")), person(), [], dict(ASKS, days=1))
    assert flags == ["days_within_schedule:2 days a week, the user has 1"]


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


def week_of(days: int) -> dict:
    plan = copy.deepcopy(PLAN)
    names = ("Monday", "Tuesday", "Thursday", "Friday", "Saturday")[:days]
    plan.update(days_per_week=days, days=[dict(plan["days"][0], day=d) for d in names])
    return plan


@pytest.mark.parametrize(
    ("sessions", "days", "flagged"),
    [
        # 12 sessions in 12 weeks is 1 a week: ACSM (progress gradually) allows one day more, 2 days; 4 is a jump
        (12, 4, True),
        (12, 3, True),
        (12, 2, False),
        (0, 2, False),  # nothing logged: the ACSM/AHA minimum of 2 days is always allowed (WHO 2020: 2 or more days)
        (0, 3, True),
        (36, 4, False),  # 3 a week: a fourth day is one step
        (36, 5, True),
        (48, 5, False),
    ],
)
def test_training_days_go_up_at_most_one_day_from_what_the_user_did(sessions, days, flagged):
    context = person(sessions_last_window=sessions, window_days=84)
    _, flags = check(week_of(days), context)
    ours = [f for f in flags if f.startswith("gradual_frequency_progression:")]
    assert bool(ours) is flagged, flags
    _, flags = check(week_of(days), person())  # no look-back window in the facts: nothing to judge against
    assert not [f for f in flags if f.startswith("gradual_frequency_progression:")]


def test_fewer_days_than_the_user_has_are_explained_naming_their_days():
    """Every change to what was asked is explained in the answer: a 2-day plan for a user with 4 days names the 4."""
    asks = dict(ASKS, days=4)
    _, flags = post_check(json.dumps(replying("Here is a 2-day plan.")), person(), [], asks)
    assert flags == ["explains_fewer_days:2 days planned, the 4 the user has not named"]
    said = "You have four days, but after twelve quiet weeks we start at two and add one back after two weeks."
    _, flags = post_check(json.dumps(replying(said)), person(), [], asks)
    assert flags == []
    _, flags = post_check(json.dumps(replying("Here is a 2-day plan.")), person(), [], dict(ASKS, days=2))
    assert flags == []  # the days they have: nothing to explain


VALIDITY = ("valid", "parsed", "refusal", "schema_errors", "schema_valid", "repairs", "extracted", "reasoning")


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_judging_validity_alone_decides_re_asks_and_the_breaker_as_the_full_judgement_does(shape):
    """Answers bought ahead for another shard are judged for validity alone (that shard judges them in full):
    every field a re-ask or the circuit breaker reads must come out as the full judgement has it, for every
    shape real teachers answer in, and nothing about safety may be claimed."""
    message, _ = SHAPES[shape](copy.deepcopy(PLAN))
    context = {"conditions": [], "equipment": ["dumbbells"]}
    full = judge(message.get("content"), context, ["knee_injury"])
    light = judge(message.get("content"), context, ["knee_injury"], safety=False)
    assert {k: light.validation[k] for k in VALIDITY} == {k: full.validation[k] for k in VALIDITY}
    assert light.refused == full.refused
    assert light.flags == [] and light.normalized_text == "" and light.validation["constraints_addressed"] == []
