"""Round trip: requests written by queries/phrasing from a real small world, answered by the mock coach.

The coach's other tests hand it requests written for them; these take what the pipeline writes. Every
request is read back here (the test's own reading of the words, against the facts JSON of the same
message: a request must not say what the user's record does not), goes through the teacher stage's
real path with the mock provider, must pass the post-checks, and must get the plan its words ask for:
no more days than the user said they have, only the equipment they said they have, nothing their
conditions rule out, an easier plan when it feels too hard, shorter sessions when time is short. Where the
words ask for a change, the plan is compared with the coach's plan for the same user and facts asked
without it. A stalled lift the user names is swapped, and a lift they are bored of stays out.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from typing import Any

import pytest

from fitsense_luigi.queries import generate, phrasing, prompts, state
from fitsense_luigi.reference.catalogue import EXERCISES, EXERCISES_BY_NAME
from fitsense_luigi.reference.equipment import ALWAYS_AT_HAND, HOME_EQUIPMENT
from fitsense_luigi.reference.safety import avoided_tags, excluded_by
from fitsense_luigi.teacher import stage
from fitsense_luigi.teacher.coach import plan_for
from tests.support import params as test_params
from tests.support.harness import RUN_ID

# Many more requests than the shared run's 48 (users repeat, their words do not): every clause gets written.
PER_TYPE = {"plan_creation": 120, "plan_modification": 360, "safety_adjustment": 120, "progress_adaptation": 240}
EXERCISE_BY_WORDS = {phrasing.lift_name(e.name).lower(): e.name for e in EXERCISES}
EQUIPMENT_BY_WORDS = {words: name for name, words in phrasing.EQUIPMENT_WORDS.items()}
CONDITION_BY_WORDS = {words: name for name, options in phrasing.CONDITION_WORDS.items() for words in options}
AS_OF = dt.date.fromisoformat(RUN_ID)  # the shared run's as-of date
GOAL_BY_WORDS = {words: goal for goal, options in phrasing.GOAL_WORDS.items() for words in options}
NEUTRAL_ASK = "Can you tweak the plan for me?"
SEED = test_params.config().reproducibility.seed
_CONTROLS: dict[tuple[str, str], dict[str, Any]] = {}
EFFORT_WORDS = {"too hard|close to failure": "It feels too hard. ", "too easy|plenty left": "It feels too easy. "}


@pytest.fixture(scope="module")
def answered(built_run, tmp_path_factory) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(query, response row, plan) for every request built from the shared run's world, answered by the teacher
    stage (``stage.answer``, as TeacherShard calls it) with the mock provider."""
    config = test_params.config({"queries": {"per_type": PER_TYPE}})
    world = {name: built_run.files.read_table(name, list(columns)) for name, columns in state.COLUMNS.items()}
    queries = generate.build_queries(config, AS_OF, world)
    assert len(queries) == sum(PER_TYPE.values())
    rows = stage.answer(config, queries, cache_root=tmp_path_factory.mktemp("round-trip-cache"))
    return [(q, r, json.loads(r["response_text"])) for q, r in zip(queries, rows, strict=True)]


def of_type(answered, prompt_type: str):
    return [(q, r, p) for q, r, p in answered if q["prompt_type"] == prompt_type]


def control_plan(query: dict[str, Any], request: str = NEUTRAL_ASK) -> dict[str, Any]:
    """The coach's plan for the same user, facts and task, asked without any wish (made once, when a check needs it)."""
    key = (query["query_id"], request)
    if key not in _CONTROLS:
        message = prompts.user_message(
            request, query["context_summary"], query["expected_safety_constraints"], query["prompt_type"]
        )
        _CONTROLS[key] = plan_for(message, SEED)
    return _CONTROLS[key]


def exercises(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for day in plan["days"] for item in day["exercises"]]


def longest(plan: dict[str, Any]) -> int:
    """Sets in the plan's longest session."""
    return max(sum(item["sets"] for item in day["exercises"]) for day in plan["days"])


def gear(plan: dict[str, Any]) -> set[str]:
    return {g for item in exercises(plan) for g in EXERCISES_BY_NAME[item["name"]].equipment}


def near(said: float, value: float | None, step: float) -> bool:
    """A number said rounded to ``step`` (1 kg, 2.5 kg plates, 5 minutes...) stands for ``value``."""
    return value is not None and abs(said - value) <= step / 2 + 1e-9


def hours_said(words: str) -> float:
    """phrasing's hours back to a number: 'about 6', '6 and a quarter', '6 and a half', '6.8', 'almost 7'."""
    if m := re.fullmatch(r"about (\d+) hours", words):
        return float(m[1])
    if m := re.fullmatch(r"(\d+) and a quarter hours", words):
        return float(m[1]) + 0.25
    if m := re.fullmatch(r"(\d+) and a half hours", words):
        return float(m[1]) + 0.5
    if m := re.fullmatch(r"(\d+\.\d) hours", words):
        return float(m[1])
    if m := re.fullmatch(r"almost (\d+) hours", words):
        return float(m[1])
    raise AssertionError(f"hours not understood: {words!r}")


# ------------------------------------------------------------------ every answer is usable


def test_every_request_phrasing_writes_gets_a_plan_that_passes_the_post_checks(answered):
    assert {q["prompt_type"] for q, _, _ in answered} == set(PER_TYPE)
    for query, row, plan in answered:
        where = (query["scenario_id"], query["user_request"])
        assert row["status"] == "ok", where
        assert row["post_validation"]["valid"] and row["post_validation"]["schema_valid"], (
            where,
            row["post_validation"],
        )
        assert row["post_validation"]["constraints_missing"] == [], where
        assert row["post_validation"]["unknown_exercises"] == [], where
        assert row["safety_flags"] == [], (where, row["safety_flags"])
        assert plan["days_per_week"] == len(plan["days"])
        avoid = avoided_tags(query["context_summary"]["conditions"], query["context_summary"]["medications"])
        assert not [i["name"] for i in exercises(plan) if EXERCISES_BY_NAME[i["name"]].tags & avoid], where


# ------------------------------------------------------------------ what the words say, read back


def test_plan_creation_requests_say_the_users_facts_and_get_no_more_days_or_gear_than_they_said(answered):
    seen: Counter[str] = Counter()
    for query, _, plan in of_type(answered, "plan_creation"):
        ctx, text = query["context_summary"], query["user_request"]
        days = int(ctx["days_per_week"] or 3)
        if m := re.search(r"(\d+)-year-old (woman|man)", text):
            seen["age and sex"] += 1
            assert int(m[1]) == ctx["age"] and m[2] == ("woman" if ctx["sex"] == "female" else "man"), text
        if m := re.search(r"I'm (\d+) and (\d+) cm tall", text):
            seen["height"] += 1
            assert int(m[1]) == ctx["age"] and near(float(m[2]), ctx["height_cm"], 1), text
        if m := re.search(r"(?:about|around|cm and) (\d+) kg\b", text):
            seen["weight"] += 1
            assert near(float(m[1]), ctx["weight_kg"], 1), text
        if m := re.search(r"I want to (.+?)(?: \(and ideally (.+?)\))?(?:[,.]| and )", text):
            seen["goal"] += 1
            assert GOAL_BY_WORDS.get(m[1]) == ctx["goal"], (m[1], ctx["goal"])
        said_days = re.search(
            r"I can train (\d) days a week|(\d) sessions a week is realistic|I've got (\d) days a week", text
        )
        if said_days:
            seen["days"] += 1
            n = int(next(g for g in said_days.groups() if g))
            assert n == days, text
            assert plan["days_per_week"] <= n, (text, plan["days_per_week"])  # no more days than the user has
        if m := re.search(r"about (\d+) minutes each", text):
            seen["minutes"] += 1
            assert near(float(m[1]), ctx["avg_session_min"], 5), text
        if re.search(r"I train at home with|at home I only have", text):
            said = _equipment_said(text)
            seen["home equipment"] += 1
            assert said == set(ctx["equipment"]) - {"exercise_mat"}, (text, ctx["equipment"])
            assert gear(plan) <= said | {"exercise_mat"}, (text, gear(plan))  # only what the user has
        if re.search(r"just my body weight|no equipment at home", text):
            seen["no equipment"] += 1
            assert set(ctx["equipment"]) <= {"exercise_mat"}, (text, ctx["equipment"])
            assert gear(plan) <= {"exercise_mat"}, (text, gear(plan))
        if re.search(r"I train at a gym with|at my gym I use", text):
            said = _equipment_said(text)
            seen["gym"] += 1
            assert ctx["training_setting"] == "gym", text
            assert said == set(ctx["equipment"]) - {"exercise_mat"}, (text, ctx["equipment"])
            assert gear(plan) <= said | {"exercise_mat"}, (text, gear(plan))  # only what the gym has for them
        for words in re.findall(
            r"(?:I also have|heads up: I have|keep in mind I have) (.+?)(?:[,.]| and (?:I can|I've|\d))", text
        ):
            seen["conditions"] += 1
            assert _conditions_said(words) <= set(ctx["conditions"]), (words, ctx["conditions"])
    for clause in ("age and sex", "days", "home equipment", "gym", "goal"):
        assert seen[clause] > 0, f"no request said its {clause}: the reading no longer matches the words ({seen})"


def _equipment_said(text: str) -> set[str]:
    """Which equipment a home user listed ('dumbbells, a kettlebell and a pull-up bar')."""
    return {name for words, name in EQUIPMENT_BY_WORDS.items() if words in text and name != "exercise_mat"}


def _conditions_said(words: str) -> set[str]:
    found = set()
    for said, name in CONDITION_BY_WORDS.items():
        if said in words:
            found.add(name)
    return found


def test_plan_modification_requests_say_the_users_facts_and_the_plan_does_what_they_ask(answered):
    seen: Counter[str] = Counter()
    for query, _, plan in of_type(answered, "plan_modification"):
        ctx, text = query["context_summary"], query["user_request"]
        days = int(ctx["days_per_week"] or 3)
        # a user who stopped speaks of the plan they were on ("I was on a 4-day plan", "my plan had me training")
        current = re.search(
            r"on a (\d)-day plan|ha[sd] me training (\d) days a week|following my (\d)-day program", text
        )
        assert current, text
        assert int(next(g for g in current.groups() if g)) == days, text

        fewer = re.search(r"I can only make (\d) days a week", text)
        more = re.search(r"freed up time for (\d) days a week", text) or ("extra day free" in text)
        if fewer and more:
            seen["contradictory days"] += 1  # both wishes drawn into one request: no day count to check
        elif fewer:
            seen["fewer days"] += 1
            assert int(fewer[1]) == days - 1, text
            assert plan["days_per_week"] <= int(fewer[1]), (text, plan["days_per_week"])
            assert plan["days_per_week"] <= control_plan(query)["days_per_week"]
        elif more:
            seen["more days"] += 1
            n = int(more[1]) if isinstance(more, re.Match) else days + 1
            assert n == days + 1, text
            assert control_plan(query)["days_per_week"] <= plan["days_per_week"] <= n, (text, plan["days_per_week"])

        if m := re.search(
            r"about (\d+) minutes but I only have (\d+) now|under (\d+) minutes \(they're around (\d+) now\)", text
        ):
            seen["shorter sessions"] += 1
            now, wanted = (int(m[1]), int(m[2])) if m[1] else (int(m[4]), int(m[3]))
            assert near(now, ctx["avg_session_min"], 5) and wanted in {max(20, now - d) for d in (10, 15, 20)}, text
            # against the same request without the time limit (effort wishes kept: they change the sets too)
            effort = next((w for w in EFFORT_WORDS if re.search(w, text)), "")
            longer = control_plan(query, f"{EFFORT_WORDS.get(effort, '')}{NEUTRAL_ASK}")
            assert max(len(d["exercises"]) for d in plan["days"]) <= max(len(d["exercises"]) for d in longer["days"])
            assert longest(plan) <= longest(longer), text

        first = rep_work(plan)  # sets and reps in reserve are the plan's scheme, the same for all
        if re.search(r"too hard|close to failure", text):
            seen["easier"] += 1
            base = rep_work(control_plan(query))
            assert ctx["avg_working_set_rir"] is not None and ctx["avg_working_set_rir"] <= 1.5, text
            assert first["rir"] >= base["rir"] and first["sets"] <= base["sets"], text
            # easier in at least one way, unless both were already at their limits (2 sets, 4 in reserve)
            assert (first["rir"], first["sets"]) != (base["rir"], base["sets"]) or (base["sets"], base["rir"]) == (2, 4)
        if re.search(r"too easy|plenty left in the tank", text):
            seen["harder"] += 1
            base = rep_work(control_plan(query))
            assert ctx["avg_working_set_rir"] is not None and ctx["avg_working_set_rir"] >= 3, text
            assert first["rir"] <= base["rir"] and first["sets"] >= base["sets"], text

        if m := re.search(r".*\b[Mm]y (.+?) has been stuck around ([\d.]+) kg \(estimated max\)", text):
            seen["stalled lift"] += 1
            lift = next(x for x in ctx["top_lifts"] if phrasing.lift_name(x["exercise"]) == m[1])
            assert lift["change_kg"] is not None and lift["change_kg"] <= 0.5, text
            assert near(float(m[2]), lift["estimated_1rm_kg"], 2.5), text
        if m := re.search(r"bored of doing (.+?) and (.+?) every week", text):
            seen["bored"] += 1
            bored = {EXERCISE_BY_WORDS[m[1].lower()], EXERCISE_BY_WORDS[m[2].lower()]}
            assert bored <= set(ctx["plan_exercises"]), (text, ctx["plan_exercises"])  # whether they go: see below

        if re.search(r"just joined a gym|finally have gym access", text):
            seen["joined a gym"] += 1
            assert ctx["training_setting"] == "home", text
            assert gear(plan) - HOME_EQUIPMENT, (text, gear(plan))  # the gym is used
        if "training at home for a while with only dumbbells and a band" in text:
            seen["home for a while"] += 1
            assert ctx["training_setting"] == "gym", text
            assert gear(plan) <= {"dumbbells", "resistance_band", "exercise_mat"}, (text, gear(plan))
        if m := re.search(r"I keep missing sessions - (\d+) done in the last (\d+) weeks", text):
            seen["missing sessions"] += 1
            assert int(m[1]) == ctx["sessions_last_window"] and int(m[2]) == ctx["window_days"] // 7, text
            assert ctx["adherence_rate"] is not None and ctx["adherence_rate"] < 0.75, text
            assert plan["days_per_week"] <= days, text
        if m := re.search(r".*\b[Mm]y (.+?) flares up on some exercises", text):
            seen["flare-up"] += 1
            assert m[1] == (ctx["injury_details"] or "").lower(), text
    # "too easy" needs a user who logs 3 or more reps in reserve: the small shared world may have none
    harder_possible = any((q["context_summary"]["avg_working_set_rir"] or 0) >= 3 for q, _, _ in answered)
    wishes = ("fewer days", "more days", "shorter sessions", "easier", "stalled lift", "bored")
    for wish in (*wishes, "harder") if harder_possible else wishes:
        assert seen[wish] > 0, f"no request asked for {wish}: the reading no longer matches the words ({seen})"
    for wish in ("joined a gym", "home for a while", "missing sessions"):
        assert seen[wish] > 0, f"no request said {wish} ({seen})"


def test_progress_requests_quote_the_users_own_numbers(answered):
    seen: Counter[str] = Counter()
    for query, _, _ in of_type(answered, "progress_adaptation"):
        ctx, text = query["context_summary"], query["user_request"]
        weeks = ctx["window_days"] // 7
        if m := re.search(r"I've done (\d+) sessions in the last (\d+) weeks", text) or re.search(
            r"I got through (\d+) workouts over (\d+) weeks", text
        ):
            seen["sessions"] += 1
            assert int(m[1]) == ctx["sessions_last_window"] and int(m[2]) == weeks, text
        if m := re.search(r"about (\d+)% of my planned workouts|~(\d+)% of the plan", text):
            seen["adherence"] += 1
            assert int(m[1] or m[2]) == round(ctx["adherence_rate"] * 100), text
        lifts = {phrasing.lift_name(x["exercise"]): x for x in ctx["top_lifts"]}
        if m := re.search(r".*\b[Mm]y (.+?) went from about ([\d.]+) kg to ([\d.]+) kg", text):
            seen["lift progress"] += 1
            lift = lifts[m[1]]
            assert near(float(m[3]), lift["estimated_1rm_kg"], 2.5), text
            assert near(float(m[2]), lift["estimated_1rm_kg"] - lift["change_kg"], 2.5) and lift["change_kg"] > 0.5
        if m := re.search(r".*\b[Mm]y (.+?) is stuck at ([\d.]+) kg", text):
            seen["stalled lift"] += 1
            lift = lifts[m[1]]
            assert near(float(m[2]), lift["estimated_1rm_kg"], 2.5) and lift["change_kg"] <= 0.5, text
        if m := re.search(r"I'm down ([\d.]+) kg|I've lost ([\d.]+) kg", text):
            seen["weight down"] += 1
            assert near(-float(m[1] or m[2]), ctx["weight_change_kg"], 0.5) and ctx["weight_change_kg"] <= -0.5, text
        if m := re.search(r"I'm up ([\d.]+) kg|I've gained ([\d.]+) kg", text):
            seen["weight up"] += 1
            assert near(float(m[1] or m[2]), ctx["weight_change_kg"], 0.5) and ctx["weight_change_kg"] >= 0.5, text
        if "weight hasn't really moved" in text:
            seen["weight steady"] += 1
            assert abs(ctx["weight_change_kg"]) < 0.5, text
        if m := re.search(r"only sleeping (.+? hours) a night|sleep has been bad, (.+? hours)", text):
            seen["short sleep"] += 1
            said = hours_said(m[1] or m[2])
            assert ctx["avg_sleep_h"] < 6.5 and abs(said - ctx["avg_sleep_h"]) <= 0.2, (text, ctx["avg_sleep_h"])
        if m := re.search(r"I sleep (.+? hours) a night|sleep is fine, around (.+? hours)", text):
            seen["enough sleep"] += 1
            said = hours_said(m[1] or m[2])
            assert ctx["avg_sleep_h"] >= 6.5 and abs(said - ctx["avg_sleep_h"]) <= 0.2, (text, ctx["avg_sleep_h"])
        if m := re.search(r"logging around (\d+) kcal a day", text):
            seen["calories"] += 1
            assert near(float(m[1]), ctx["avg_logged_kcal"], 50), text
        if m := re.search(r"haven't trained for (\d+) days", text):
            seen["break"] += 1
            assert int(m[1]) == ctx["days_since_last_session"] >= 5, text
    for clause in ("sessions", "adherence", "lift progress", "weight down", "short sleep", "enough sleep", "calories"):
        assert seen[clause] > 0, f"no request said its {clause}: the reading no longer matches the words ({seen})"


def test_safety_requests_name_the_users_own_conditions_and_medications(answered):
    seen: Counter[str] = Counter()
    for query, _, _ in of_type(answered, "safety_adjustment"):
        ctx, text = query["context_summary"], query["user_request"]
        assert query["expected_safety_constraints"], text
        for words in re.findall(r"(?:I have|diagnosed with|dealing with) (.+?)(?:,| and (?:I|my)|\.)", text):
            said = _conditions_said(words)
            if said:
                seen["condition"] += 1
                assert said <= set(ctx["conditions"]), (text, ctx["conditions"])
        for name in re.findall(r"I'm on ([a-z][a-z ]+?) for ", text):
            seen["medication"] += 1
            assert name in ctx["medications"], (text, ctx["medications"])
        for said in re.finditer(r"(?:I take|has me on) ", text):
            seen["medication detail"] += 1
            rest = text[said.end() :]
            assert any(rest.startswith(detail) for detail in ctx["medication_details"]), (
                text,
                ctx["medication_details"],
            )
    for clause in ("condition", "medication", "medication detail"):
        assert seen[clause] > 0, f"no request said its {clause}: the reading no longer matches the words ({seen})"


def others_of_its_pattern(query: dict[str, Any], name: str, also_out: set[str] = frozenset()) -> list[str]:
    """Catalogue lifts of ``name``'s pattern the user's equipment and safety rules allow."""
    at_hand = set(query["asks"]["equipment"]) | ALWAYS_AT_HAND
    pattern = EXERCISES_BY_NAME[name].pattern
    return [
        e.name
        for e in EXERCISES
        if e.pattern == pattern
        and e.name != name
        and e.name not in also_out
        and set(e.equipment) <= at_hand
        and not excluded_by(e, query["expected_safety_constraints"])
    ]


def test_a_stalled_lift_the_user_names_is_swapped_when_another_lift_can_take_its_place(answered):
    kept = []
    checked = 0
    for query, _, plan in of_type(answered, "plan_modification"):
        ctx, text = query["context_summary"], query["user_request"]
        m = re.search(r".*\b[Mm]y (.+?) has been stuck around", text)
        bored = re.search(r"bored of doing (.+?) and (.+?) every week", text)
        out = {EXERCISE_BY_WORDS[b.lower()] for b in bored.groups()} if bored else set()
        lift = next((x["exercise"] for x in ctx["top_lifts"] if m and phrasing.lift_name(x["exercise"]) == m[1]), None)
        if lift and others_of_its_pattern(query, lift, out):
            checked += 1
            if lift in {i["name"] for i in exercises(plan)}:
                kept.append((lift, text))
    assert checked > 0
    assert kept == [], f"{len(kept)} of {checked} stalled lifts kept, e.g. {kept[0]}"


def test_a_lift_the_user_is_bored_of_stays_out_when_the_catalogue_has_another_of_its_pattern(answered):
    kept = []
    checked = 0
    for query, _, plan in of_type(answered, "plan_modification"):
        text = query["user_request"]
        m = re.search(r"bored of doing (.+?) and (.+?) every week", text)
        if not m:
            continue
        bored = {EXERCISE_BY_WORDS[m[1].lower()], EXERCISE_BY_WORDS[m[2].lower()]}
        for name in sorted(bored):
            if others_of_its_pattern(query, name, bored):
                checked += 1
                if name in {i["name"] for i in exercises(plan)}:
                    kept.append((name, text))
    assert checked > 0
    assert kept == [], f"{len(kept)} of {checked} lifts the user is bored of kept, e.g. {kept[0]}"


def rep_work(plan: dict) -> dict:
    """The plan's first exercise done in reps (schema v3: timed work has no reps in reserve)."""
    return next(e for d in plan["days"] for e in d["exercises"] if e["rir"] is not None)
