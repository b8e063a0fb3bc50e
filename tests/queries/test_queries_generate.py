"""GenerateQueries: natural requests from each user's real state, with the exact messages the teacher gets."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections import Counter

import pandas as pd
import pyarrow.compute as pc
import pytest

from fitsense_luigi.config import PROMPT_TYPES, load_config
from fitsense_luigi.contracts import files, stages
from fitsense_luigi.contracts import world as world_reader
from fitsense_luigi.contracts.encoding import iter_jsonl
from fitsense_luigi.pipeline.store import RunStore
from fitsense_luigi.queries import generate, prompts, state
from fitsense_luigi.reference.catalogue import EXERCISES
from fitsense_luigi.reference.equipment import HOME_EQUIPMENT
from fitsense_luigi.reference.safety import constraints_for
from tests.support import layout
from tests.support import params as test_params
from tests.support.harness import RUN_ID, run_luigi
from tests.support.layout import RunFiles

AS_OF = dt.date(2026, 2, 17)
QUERY_KEYS = {
    "query_id",
    "user_id",
    "scenario_id",
    "prompt_type",
    "slice_tags",
    "expected_safety_constraints",
    "context_summary",
    "user_request",
    "asks",
    "messages",
    "template_version",
}


def read_world(data_root, run_id):
    store = RunStore(data_root, run_id)
    return {name: store.read_table(layout.table(name), list(columns)) for name, columns in state.COLUMNS.items()}


@pytest.fixture(scope="module")
def queries(built_run):
    return list(iter_jsonl(built_run.files.path(files.QUERIES)))


@pytest.fixture(scope="module")
def tables(built_run):
    return {
        name: world_reader.frame(table) for name, table in read_world(built_run.data_root, built_run.run_id).items()
    }


def test_every_row_has_the_contract_keys_and_counts_follow_the_config(queries, built_run):
    config = load_config(built_run.params)
    assert all(set(q) == QUERY_KEYS for q in queries)
    assert Counter(q["prompt_type"] for q in queries) == {t: config.queries.per_type[t] for t in PROMPT_TYPES}
    assert len({q["query_id"] for q in queries}) == len(queries)
    assert all(uuid.UUID(q["query_id"]).version == 5 for q in queries)
    assert {q["template_version"] for q in queries} == {config.queries.template_version}
    for q in queries:
        assert set(q["slice_tags"]) == {"age_band", "sex", "goal_type", "activity_level", "condition_flag"}
        assert q["slice_tags"]["condition_flag"] == (
            "with_condition" if q["context_summary"]["conditions"] else "no_condition"
        )
        assert q["slice_tags"]["goal_type"] == q["context_summary"]["goal"]


def test_messages_are_exactly_what_the_teacher_reads(queries):
    for q in queries:
        system, user = q["messages"]
        assert system == {"role": "system", "content": prompts.SYSTEM_PROMPT}
        assert user["role"] == "user" and user["content"].startswith(q["user_request"] + "\n")
        facts = re.search(r"^My profile and recent history: (.*)$", user["content"], re.MULTILINE).group(1)
        assert json.loads(facts) == q["context_summary"]
        assert prompts.TASK_LINES[q["prompt_type"]] in user["content"]
        listed = re.findall(r"^- ([a-z_]+): ", user["content"], re.MULTILINE)
        assert listed == q["expected_safety_constraints"]


def test_system_prompt_lists_the_catalogue_with_equipment():
    for exercise in EXERCISES:
        assert f"- {exercise.name} ({exercise.pattern};" in prompts.SYSTEM_PROMPT
    assert "Barbell Back Squat (squat; barbell, squat_rack)" in prompts.SYSTEM_PROMPT


def test_safety_constraints_follow_the_users_risk_factors(queries):
    # shared/reference/safety_guidance.md: who must not jump, who is effort-by-RPE, who trains on non-consecutive days
    expected_by = {
        "low_impact_older_adult": lambda c: c["age"] >= 65,
        "low_impact_high_bmi": lambda c: c["bmi"] is not None and c["bmi"] >= 35,
        "novice_foundations": lambda c: c["experience"] == "novice",
        "low_impact_knee": lambda c: "knee_osteoarthritis" in c["conditions"],
        "protect_lower_back": lambda c: "lower_back_pain" in c["conditions"],
        "rpe_not_heart_rate": lambda c: "metoprolol succinate" in c["medications"],
        "nonconsecutive_resistance_days": lambda c: "type_2_diabetes" in c["conditions"],
        "avoid_valsalva": lambda c: "hypertension" in c["conditions"],
    }
    for q in queries:
        ctx = q["context_summary"]
        for rule_id, applies in expected_by.items():
            if applies(ctx):
                assert rule_id in q["expected_safety_constraints"], (rule_id, ctx)
            elif rule_id not in ("low_impact_knee", "protect_lower_back"):  # these also follow a recent injury
                assert rule_id not in q["expected_safety_constraints"], (rule_id, ctx)
    assert all(q["expected_safety_constraints"] for q in queries if q["prompt_type"] == "safety_adjustment")
    assert all(constraints_for(q["context_summary"], AS_OF) == q["expected_safety_constraints"] for q in queries)


def test_context_agrees_with_the_tables(queries, tables):
    weights = tables["weight_logs"].sort_values("logged_at")
    workouts = tables["workouts"]
    start = pd.Timestamp(AS_OF) - pd.Timedelta(days=27)
    conditions = tables["user_conditions"].merge(tables["conditions"], on="condition_id")
    gear = tables["exercise_equipment"].merge(tables["equipment"], on="equipment_id")
    plans = tables["workout_plans"].merge(tables["plan_exercises"], on="plan_id")
    for q in queries[::5]:
        ctx, user = q["context_summary"], q["user_id"]
        mine = weights[weights["user_id"] == user]
        if len(mine):
            assert ctx["weight_kg"] == pytest.approx(float(mine["weight_kg"].iloc[-1]), abs=0.051)
        started = pd.to_datetime(workouts.loc[workouts["user_id"] == user, "started_at"]).dt.tz_localize(None)
        assert ctx["sessions_last_window"] == int((started >= start).sum())
        assert ctx["conditions"] == sorted(conditions.loc[conditions["user_id"] == user, "name"])
        plan_gear = set(gear[gear["exercise_id"].isin(plans.loc[plans["user_id"] == user, "exercise_id"])]["name"])
        assert set(ctx["equipment"]) == plan_gear
        assert ctx["training_setting"] == ("home" if plan_gear <= HOME_EQUIPMENT else "gym")
        assert ctx["experience"] in ("novice", "intermediate", "advanced")
        assert len(ctx["top_lifts"]) <= 3
        lifts = [lift["estimated_1rm_kg"] for lift in ctx["top_lifts"]]
        assert lifts == sorted(lifts, reverse=True)


def test_requests_use_the_users_own_numbers(queries):
    checked = Counter()
    for q in queries:
        text, ctx = q["user_request"], q["context_summary"]
        assert "None" not in text and "nan" not in text and "{" not in text
        for days in re.findall(r"(\d)-day", text):
            checked["days"] += 1
            assert int(days) == int(ctx["days_per_week"])
        for sessions in re.findall(r"(\d+) (?:sessions|workouts) (?:in|over) the last", text):
            checked["sessions"] += 1
            assert int(sessions) == ctx["sessions_last_window"]
        if "I'm down" in text or "I've lost" in text:
            checked["weight"] += 1
            assert ctx["weight_change_kg"] < 0
        if "I'm up" in text or "I've gained" in text:
            checked["weight"] += 1
            assert ctx["weight_change_kg"] > 0
    # the shared run's requests say each of these (the round trip in tests/teacher reads every clause back)
    assert checked["days"] and checked["sessions"] and checked["weight"], checked


def test_safety_questions_come_from_users_with_a_constraint(queries):
    safety = [q for q in queries if q["prompt_type"] == "safety_adjustment"]
    assert safety and all(q["expected_safety_constraints"] for q in safety)
    mentions = sum(
        any(
            w in q["user_request"].lower()
            for w in ("pressure", "hypertension", "diabet", "asthma", "knee", "back", " on ", "take ")
        )
        for q in safety
    )
    assert mentions == len(safety), "every safety question names the condition or medication behind it"


def test_same_seed_same_queries_other_seed_other_queries(built_run):
    world = read_world(built_run.data_root, built_run.run_id)
    config = load_config(built_run.params)
    first = generate.build_queries(config, AS_OF, world)
    assert generate.build_queries(config, AS_OF, world) == first
    other = test_params.config({"reproducibility": {"seed": 7}})
    assert [q["user_request"] for q in generate.build_queries(other, AS_OF, world)] != [
        q["user_request"] for q in first
    ]


def test_a_prompt_type_can_be_switched_off_and_the_other_requests_stay_as_the_run_wrote_them(built_run, queries):
    world = read_world(built_run.data_root, built_run.run_id)
    config = test_params.config({"queries": {"per_type": {"safety_adjustment": 0, "plan_creation": 3}}})
    made = generate.build_queries(config, AS_OF, world)
    untouched = ("plan_modification", "progress_adaptation")
    assert Counter(q["prompt_type"] for q in made) == {
        "plan_creation": 3,
        **Counter(q["prompt_type"] for q in queries if q["prompt_type"] in untouched),
    }
    # the types left alone are exactly what the `luigi` run wrote with the full mix: no type's draws move another's
    assert [q for q in made if q["prompt_type"] in untouched] == [q for q in queries if q["prompt_type"] in untouched]


def test_population_marks_who_can_ask_for_safety_advice(built_run):
    world = read_world(built_run.data_root, built_run.run_id)
    people = state.population(world, AS_OF)
    assert people["user_id"].is_monotonic_increasing and people["user_id"].is_unique
    assert len(people) == world["user_profiles"].num_rows
    with_condition = set(world_reader.uuid_strings(world["user_conditions"]["user_id"]))
    assert set(people.loc[people["safety_relevant"], "user_id"]) >= with_condition
    meds = world["user_medications"]
    assert pc.all(pc.is_valid(meds["medication_name"])).as_py()


def test_default_scale_requests_are_at_least_95_percent_distinct(write_params, tmp_path):
    params = write_params(small=False)
    run = RunFiles(tmp_path / "data", RUN_ID)
    result = run_luigi("GenerateQueries", run.run_id, run.data_root, params)
    assert result.returncode == 0, result.output[-3000:]
    rows = list(iter_jsonl(run.path(files.QUERIES)))
    assert len(rows) == 800
    share = len({r["user_request"] for r in rows}) / len(rows)
    assert share >= 0.95
    manifest = run.document(run.manifest(stages.QUERIES))
    assert manifest["summary"]["distinct_request_share"] == round(share, 4)


def test_streaming_from_parquet_gives_the_same_queries_as_tables_in_memory(built_run):
    config = load_config(built_run.params)
    in_memory = generate.build_queries(config, AS_OF, read_world(built_run.data_root, built_run.run_id))
    with RunStore(built_run.data_root, built_run.run_id).world(state.COLUMNS) as streamed:
        assert isinstance(streamed, world_reader.ParquetWorld)
        assert generate.build_queries(config, AS_OF, streamed) == in_memory
        one = world_reader.id_keys([in_memory[0]["user_id"]])
        done = in_memory[0]["context_summary"]["sessions_last_window"]
        assert streamed.rows("workouts", "user_id", one).num_rows >= done
        assert streamed.rows("workouts", "user_id", world_reader.id_keys([])).num_rows == 0


def test_the_merge_reads_a_lines_summary_fields_as_a_json_parser_does(built_run, queries):
    lines = built_run.files.path(files.QUERIES).read_bytes().splitlines(keepends=True)
    assert len(lines) == len(queries)
    for line, query in zip(lines, queries, strict=True):
        assert generate.summary_facts(line) == {key: query[key] for key in generate.SUMMARY_KEYS}
    # a request quoting a key (escaped inside its string) is still read at the key itself
    tricky = dict(queries[0], user_request='say ,"user_request":"no" and ,"user_id":"x"')
    line = json.dumps(tricky, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
    assert generate.summary_facts(line)["user_request"] == tricky["user_request"]
    assert generate.summary_facts(line)["user_id"] == tricky["user_id"]
    assert generate.summarise([json.loads(line)]) == generate.summarise([generate.summary_facts(line)])
