"""The mock teacher: a rule-based coach whose plans are valid, safe, personal, varied and deterministic."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter

import pytest

from fitsense_luigi.config import load_config
from fitsense_luigi.contracts import files
from fitsense_luigi.contracts.encoding import iter_jsonl
from fitsense_luigi.queries import prompts
from fitsense_luigi.reference.catalogue import EXERCISES_BY_NAME
from fitsense_luigi.reference.equipment import HOME_EQUIPMENT
from fitsense_luigi.reference.safety import constraints_for
from fitsense_luigi.teacher import stage
from fitsense_luigi.teacher.checks import post_check
from fitsense_luigi.teacher.coach import WEEKDAYS, plan_for
from fitsense_luigi.teacher.mock import FLAWS, MockCoach
from fitsense_luigi.teacher.types import TeacherRequest

SEED = 20260217


@pytest.fixture(scope="module")
def queries(built_run):
    return list(iter_jsonl(built_run.files.path(files.QUERIES)))


def user_message(query):
    return query["messages"][1]["content"]


def ask(query, request: str) -> str:
    """The same user and facts, with another request in words."""
    ctx = query["context_summary"]
    return prompts.user_message(request, ctx, query["expected_safety_constraints"], query["prompt_type"])


def test_every_plan_is_valid_safe_and_addresses_every_constraint(queries):
    for q in queries:
        plan = plan_for(user_message(q), SEED)
        validation, flags = post_check(
            json.dumps(plan), q["context_summary"], q["expected_safety_constraints"], q["asks"]
        )
        assert validation["schema_valid"], validation["schema_errors"]
        assert flags == []
        assert validation["unknown_exercises"] == []
        assert validation["constraints_missing"] == []
        assert plan["days_per_week"] == len(plan["days"])
        assert [n["constraint_id"] for n in plan["safety_notes"]] == q["expected_safety_constraints"]
        assert len(plan["explanation"].split()) <= 120


def test_home_users_only_get_exercises_their_equipment_allows(queries):
    home = [
        q
        for q in queries
        if q["context_summary"]["training_setting"] == "home" and q["prompt_type"] != "plan_modification"
    ]
    assert home
    for q in home:
        gear = set(q["context_summary"]["equipment"]) | {"exercise_mat"}
        for day in plan_for(user_message(q), SEED)["days"]:
            for item in day["exercises"]:
                assert set(EXERCISES_BY_NAME[item["name"]].equipment) <= gear, (item["name"], gear)


def test_diabetes_means_at_most_three_days_never_back_to_back(queries):
    for q in queries[:12]:
        ctx = dict(q["context_summary"], conditions=["type_2_diabetes"], medications=[], days_per_week=5.0)
        constraints = constraints_for(ctx)
        message = prompts.user_message(q["user_request"], ctx, constraints, q["prompt_type"])
        days = [WEEKDAYS.index(d["day"]) for d in plan_for(message, SEED)["days"]]
        assert len(days) <= 3
        assert all(b - a >= 2 for a, b in itertools.pairwise(days))


def test_loads_come_from_the_users_own_lifts(queries):
    compared = 0
    for q in queries:
        lifts = {lift["exercise"]: lift["estimated_1rm_kg"] for lift in q["context_summary"]["top_lifts"]}
        for day in plan_for(user_message(q), SEED)["days"]:
            for item in day["exercises"]:
                if item["name"] in lifts and item["load_kg"] is not None:
                    reps = int(str(item["reps"]).split("-")[0])  # a range's low end: the load must allow its top
                    expected = lifts[item["name"]] / (1 + (reps + item["rir"]) / 30)  # Epley
                    assert 0.85 * expected - 2.5 <= item["load_kg"] <= 1.05 * expected + 2.5
                    compared += 1
    assert compared >= 10


def test_same_message_same_plan_and_wording_varies_across_users(queries):
    first = [json.dumps(plan_for(user_message(q), SEED)) for q in queries]
    assert first == [json.dumps(plan_for(user_message(q), SEED)) for q in queries]
    explanations = [json.loads(p)["explanation"] for p in first]
    assert len(set(explanations)) / len(explanations) >= 0.8
    openings = Counter(e.split(".")[0] for e in explanations)
    assert len(openings) >= 8


def test_the_coach_reads_the_request(queries):
    q = next(
        q
        for q in queries
        if q["context_summary"]["days_per_week"]
        and q["context_summary"]["days_per_week"] >= 3
        and len(q["context_summary"]["plan_exercises"]) >= 4
        and not q["expected_safety_constraints"]
        and (q["context_summary"]["adherence_rate"] or 0) >= 0.5
        and q["context_summary"]["training_setting"] == "gym"  # a gym offers an alternative for every swapped lift
    )
    ctx = q["context_summary"]
    fewer = plan_for(ask(q, "I can only make 2 days a week from now on. Can you adjust my plan?"), SEED)
    assert fewer["days_per_week"] == 2

    short = plan_for(ask(q, "I need my workouts under 30 minutes. Can you tweak the plan?"), SEED)
    assert max(len(d["exercises"]) for d in short["days"]) <= 3

    a, b = ctx["plan_exercises"][:2]
    bored = plan_for(ask(q, f"I'm bored of doing {a.lower()} and {b.lower()} every week. What would you change?"), SEED)
    names = {e["name"] for d in bored["days"] for e in d["exercises"]}
    assert a not in names and b not in names

    base = plan_for(ask(q, "Can you tweak the plan for me?"), SEED)
    hard = plan_for(ask(q, "It feels too hard - I'm grinding out most sets. Can you adjust my plan?"), SEED)
    base_item, hard_item = base["days"][0]["exercises"][0], hard["days"][0]["exercises"][0]
    assert hard_item["rir"] >= base_item["rir"] and hard_item["sets"] <= base_item["sets"]


def test_joining_a_gym_opens_the_gym_catalogue(queries):
    q = next(q for q in queries if q["context_summary"]["training_setting"] == "home")
    plan = plan_for(ask(q, "I just joined a gym. Can you adjust my plan?"), SEED)
    gear = {g for d in plan["days"] for e in d["exercises"] for g in EXERCISES_BY_NAME[e["name"]].equipment}
    assert gear - HOME_EQUIPMENT


def test_safety_answers_say_what_to_avoid(queries):
    safety = [
        q
        for q in queries
        if q["prompt_type"] == "safety_adjustment" and "knee_osteoarthritis" in q["context_summary"]["conditions"]
    ]
    assert safety
    for q in safety:
        plan = plan_for(user_message(q), SEED)
        knee = next(n["note"] for n in plan["safety_notes"] if n["constraint_id"] == "low_impact_knee")
        assert re.search(r"\bno jumping\b|\bno jumps\b|\bnot? jump", knee), knee  # ACR/OARSI 2019: no high impact
        assert not [
            i["name"]
            for d in plan["days"]
            for i in d["exercises"]
            if "high_impact" in EXERCISES_BY_NAME[i["name"]].tags
        ]


def test_mock_provider_answers_like_an_endpoint(queries):
    coach = MockCoach("fitsense-mock-coach-v1", seed=SEED)
    outcome = coach.complete(TeacherRequest(queries[0]["messages"], "m", 0.2, 1.0, 1500, SEED))
    assert outcome.status == "ok" and outcome.finish_reason == "stop"
    assert outcome.raw_response["choices"][0]["message"]["content"] == outcome.content
    assert outcome.usage["total_tokens"] == outcome.usage["prompt_tokens"] + outcome.usage["completion_tokens"] > 0


def test_flaws_exercise_every_rejection_path(queries, built_run):
    config = load_config(built_run.params)
    coach = MockCoach("m", seed=SEED, flaw_rate=1.0)
    seen: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for q in queries:
        flaw = coach.flaw_for(user_message(q), SEED)
        assert flaw in FLAWS
        outcome = coach.complete(TeacherRequest(q["messages"], "m", 0.2, 1.0, 1500, SEED))
        row = stage.response_row(q, "mock", "m", outcome, cache_hit=False)
        seen[flaw] += 1
        if row["status"] != "ok":
            reasons[row["status"]] += 1
        elif row["safety_flags"]:
            reasons["safety_flagged"] += 1
        elif row["post_validation"]["constraints_missing"]:
            reasons["constraints_missing"] += 1
        else:
            reasons["clean"] += 1
    assert set(seen) == set(FLAWS)
    assert {"length", "content_filter", "invalid", "safety_flagged", "constraints_missing"} <= set(reasons)
    assert reasons["clean"] == 0
    assert config.teacher.mock.flaw_rate == 0.0, "the default run stays clean"


def test_flaw_rate_is_a_share_and_deterministic(queries):
    coach = MockCoach("m", seed=SEED, flaw_rate=0.25)
    flawed = [coach.flaw_for(user_message(q), SEED) for q in queries]
    assert flawed == [coach.flaw_for(user_message(q), SEED) for q in queries]
    share = sum(f is not None for f in flawed) / len(flawed)
    assert 0.05 <= share <= 0.5
