"""End to end: a real HTTP teacher on 127.0.0.1 gives crafted bad answers; each is dropped for its reason.

The test generates the queries with the pipeline, decides per query what the
teacher will answer (a good mock-coach plan, or an answer that breaks exactly
one rule), serves those answers over the OpenAI chat-completions protocol and
runs BuildDistillationDataset with `luigi`, as a user would.
"""

from __future__ import annotations

import json
from typing import Any

from dataset_fakes import contraindicated_exercise, good_plan, with_plan_edit

from fitsense_luigi.contracts import files, stages
from fitsense_luigi.reference.safety import avoided_tags
from fitsense_luigi.teacher.checks import post_check
from tests.support.harness import run_luigi
from tests.support.layout import RunFiles
from tests.support.teacher import ByMessage, Reply, error, teacher_params

RUN_ID = "crafted-1"


def completion(content: str | dict | None, finish_reason: str = "stop") -> Reply:
    """A chat completion of ``content`` (a plan is sent as its JSON text)."""
    text = json.dumps(content) if isinstance(content, dict) else content
    usage = {"prompt_tokens": 1000, "completion_tokens": len(text or "") // 4, "total_tokens": 1000}
    return Reply(content=text, finish_reason=finish_reason, usage=usage)


def _silent(plan: dict[str, Any]) -> None:
    plan["safety_notes"] = []
    plan["explanation"] = "A plan that fits your week."
    plan["progression"] = "Add a little load each week when every set feels manageable."


def plan_answers(queries: list[dict[str, Any]]) -> tuple[dict[str, Reply], dict[str, tuple[str, str]]]:
    """(user message -> HTTP answer, query_id -> (expected reason, kept copy or '')) for every query."""
    first, copy, near = duplicate_triple(queries)  # the lowest query id of the three is the one that stays
    used = {first["query_id"], copy["query_id"], near["query_id"]}
    planned = sorted(
        (q for q in queries if q["query_id"] not in used and q["asks"]["wants_plan"]), key=lambda q: q["query_id"]
    )
    unsafe = [
        q for q in planned if avoided_tags(q["context_summary"]["conditions"], q["context_summary"]["medications"])
    ]
    bound = [q for q in planned if q["expected_safety_constraints"] and q is not unsafe[0]]
    others = [q for q in planned if q is not unsafe[0] and q not in bound[:2]][:6]
    crafted = {
        others[0]["query_id"]: ("failed_response", error(500, "overloaded")),
        others[1]["query_id"]: ("failed_response", completion('{"summary": "Day 1: squ', "length")),
        others[2]["query_id"]: ("empty_response", completion("")),
        others[3]["query_id"]: ("too_short", completion(TOO_SHORT)),
        others[4]["query_id"]: ("too_long", completion(with_plan_edit(others[4], _pad))),
        others[5]["query_id"]: ("schema_invalid", completion(with_plan_edit(others[5], _drop_days))),
        bound[1]["query_id"]: (
            "refused",
            completion("I'm sorry, but I can't provide a training plan without clearance from your doctor."),
        ),
        unsafe[0]["query_id"]: ("safety_flagged", completion(with_plan_edit(unsafe[0], _unsafe_for(unsafe[0])))),
        bound[0]["query_id"]: ("constraints_not_addressed", completion(with_plan_edit(bound[0], _silent))),
    }
    shared = json.dumps(good_plan(first))
    almost = json.loads(shared)
    almost["summary"] += " Keep it steady."
    crafted[first["query_id"]] = ("", completion(shared))
    crafted[copy["query_id"]] = ("exact_duplicate", completion(shared))
    crafted[near["query_id"]] = ("near_duplicate", completion(json.dumps(almost)))
    answers, expected = {}, {}
    for q in queries:
        reason, reply = crafted.get(q["query_id"], ("", completion(good_plan(q))))
        answers[q["messages"][1]["content"]] = reply
        expected[q["query_id"]] = (reason, first["query_id"] if reason.endswith("duplicate") else "")
    return answers, expected


def duplicate_triple(queries: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Three queries, lowest id first, for which the first one's good plan passes every check for the other two
    (same safety rules, the gear at hand, the question asked), so only their duplication can reject them."""
    ordered = sorted(queries, key=lambda q: q["query_id"])
    for i, first in enumerate(ordered):
        shared = json.dumps(good_plan(first))
        fits = [
            q
            for q in ordered[i + 1 :]
            if q["expected_safety_constraints"] == first["expected_safety_constraints"]
            and post_check(shared, q["context_summary"], q["expected_safety_constraints"], q["asks"])[1] == []
        ]
        if len(fits) >= 2:
            return first, fits[0], fits[1]
    raise AssertionError("no three queries can share one plan")


# a valid v3 answer (no plan: days_per_week 0), shorter than dataset.response_chars.min
TOO_SHORT = {"answer": "Rest.", "summary": "Rest.", "days_per_week": 0, "days": [], "progression": "None.",
             "safety_notes": [], "explanation": "Rest."}  # fmt: skip


def _pad(plan: dict[str, Any]) -> None:
    plan["days"][0]["exercises"][0]["notes"] += " Stay consistent." * 800  # notes have no length limit


def _drop_days(plan: dict[str, Any]) -> None:
    plan["days"] = []


def _unsafe_for(query: dict[str, Any]):
    name = contraindicated_exercise(query)

    def edit(plan: dict[str, Any]) -> None:
        plan["days"][0]["exercises"][0]["name"] = name

    return edit


def test_a_real_http_teacher_with_crafted_answers(server, write_params, tmp_path):
    teacher = ByMessage()
    srv = server(teacher)
    retries = {"max_attempts": 1, "max_wait_s": 0.1}
    params = write_params(teacher_params(srv.url, {}, provider="openai_compatible", retries=retries, concurrency=4))
    run = RunFiles(tmp_path / "data", RUN_ID)
    first = run_luigi("GenerateQueries", RUN_ID, run.data_root, params)
    assert first.returncode == 0, first.output[-3000:]
    queries = run.rows(files.QUERIES)
    teacher.answers, expected = plan_answers(queries)

    result = run_luigi("BuildDistillationDataset", RUN_ID, run.data_root, params)
    assert result.returncode == 0, result.output[-3000:]
    rejected = {r["query_id"]: r for r in run.rows(files.REJECTED)}
    kept = {r["metadata"]["query_id"] for r in run.records()}
    for query_id, (reason, duplicate_of) in expected.items():
        if reason:
            assert rejected[query_id]["reason"] == reason, (query_id, rejected[query_id]["detail"])
            assert (rejected[query_id]["duplicate_of"] or "") == duplicate_of
        else:
            assert query_id in kept, rejected.get(query_id)
    manifest = run.document(run.manifest(stages.DATASET))
    wanted = {}
    for reason, _ in expected.values():
        if reason:
            wanted[reason] = wanted.get(reason, 0) + 1
    assert {k: v for k, v in manifest["summary"]["rejected_by_reason"].items() if v} == wanted
    assert sum(wanted.values()) == 11 and len(wanted) == 10  # every reason; failed_response two ways (500, length)
    refused = next(r for r in rejected.values() if r["reason"] == "refused")
    assert refused["status"] == "refused" and refused["response_text"].startswith("I'm sorry, but I can't")
    assert all(r["metadata"]["provider"] == "openai_compatible" for r in run.records())
    card = run.path(files.DATASET_CARD).read_text()
    assert "| `safety_flagged` |" in card and "provider `openai_compatible`" in card
