"""Requests read well whatever the user's record lacks, and the mock coach still plans safely from them."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest

from fitsense_luigi.config import PROMPT_TYPES
from fitsense_luigi.contracts import files
from fitsense_luigi.contracts.encoding import iter_jsonl
from fitsense_luigi.queries import phrasing, prompts
from fitsense_luigi.reference.safety import constraints_for
from fitsense_luigi.teacher.checks import post_check
from fitsense_luigi.teacher.coach import plan_for

MAY_BE_MISSING = ("weight_kg", "bmi", "secondary_goal", "days_per_week", "adherence_rate", "adherence_last_14_days",
                  "days_since_last_session", "avg_session_min", "avg_working_set_rir", "weight_change_kg",
                  "weekly_weight_change_pct", "avg_sleep_h", "sleep_target_h", "short_sleep_share", "avg_logged_kcal",
                  "maintenance_kcal", "injury_details", "returned_after_days")  # fmt: skip
MAY_BE_EMPTY = ("top_lifts", "plan_exercises", "equipment", "conditions", "medications", "allergies")


@pytest.fixture(scope="module")
def contexts(built_run):
    rows = iter_jsonl(built_run.files.path(files.QUERIES))
    return [row["context_summary"] for row in rows]


def thin(ctx: dict, rng: random.Random) -> dict:
    """The same user with some facts unknown (no weigh-ins, no plan, no lifts, ...)."""
    ctx = dict(ctx)
    for key in rng.sample(MAY_BE_MISSING, rng.randint(0, len(MAY_BE_MISSING))):
        ctx[key] = None
    for key in rng.sample(MAY_BE_EMPTY, rng.randint(0, len(MAY_BE_EMPTY))):
        ctx[key] = []
    ctx["medication_details"] = ctx["medication_details"] if ctx["medications"] else []
    ctx["condition_severity"] = ctx["condition_severity"] if ctx["conditions"] else {}
    return ctx


def test_requests_and_plans_survive_missing_facts(contexts):
    rng = random.Random(20260217)
    for n in range(400):
        ctx = thin(rng.choice(contexts), rng)
        prompt_type = rng.choice(PROMPT_TYPES)
        constraints = constraints_for(ctx)
        request = phrasing.compose(prompt_type, ctx, constraints, np.random.default_rng(n))
        text = request.text
        assert not re.search(r"None|nan|\b0 kg|[{}]|  ", text), text
        assert (text[0].isupper() or text[0].isdigit()) and text.rstrip()[-1] in ".?!", text
        plan = plan_for(prompts.user_message(text, ctx, constraints, prompt_type), n)
        validation, flags = post_check(json.dumps(plan), ctx, constraints, request.asks)
        assert validation["valid"] and not flags and not validation["constraints_missing"], (validation, flags)
        assert "None" not in json.dumps(plan)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (6.05, "about 6 hours"),
        (6.3, "6 and a quarter hours"),
        (6.5, "6 and a half hours"),
        (6.8, "6.8 hours"),
        (6.9, "almost 7 hours"),
    ],
)
def test_hours_are_said_the_way_people_say_them(value, said):
    assert phrasing.hours(value) == said


def test_kilograms_round_to_plate_steps_and_lift_names_read_naturally():
    assert phrasing.kg(61.3) == "61.5 kg" and phrasing.kg(61.3, 2.5) == "62.5 kg"
    assert phrasing.lift_name("Barbell Back Squat") == "barbell back squat"
    assert phrasing.lift_name("Romanian Deadlift") == "Romanian deadlift"
    assert phrasing.join_words(["a", "b", "c"]) == "a, b and c"


def test_requests_speak_from_a_lapse_or_a_stop(contexts):
    """A user back from weeks off says so; a user who stopped asks to restart (and never to 'progress')."""
    active = next(c for c in contexts if c["sessions_last_window"] and c["days_per_week"])
    back = {**active, "returned_after_days": 43}
    stopped = {**active, "returned_after_days": None, "sessions_last_window": 0, "sessions_last_14_days": 0}
    for prompt_type in ("plan_creation", "plan_modification", "progress_adaptation"):
        said = [phrasing.request_text(prompt_type, back, np.random.default_rng(k)) for k in range(20)]
        assert all(re.search(r"\b6 weeks (off|away)\b", text) for text in said), (prompt_type, said[0])
        restart = [phrasing.request_text(prompt_type, stopped, np.random.default_rng(k)) for k in range(20)]
        assert all(re.search(r"stopped|fell off|since my last workout", text) for text in restart), restart[0]
        assert not any("following my" in text or "progress from here" in text for text in restart)
    assert not any(c.get("returned_after_days") for c in contexts if not c["sessions_last_window"])
