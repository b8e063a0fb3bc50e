"""Each filter drops a crafted bad answer for its own reason; the first failing reason wins."""

from __future__ import annotations

import json

import pytest
from dataset_fakes import PROVENANCE, answer, contraindicated_exercise, make_query, with_plan_edit

from fitsense_luigi.dataset.build import build_dataset
from fitsense_luigi.dataset.filters import REASON_DESCRIPTIONS, REASONS
from tests.support import params as test_params

CONFIG = test_params.config()


def _build(pairs):
    queries = [q for q, _ in pairs]
    responses = [r for _, r in pairs if r is not None]
    return build_dataset(CONFIG, queries, responses, PROVENANCE)


def _reasons(result):
    return {row["query_id"]: row["reason"] for row in result.rejected}


def _no_safety_words(plan):
    plan["safety_notes"] = []
    plan["explanation"] = "A plan that fits your week."
    plan["progression"] = "Add a little load each week when every set feels manageable."


def _crafted():
    """(query, response, expected reason or None) for every filter, plus good answers."""
    knee = dict(conditions=("knee_osteoarthritis",))
    pressure = dict(conditions=("hypertension",))
    cases = []
    good = make_query(1)
    cases.append((good, answer(good), None))
    q = make_query(2)
    cases.append((q, answer(q, status="timeout", finish_reason=None, error="timeout: ReadTimeout"), "failed_response"))
    q = make_query(3)
    cases.append((q, None, "failed_response"))  # the teacher never answered
    q = make_query(4)
    truncated = json.dumps(answer(make_query(4))["response_text"])[:900]
    cases.append((q, answer(q, truncated, status="length", finish_reason="length"), "failed_response"))
    q = make_query(5)
    cases.append((q, answer(q, "   \n"), "empty_response"))
    q = make_query(6)
    short = {"answer": "Rest.", "summary": "Rest.", "days_per_week": 0, "days": [], "progression": "None.",
             "safety_notes": [], "explanation": "Rest."}  # fmt: skip
    cases.append((q, answer(q, json.dumps(short)), "too_short"))  # a valid answer (no plan), shorter than the min

    def pad(plan):
        plan["days"][0]["exercises"][0]["notes"] = "x " * 7000  # notes have no length limit in the schema

    q = make_query(7)
    cases.append((q, answer(q, with_plan_edit(q, pad)), "too_long"))
    q = make_query(12)
    refusal = "I'm sorry, but I can't provide medical advice. Please consult your doctor before training."
    cases.append((q, answer(q, refusal), "refused"))  # recognised in prose: status refused, text kept
    q = make_query(8)
    cases.append((q, answer(q, with_plan_edit(q, lambda p: p.pop("explanation"))), "schema_invalid"))
    q = make_query(9)
    cases.append((q, answer(q, "Sure! Here is your plan: " + "squat, rest, repeat. " * 20), "schema_invalid"))
    q = make_query(10, **knee)
    unsafe = contraindicated_exercise(q)

    def add_unsafe(plan):
        plan["days"][0]["exercises"][0]["name"] = unsafe
        _no_safety_words(plan)  # unsafe AND silent on constraints: the safety flag is the reason

    cases.append((q, answer(q, with_plan_edit(q, add_unsafe)), "safety_flagged"))
    q = make_query(11, **pressure)
    cases.append((q, answer(q, with_plan_edit(q, _no_safety_words)), "constraints_not_addressed"))
    return cases


def test_every_filter_rejects_its_crafted_example_with_its_reason():
    cases = _crafted()
    result = _build([(q, r) for q, r, _ in cases])
    got = _reasons(result)
    for query, _, reason in cases:
        assert got.get(query["query_id"]) == reason, (query["scenario_id"], reason, got.get(query["query_id"]))
    assert [r["metadata"]["query_id"] for r in result.records] == [cases[0][0]["query_id"]]


def test_duplicates_keep_the_lowest_query_id_and_name_it():
    base = make_query(20)
    plan = answer(base)["response_text"]
    queries = [make_query(n) for n in (21, 22, 23, 24)]
    for q in queries:  # same goal and days as query 20 would not matter: the answer is what is compared
        q["expected_safety_constraints"] = []
    shouted = json.loads(plan)
    shouted["explanation"] = shouted["explanation"].upper()
    exact_text = "\n" + json.dumps(shouted).replace(" ", "   ") + "\n"  # differs in whitespace and case only
    near = json.loads(plan)
    near["summary"] = near["summary"] + " Keep it steady."
    pairs = [
        (base, answer(base, plan)),
        (queries[0], answer(queries[0], exact_text)),
        (queries[1], answer(queries[1], json.dumps(near))),
        (queries[2], answer(queries[2])),
    ]
    result = _build(pairs)
    group = sorted([base["query_id"], queries[0]["query_id"]])
    rows = {r["query_id"]: r for r in result.rejected}
    assert rows[group[1]]["reason"] == "exact_duplicate"
    assert rows[group[1]]["duplicate_of"] == group[0]
    near_group = sorted([group[0], queries[1]["query_id"]])
    if near_group[1] == queries[1]["query_id"]:
        assert rows[queries[1]["query_id"]]["reason"] == "near_duplicate"
        assert rows[queries[1]["query_id"]]["duplicate_of"] == group[0]
        assert 0.9 <= rows[queries[1]["query_id"]]["similarity"] < 1.0
    else:  # the near copy has the lower id: it is kept and the original goes
        assert rows[group[0]]["reason"] == "near_duplicate"
    kept = {r["metadata"]["query_id"] for r in result.records}
    assert queries[2]["query_id"] in kept
    assert len(kept) + len(result.rejected) == len(pairs)


def test_a_good_answer_is_never_dropped_as_the_copy_of_a_bad_one():
    """The same plan is unsafe for a user with knee pain and fine for a user without: only the first goes."""
    knee_user = make_query(30, conditions=("knee_osteoarthritis",))
    healthy = make_query(31)
    unsafe = contraindicated_exercise(knee_user)
    text = json.dumps(with_plan_edit(healthy, lambda p: p["days"][0]["exercises"][0].update(name=unsafe)))
    result = _build([(knee_user, answer(knee_user, text)), (healthy, answer(healthy, text))])
    assert _reasons(result) == {knee_user["query_id"]: "safety_flagged"}
    assert [r["metadata"]["query_id"] for r in result.records] == [healthy["query_id"]]


def test_counts_add_up_and_every_reason_is_reported():
    cases = _crafted()
    result = _build([(q, r) for q, r, _ in cases])
    by_reason = result.summary["rejected_by_reason"]
    assert list(by_reason) == list(REASONS)
    assert sum(by_reason.values()) == result.summary["rejected"] == len(result.rejected)
    assert result.summary["records"] + result.summary["rejected"] == result.summary["input_queries"] == len(cases)
    assert by_reason["failed_response"] == 3 and by_reason["schema_invalid"] == 2
    assert set(REASON_DESCRIPTIONS) == set(REASONS)


def test_rejected_rows_have_the_same_keys_and_enough_to_trace():
    result = _build([(q, r) for q, r, _ in _crafted()])
    keys = {tuple(row) for row in result.rejected}
    assert len(keys) == 1
    for row in result.rejected:
        assert row["detail"] and row["reason"] in REASONS
        assert set(row["slice_tags"]) == {"age_band", "sex", "goal_type", "activity_level", "condition_flag"}
    missing = next(r for r in result.rejected if r["status"] == "missing")
    assert missing["detail"] == "no teacher response for this query" and missing["response_text"] == ""


@pytest.mark.parametrize("limit", [{"min": 3000, "max": 12000}, {"min": 10, "max": 1500}])
def test_length_limits_come_from_the_config(limit):
    config = test_params.config({"dataset": {"response_chars": limit}})
    q = make_query(40)
    result = build_dataset(config, [q], [answer(q)], PROVENANCE)
    expected = "too_short" if limit["min"] == 3000 else "too_long"
    assert _reasons(result) == {q["query_id"]: expected}
    assert str(limit["min"] if expected == "too_short" else limit["max"]) in result.rejected[0]["detail"]
