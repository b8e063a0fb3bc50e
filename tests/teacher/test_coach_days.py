"""Training days the mock coach plans, judged by the guidance, not by the coach's own formula.

Expected values come from the guidelines: progress gradually (ACSM Guidelines, 11th ed., 2021; Garber et al.
2011), at least 2 days of muscle-strengthening work a week (ACSM/AHA 2007 for adults and for older adults; WHO
2020), type 2 diabetes 2-3 non-consecutive days (ADA/ACSM 2016). A plan that gives fewer days than asked says so,
naming both numbers, in the answer (the reply the user reads first).
"""

from __future__ import annotations

import json
import re

import pytest

from fitsense_luigi.contracts import files
from fitsense_luigi.contracts.encoding import iter_jsonl
from fitsense_luigi.queries import prompts
from fitsense_luigi.reference.safety import constraints_for
from fitsense_luigi.teacher.checks import post_check
from fitsense_luigi.teacher.coach import WEEKDAYS, plan_for

SEED = 20260217
WINDOW = 84  # twelve weeks, the default look-back
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six")


@pytest.fixture(scope="module")
def queries(built_run):
    return list(iter_jsonl(built_run.files.path(files.QUERIES)))


@pytest.fixture(scope="module")
def someone(queries):
    """A user with no health rule and no novice cap: only the days under test limit the week."""
    return next(q for q in queries if not q["expected_safety_constraints"] and q["context_summary"]["age"] < 60)


def plan_of(query, request: str, **facts):
    ctx = dict(query["context_summary"], window_days=WINDOW, **facts)
    constraints = constraints_for(ctx)
    plan = plan_for(prompts.user_message(request, ctx, constraints, "plan_modification"), SEED)
    return plan, ctx, constraints


def says(text: str, days: int) -> bool:
    return re.search(rf"\b(?:{days}|{NUMBER_WORDS[days]})\b", text, re.IGNORECASE) is not None


@pytest.mark.parametrize(
    ("sessions", "most"),
    [
        (12, 2),  # 1 a week: one day more is 2 (ACSM: progress gradually)
        (6, 2),  # 0.5 a week: still the ACSM/AHA minimum of 2, not 1
        (0, 2),  # nothing logged in 12 weeks: the minimum, 2
        (24, 3),  # 2 a week: 3
    ],
)
def test_a_user_who_trained_little_is_not_jumped_to_the_days_they_ask_for(someone, sessions, most):
    request = "I've freed up time for 5 days a week. Can you rework my plan around that?"
    plan, ctx, constraints = plan_of(
        someone, request, sessions_last_window=sessions, days_per_week=3.0, experience="advanced"
    )
    assert 2 <= plan["days_per_week"] <= most
    # the reply itself says why the week is shorter than asked: both numbers, in the answer the user reads first
    assert says(plan["answer"], 5) and says(plan["answer"], plan["days_per_week"]), plan["answer"]
    _, flags = post_check(json.dumps(plan), ctx, constraints)
    assert flags == []


def test_a_user_who_trains_three_days_a_week_gets_the_fourth_day_they_ask_for(someone):
    plan, _, _ = plan_of(
        someone,
        "I've freed up time for 4 days a week. Can you rework my plan around that?",
        sessions_last_window=36,  # 3 a week for twelve weeks
        days_per_week=3.0,
        experience="advanced",
    )
    assert plan["days_per_week"] == 4


def test_a_seventy_year_old_with_nothing_logged_still_gets_two_days(someone):
    """ACSM/AHA 2007 (Nelson et al.): older adults strengthen on at least 2 days a week."""
    for days in (2.0, 3.0, 5.0):
        plan, _, constraints = plan_of(
            someone, "Can you tweak the plan for me?", age=70, sessions_last_window=0, days_per_week=days
        )
        assert "low_impact_older_adult" in constraints
        assert plan["days_per_week"] >= 2


def test_diabetes_keeps_two_to_three_days_apart_whatever_was_done(someone):
    """ADA/ACSM 2016 (Colberg et al.): resistance 2-3 days a week, never two days in a row."""
    for sessions in (0, 12, 60):
        plan, _, _ = plan_of(
            someone,
            "I've freed up time for 5 days a week. Can you rework my plan around that?",
            sessions_last_window=sessions,
            conditions=["type_2_diabetes"],
            medications=[],
            days_per_week=5.0,
        )
        days = [WEEKDAYS.index(d["day"]) for d in plan["days"]]
        assert 2 <= len(days) <= 3
        assert says(plan["answer"], 5), plan["answer"]


def test_asked_for_four_after_a_break_with_low_adherence_the_answer_says_why_three(someone):
    """The known gap: a user asked for 4 days and got 3 with no sentence saying why."""
    request = (
        "It's been a while since my last workout, I've freed up time for 4 days a week and I keep missing sessions"
        " - 27 done in the last 12 weeks. Can you rework it around that?"
    )
    plan, _, _ = plan_of(someone, request, sessions_last_window=27, days_per_week=4.0, adherence_rate=0.56)
    assert plan["days_per_week"] == 3
    assert says(plan["answer"], 4) and says(plan["answer"], 3), plan["answer"]
    assert "as you asked" not in plan["explanation"] and "now that you have the time" not in plan["explanation"]


def test_every_answer_of_the_run_explains_fewer_days_than_asked(queries):
    """Across the built run's requests: a week shorter than the request's days is said in the answer."""
    shorter = 0
    for q in queries:
        asked = (q.get("asks") or {}).get("days")
        if not asked or (q["asks"].get("conflicting_days") or []):
            continue
        plan = plan_for(q["messages"][1]["content"], SEED)
        if 0 < plan["days_per_week"] < asked:
            shorter += 1
            assert says(plan["answer"], asked) and says(plan["answer"], plan["days_per_week"]), plan["answer"]
    assert shorter


def test_a_shorter_week_than_the_plan_names_the_plans_days(someone):
    """Nothing asked, a 4-day plan and nothing logged for 12 weeks: 2 days (the floor), said against the 4."""
    ctx = dict(
        someone["context_summary"],
        window_days=WINDOW,
        sessions_last_window=0,
        adherence_rate=0.0,
        days_per_week=4.0,
        experience="intermediate",
    )
    message = prompts.user_message("Can you build me a weekly plan?", ctx, constraints_for(ctx), "plan_creation")
    plan = plan_for(message, SEED)
    assert plan["days_per_week"] == 2
    assert says(plan["explanation"], 4) and says(plan["explanation"], 2), plan["explanation"]
