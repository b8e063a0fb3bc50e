"""ValidateData: the clean small run passes every check; each crafted defect trips exactly its check."""

from __future__ import annotations

import json
import uuid
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from quality_inputs import AS_OF, Inputs, inputs

from fitsense_luigi.quality import validate
from fitsense_luigi.quality.validate.realism_checks import judge, realism_checks
from fitsense_luigi.quality.validate.split_integrity import allowed_deviation
from tests.support import params as test_params


@pytest.fixture
def inp(built_run: Any) -> Inputs:
    return inputs(built_run)


def run(inp: Inputs) -> dict[str, Any]:
    return validate.validate_run(inp.config, inp.world(), inp.dataset, inp.realism, AS_OF)


def failed(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["check"]: c for c in report["checks"] if not c["passed"]}


def replace_column(table: pa.Table, name: str, values: list[Any] | pa.Array) -> pa.Table:
    index = table.schema.get_field_index(name)
    field = table.schema.field(name)
    array = values if isinstance(values, pa.Array) else pa.array(values, type=field.type)
    return table.set_column(index, field, array)


def set_value(table: pa.Table, name: str, row: int, value: Any) -> pa.Table:
    values = table[name].to_pylist()
    values[row] = value
    return replace_column(table, name, values)


def test_clean_run_is_valid_with_counts(inp):
    report = run(inp)
    assert report["valid"], report["failed_checks"]
    assert report["num_errors"] == 0
    categories = report["categories"]
    for category in validate.CATEGORY_ORDER:
        assert categories[category]["checks"] > 0, category
    fk = next(
        c
        for c in report["checks"]
        if c["check"] == "workout_sets.workout_exercise_id -> workout_exercises.workout_exercise_id"
    )
    assert fk["checked"] == inp.tables["workout_sets"].num_rows and fk["count"] == 0


def test_small_world_reports_realism_as_warnings_only(inp):
    report = run(inp)
    realism = [c for c in report["checks"] if c["category"] == "realism"]
    assert realism and all(c["severity"] == "warning" for c in realism)
    assert all("realism_min_users" in c["note"] for c in realism)


def test_duplicate_primary_key(inp):
    users = inp.tables["users"]
    inp.tables["users"] = pa.concat_tables([users, users.slice(3, 1)])
    bad = failed(run(inp))
    check = bad["users primary key (user_id)"]
    assert check["count"] == 1 and check["category"] == "primary key"
    assert check["examples"] == [{"user_id": str(users["user_id"][3].as_py())}]
    assert "users unique (email)" in bad  # the copied row repeats the e-mail too


def test_broken_foreign_key_names_the_orphan(inp):
    orphan = uuid.UUID("00000000-0000-4000-8000-000000000001")
    workouts = inp.tables["workouts"]
    inp.tables["workouts"] = set_value(workouts, "user_id", 0, orphan.bytes)
    bad = failed(run(inp))
    check = bad["workouts.user_id -> users.user_id"]
    assert check["count"] == 1 and check["checked"] == workouts.num_rows
    assert check["examples"][0]["user_id"] == str(orphan)
    assert check["examples"][0]["workout_id"] == str(workouts["workout_id"][0].as_py())


def test_null_in_not_null_column(inp):
    logs = inp.tables["weight_logs"]
    inp.tables["weight_logs"] = set_value(logs, "weight_kg", 2, None)
    check = failed(run(inp))["weight_logs.weight_kg not null"]
    assert check["count"] == 1
    assert check["examples"] == [{"weight_log_id": str(logs["weight_log_id"][2].as_py())}]


def test_value_out_of_range_and_unknown_vocabulary(inp):
    inp.tables["weight_logs"] = set_value(
        inp.tables["weight_logs"], "weight_kg", 0, pa.scalar(512.5).cast(pa.decimal128(5, 2)).as_py()
    )
    inp.tables["user_profiles"] = set_value(inp.tables["user_profiles"], "sex", 1, "robot")
    bad = failed(run(inp))
    assert bad["weight_logs.weight_kg within [30, 350]"]["examples"][0]["weight_kg"] == 512.5
    assert bad["user_profiles.sex in its vocabulary"]["examples"][0]["sex"] == "robot"


def test_implied_rules(inp):
    workouts = inp.tables["workouts"]
    # workout 0 ends before it starts; workout 1 takes the plan of another user; workout 2 is from the future
    started = workouts["started_at"].to_pylist()
    ended = workouts["ended_at"].to_pylist()
    ended[0] = started[0] - (ended[0] - started[0])
    plans = inp.tables["workout_plans"]
    owner = workouts["user_id"][1].as_py()
    foreign = next(
        p for p, u in zip(plans["plan_id"].to_pylist(), plans["user_id"].to_pylist(), strict=True) if u != owner
    )
    started[2] = started[2].replace(year=2027)
    ended[2] = ended[2].replace(year=2027)
    workouts = replace_column(workouts, "ended_at", ended)
    workouts = replace_column(workouts, "started_at", started)
    inp.tables["workouts"] = set_value(workouts, "plan_id", 1, foreign.bytes)
    bad = failed(run(inp))
    assert bad["workouts.ended_at > started_at"]["count"] == 1
    assert bad["workouts.plan_id belongs to the workout's user"]["examples"][0]["plan_id"] == str(foreign)
    window = bad["workouts.started_at inside the 28-day look-back window"]
    assert window["count"] == 1 and window["window"] == ["2026-01-21", "2026-02-17"]


def test_record_breaking_its_schema_and_a_non_plan_response(inp):
    first, second = inp.dataset["all_records"][0], inp.dataset["all_records"][1]
    first["metadata"]["latency_ms"] = -5
    second["response"] = second["messages"][2]["content"] = "Just do some push-ups."
    bad = failed(run(inp))
    schema = bad["distillation records match distillation_record.schema.json"]
    assert schema["count"] == 1 and schema["examples"][0]["record_id"] == first["record_id"]
    assert "metadata/latency_ms" in schema["examples"][0]["errors"][0]
    plan = bad["assistant turns are plans matching plan_response.schema.json"]
    assert plan["examples"][0]["record_id"] == second["record_id"] and "not JSON" in plan["examples"][0]["errors"][0]


def test_leak_between_splits(inp):
    leaked = inp.dataset["train"][0]
    copy = json.loads(json.dumps(inp.dataset["train"][1]))
    copy["user_id"] = leaked["user_id"]
    copy["split"] = "test"
    inp.dataset["test"].append(copy)
    bad = failed(run(inp))
    leak = bad["no user in two splits"]
    assert leak["count"] == 1 and leak["examples"] == [{"user_id": leaked["user_id"], "splits": ["train", "test"]}]
    assert bad["each record once, in its own split's file"]["count"] >= 1  # the copy is the same record, twice


def test_split_ratios_off_target(inp):
    for split in ("validation", "test"):
        for record in inp.dataset[split]:
            record["split"] = "train"
        inp.dataset["train"] += inp.dataset[split]
        inp.dataset[split] = []
    inp.dataset["all_records"] = [dict(r, split="train") for r in inp.dataset["all_records"]]
    report = run(inp)
    users = len({r["user_id"] for r in inp.dataset["all_records"]})
    train = failed(report)["train ratio within tolerance"]
    assert train["observed"] == 1.0 and train["expected"] == 0.8 and train["users"] == users
    val = next(c for c in report["checks"] if c["check"] == "validation ratio within tolerance")
    # few users: 3 standard errors of a 10% split (~0.14 at 40 users) still cover an empty val split; the
    # anomaly detector's empty_split alert is what names it (see test_quality_anomalies)
    assert val["observed"] == 0.0 and val["allowed_deviation"] == pytest.approx(3 * (0.09 / users) ** 0.5, abs=1e-4)


def test_ratio_tolerance_widens_only_for_few_users():
    assert allowed_deviation(0.1, 40, 0.05) == pytest.approx(3 * np.sqrt(0.09 / 40))
    assert allowed_deviation(0.1, 100_000, 0.05) == 0.05


def test_unrealistic_marginal_fails_at_full_scale(inp):
    config = test_params.config({"quality": {"realism_min_users": 1}})
    skewed = json.loads(json.dumps(inp.realism))
    k = next(i for i, c in enumerate(skewed["checks"]) if c["name"] == "mean age of app users (years)")
    skewed["checks"] = [skewed["checks"][k], *skewed["checks"][:k], *skewed["checks"][k + 1 :]]
    skewed["checks"][0]["observed"] = skewed["checks"][0]["expected"] + 10 * skewed["checks"][0]["tolerance"]
    skewed["checks"][0]["passed"] = True  # the stage's own verdict is not trusted
    checks = realism_checks(config, skewed)
    assert not checks[0]["passed"] and checks[0]["severity"] == "error"
    assert checks[0]["stage_verdict"] is True
    report = validate.summarise(checks)
    assert not report["valid"] and report["failed_checks"][0] == "realism: mean age of app users (years)"


def test_malformed_realism_report_fails(inp):
    assert not realism_checks(inp.config, {"passed": True})[0]["passed"]
    bad = realism_checks(inp.config, {"checks": [{"name": "x", "observed": 1}]})
    assert not bad[0]["passed"] and "missing expected" in bad[0]["examples"][0]


def test_realism_judge_accepts_ranges():
    assert judge(0.30, [0.25, 0.35], 0.0) == (True, 0.0)
    assert judge(0.40, [0.25, 0.35], 0.02) == (False, pytest.approx(0.05))
    assert judge(7.1, 7.2, 0.2)[0] and not judge("7", 7.2, 0.2)[0]


def test_record_stored_twice_or_in_another_split_file_is_named(inp):
    twice, misplaced = inp.dataset["train"][0], dict(inp.dataset["train"][1])
    inp.dataset["validation"].append(dict(twice))
    inp.dataset["test"].append(misplaced)
    inp.dataset["train"].remove(inp.dataset["train"][1])
    check = failed(run(inp))["each record once, in its own split's file"]
    assert {(e["record_id"], e["problem"]) for e in check["examples"]} == {
        (twice["record_id"], "in validation.jsonl but its split is 'train'"),
        (misplaced["record_id"], "in test.jsonl but its split is 'train'"),
        (twice["record_id"], "2 times in the split files"),
    }
