"""ComputeStats and DetectAnomalies: statistics of the clean run, each anomaly tripped by a crafted defect, drift."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from quality_inputs import AS_OF, Inputs, inputs

from fitsense_luigi.quality import anomalies, stats
from fitsense_luigi.quality.anomalies.baseline import Baseline
from fitsense_luigi.quality.anomalies.drift import js_divergence, linf_distance


@pytest.fixture
def inp(built_run) -> Inputs:
    return inputs(built_run)


@pytest.fixture(scope="module")
def clean_stats(built_run):
    clean = inputs(built_run)
    return stats.compute_stats(clean.world(), clean.dataset, AS_OF)


def detect(config, dataset, queries, responses, report, baseline=None):
    return anomalies.detect(config, dataset, queries, responses, report, baseline)


def names(report):
    return {a["alert"]: a for a in report["alerts"]}


def baseline_of(report, params=None):
    return Baseline("earlier-run", "2026-02-16T00:00:00.000Z", "f" * 64, report, params or {})


# ------------------------------------------------------------------ statistics


def test_stats_per_split_and_table(clean_stats, inp):
    clean_tables = inp.tables
    splits = clean_stats["splits"]
    assert [splits[s]["count"] for s in ("train", "validation", "test")] == [
        len(inp.dataset[s]) for s in ("train", "validation", "test")
    ]
    response = splits["all_records"]["features"]["response"]
    assert response["kind"] == "text" and response["missing"] == 0
    lengths = [len(r["response"]) for r in inp.dataset["all_records"]]
    assert response["length"]["max"] == max(lengths) and response["length"]["quantiles"]["p50"] == np.median(lengths)
    assert splits["all_records"]["features"]["response_tokens"]["mean"] > 0
    assert len(response["length"]["percentiles"]) == 101
    assert splits["train"]["features"]["split"]["value_counts"] == {"train": splits["train"]["count"]}
    prompt = splits["all_records"]["features"]["prompt_type"]
    assert prompt["kind"] == "categorical" and sum(prompt["value_counts"].values()) == len(inp.dataset["all_records"])
    sets = clean_stats["tables"]["workout_sets"]
    assert sets["rows"] == clean_tables["workout_sets"].num_rows
    assert sets["features"]["workout_set_id"]["kind"] == "identifier"
    assert sets["features"]["workout_set_id"]["distinct"] == sets["rows"]
    weight = sets["features"]["weight"]
    assert weight["kind"] == "numeric" and weight["missing"] == clean_tables["workout_sets"]["weight"].null_count
    started = clean_stats["tables"]["workouts"]["features"]["started_at"]
    assert started["kind"] == "temporal" and 0 < started["days_before_as_of"]["max"] <= 28
    assert clean_stats["schema"]["tables"]["users"]["email"] == "string"
    assert clean_stats["schema"]["records"]["metadata.latency_ms"] == "int64"


def test_stats_are_deterministic(clean_stats, inp):
    again = stats.compute_stats(inp.world(), inp.dataset, AS_OF)
    assert json.dumps(again, sort_keys=True) == json.dumps(clean_stats, sort_keys=True)


# ------------------------------------------------------------------ anomalies


def test_clean_run_has_no_anomalies(inp, clean_stats):
    report = detect(inp.config, inp.dataset, inp.queries, inp.responses, clean_stats)
    assert report["severity"] == "none", report["alerts"]
    assert report["drift"]["baseline"] is None and report["drift"]["notes"]


def test_a_record_in_a_split_that_breaks_a_safety_rule_is_critical(inp, clean_stats):
    """A jump for a user whose rules rule it out, and a plank as reps, slipped past the filters into train."""
    clean = detect(inp.config, inp.dataset, inp.queries, inp.responses, clean_stats)
    assert clean["safety"]["records"] == len(inp.dataset["all_records"]) and clean["safety"]["flagged"] == 0
    target = next(
        r for r in inp.dataset["train"]
        if "low_impact_knee" in r["context"]["expected_safety_constraints"] and json.loads(r["response"])["days"]
    )  # fmt: skip
    plan = json.loads(target["response"])
    first = plan["days"][0]["exercises"][0]
    plan["days"][0]["exercises"][0] = dict(first, name="Box Jump", reps="5", seconds=None, rir=2, load_kg=None)
    plan["days"][0]["exercises"].append(dict(first, name="Plank", reps="10", seconds=None, rir=None, load_kg=None))
    target["response"] = json.dumps(plan)
    found = names(detect(inp.config, inp.dataset, inp.queries, inp.responses, clean_stats))
    alert = found["unsafe_training_records"]
    assert alert["severity"] == "critical" and alert["count"] == 1 and alert["by_split"]["train"] == 1
    assert {"low_impact_knee", "timed_work_in_seconds"} <= set(alert["by_rule"]), alert
    assert "low_impact_knee" in alert["message"] and target["record_id"] in alert["examples"][0]


def test_duplicate_record_is_critical(inp, clean_stats):
    copy_of = copy.deepcopy(inp.dataset["all_records"][0])
    inp.dataset["all_records"].append(copy_of)
    found = names(detect(inp.config, inp.dataset, inp.queries, inp.responses, clean_stats))
    assert found["duplicate_record_ids"]["severity"] == "critical"
    assert found["duplicate_record_ids"]["examples"] == [[copy_of["record_id"]] * 2]
    assert found["duplicate_queries"]["severity"] == "critical"
    assert found["duplicate_responses"]["severity"] == "warning"


def test_missing_and_failed_responses(inp, clean_stats):
    responses = copy.deepcopy(inp.responses)
    lost = responses.pop(0)
    for row in responses[:5]:
        row["status"] = "timeout"
    report = detect(inp.config, inp.dataset, inp.queries, responses, clean_stats)
    found = names(report)
    assert found["missing_responses"]["examples"] == [lost["query_id"]]
    failed = found["failed_calls"]
    assert failed["count"] == 5 and failed["by_status"] == {"timeout": 5}
    assert failed["severity"] == "critical"  # 5 of 47 is above the 5% share
    assert "calls failed" in failed["message"] and "unusable_answers" not in found
    assert report["severity"] == "critical"


def test_unusable_answers_are_not_called_failed_calls(inp, clean_stats):
    responses = copy.deepcopy(inp.responses)
    for row in responses[:6]:
        row.update(status="refused", response_text="I'm sorry, I can't help with that.")
        row["post_validation"] = dict(row["post_validation"], valid=False)
    found = names(detect(inp.config, inp.dataset, inp.queries, responses, clean_stats))
    unusable = found["unusable_answers"]
    assert "failed_calls" not in found and "calls failed" not in unusable["message"]
    assert unusable["message"].startswith(f"6/{len(responses)} answers unusable: 6 refused")
    assert unusable["by_cause"]["refused"] == 6 and unusable["severity"] == "critical"


def test_few_failed_responses_are_a_warning(inp, clean_stats):
    responses = copy.deepcopy(inp.responses)
    responses[0]["status"] = "http_error"
    assert (
        names(detect(inp.config, inp.dataset, inp.queries, responses, clean_stats))["failed_calls"]["severity"]
        == "warning"
    )


def test_unaccounted_query(inp, clean_stats):
    gone = inp.dataset["all_records"].pop()
    for split in ("train", "validation", "test"):
        inp.dataset[split] = [r for r in inp.dataset[split] if r["record_id"] != gone["record_id"]]
    found = names(detect(inp.config, inp.dataset, inp.queries, inp.responses, clean_stats))
    assert found["unaccounted_queries"]["examples"] == [gone["metadata"]["query_id"]]


def test_short_and_long_responses(inp, clean_stats):
    inp.dataset["all_records"][0]["response"] = "Rest."
    inp.dataset["all_records"][1]["response"] = "x" * 20000
    found = names(detect(inp.config, inp.dataset, inp.queries, inp.responses, clean_stats))
    assert found["short_responses"]["severity"] == "critical"
    assert found["short_responses"]["examples"] == [inp.dataset["all_records"][0]["record_id"]]
    assert found["long_responses"]["examples"] == [inp.dataset["all_records"][1]["record_id"]]
    assert found["long_response_outliers"]["severity"] == "warning"


def test_split_imbalance_and_empty_split(inp, clean_stats):
    for split in ("validation", "test"):  # all in train: 100% vs 80%, beyond even a small run's widened tolerance
        inp.dataset["train"] += inp.dataset[split]
        inp.dataset[split] = []
    found = names(detect(inp.config, inp.dataset, inp.queries, inp.responses, clean_stats))
    assert found["empty_split"]["split"] in ("validation", "test")
    assert found["split_imbalance"]["split"] == "train" and found["split_imbalance"]["severity"] == "warning"


# ------------------------------------------------------------------ drift


def test_distances():
    assert linf_distance({"a": 5, "b": 5}, {"a": 10, "b": 10}) == 0.0
    assert linf_distance({"a": 9, "b": 1}, {"a": 5, "b": 5}) == pytest.approx(0.4)
    same = list(np.linspace(0, 10, 101))
    assert js_divergence(same, same) == 0.0
    assert js_divergence([1.0] * 101, [2.0] * 101) == pytest.approx(1.0)  # two different atoms: disjoint
    shifted = list(np.linspace(3, 13, 101))
    assert 0.05 < js_divergence(same, shifted) < 1.0


def test_no_drift_against_itself(inp, clean_stats):
    report = detect(inp.config, inp.dataset, inp.queries, inp.responses, clean_stats, baseline_of(clean_stats))
    assert report["severity"] == "none"
    assert report["drift"]["features"] and all(f["distance"] == 0 for f in report["drift"]["features"])
    assert report["drift"]["schema_changes"] == []


def test_numeric_and_categorical_drift(inp, clean_stats):
    logs = inp.tables["weight_logs"]
    heavier = pc.multiply(logs["weight_kg"].cast(pa.float64()), 1.6).cast(pa.decimal128(5, 2))
    inp.tables["weight_logs"] = logs.set_column(
        logs.schema.get_field_index("weight_kg"), logs.schema.field("weight_kg"), heavier
    )
    for record in inp.dataset["all_records"]:
        record["context"]["prompt_type"] = "plan_creation"
    current = stats.compute_stats(inp.world(), inp.dataset, AS_OF)
    report = detect(inp.config, inp.dataset, inp.queries, inp.responses, current, baseline_of(clean_stats))
    drifted = {(a["scope"], a["feature"]): a for a in report["alerts"] if a["alert"] == "feature_drift"}
    assert ("table weight_logs", "weight_kg") in drifted
    assert ("records", "prompt_type") in drifted
    assert drifted[("records", "prompt_type")]["distance"] > 0.5
    assert report["severity"] == "warning"  # drift alone is worth a look, not a failure


def test_schema_drift(inp, clean_stats):
    users = inp.tables["users"]
    inp.tables["users"] = users.drop_columns(["email"]).append_column("nickname", pa.array(["x"] * users.num_rows))
    profiles = inp.tables["user_profiles"]
    inp.tables["user_profiles"] = profiles.set_column(
        profiles.schema.get_field_index("height_cm"), "height_cm", profiles["height_cm"].cast(pa.float64())
    )
    current = stats.compute_stats(inp.world(), inp.dataset, AS_OF)
    report = detect(inp.config, inp.dataset, inp.queries, inp.responses, current, baseline_of(clean_stats))
    changes = {(c["scope"], c["field"]): c for c in report["drift"]["schema_changes"]}
    assert changes[("table users", "email")]["change"] == "removed"
    assert changes[("table users", "email")]["severity"] == "critical"
    assert changes[("table users", "nickname")]["severity"] == "warning"
    assert changes[("table user_profiles", "height_cm")]["after"] == "double"
    assert report["severity"] == "critical"


def test_changed_params_ignore_as_of_and_operational_keys():
    base = {"run": {"as_of_date": "2026-02-16", "data_root": "/a"}, "world": {"users": 100}, "teacher": {"shards": 2}}
    now = {"run": {"as_of_date": "2026-02-17", "data_root": "/b"}, "world": {"users": 200}, "teacher": {"shards": 8}}
    baseline = dataclasses.replace(baseline_of({}), params=base)
    assert baseline.changed_params(now) == ["world.users"]
