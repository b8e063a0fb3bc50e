"""End to end: a real HTTP teacher on 127.0.0.1 gives crafted bad answers; each is dropped for its reason.

The test generates the queries with the pipeline, decides per query what the
teacher will answer (a good mock-coach plan, or an answer that breaks exactly
one rule), serves those answers over the OpenAI chat-completions protocol and
runs BuildDistillationDataset with `luigi`, as a user would.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from dataset_fakes import contraindicated_exercise, good_plan, with_plan_edit

from fitsense_luigi.reference.safety import avoided_tags
from tests.conftest import run_luigi

RUN_ID = "crafted-1"


class CraftedTeacher(ThreadingHTTPServer):
    """Answers each user message with the completion planned for it; unknown messages get HTTP 404."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.plans: dict[str, tuple[int, dict[str, Any]]] = {}
        self.calls = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: CraftedTeacher

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        self.server.calls += 1
        code, payload = self.server.plans.get(user, (404, {"error": "unknown message"}))
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def completion(content: str | dict | None, finish_reason: str = "stop") -> dict[str, Any]:
    text = json.dumps(content) if isinstance(content, dict) else content
    usage = {"prompt_tokens": 1000, "completion_tokens": len(text or "") // 4, "total_tokens": 1000}
    message = {"role": "assistant", "content": text}
    return {"id": "c", "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}], "usage": usage}


@pytest.fixture
def teacher():
    server = CraftedTeacher()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _silent(plan: dict[str, Any]) -> None:
    plan["safety_notes"] = []
    plan["explanation"] = "A plan that fits your week."
    plan["progression"] = "Add a little load each week when every set feels manageable."


def plan_answers(queries: list[dict[str, Any]]) -> tuple[dict[str, tuple[int, dict]], dict[str, tuple[str, str]]]:
    """(user message -> HTTP answer, query_id -> (expected reason, kept copy or '')) for every query."""
    plain = sorted((q for q in queries if not q["expected_safety_constraints"]), key=lambda q: q["query_id"])
    first, copy, near = plain[:3]  # the lowest query id of the three is the one that stays
    others = plain[3:9]
    used = {q["query_id"] for q in plain[:9]}
    context = [(q, q["context_summary"]) for q in queries if q["query_id"] not in used]
    unsafe = [q for q, c in context if avoided_tags(c["conditions"], c["medications"])]
    bound = [q for q, _ in context if q["expected_safety_constraints"] and q is not unsafe[0]]
    crafted = {
        others[0]["query_id"]: ("failed_response", 500, {"error": {"message": "overloaded"}}),
        others[1]["query_id"]: ("failed_response", 200, completion('{"summary": "Day 1: squ', "length")),
        others[2]["query_id"]: ("empty_response", 200, completion("")),
        others[3]["query_id"]: ("too_short", 200, completion(TOO_SHORT)),
        others[4]["query_id"]: ("too_long", 200, completion(with_plan_edit(others[4], _pad))),
        others[5]["query_id"]: ("schema_invalid", 200, completion(with_plan_edit(others[5], _drop_days))),
        bound[1]["query_id"]: (
            "refused",
            200,
            completion("I'm sorry, but I can't provide a training plan without clearance from your doctor."),
        ),
        unsafe[0]["query_id"]: ("safety_flagged", 200, completion(with_plan_edit(unsafe[0], _unsafe_for(unsafe[0])))),
        bound[0]["query_id"]: ("constraints_not_addressed", 200, completion(with_plan_edit(bound[0], _silent))),
    }
    shared = json.dumps(good_plan(first))
    almost = json.loads(shared)
    almost["summary"] += " Keep it steady."
    crafted[first["query_id"]] = ("", 200, completion(shared))
    crafted[copy["query_id"]] = ("exact_duplicate", 200, completion(shared))
    crafted[near["query_id"]] = ("near_duplicate", 200, completion(json.dumps(almost)))
    answers, expected = {}, {}
    for q in queries:
        reason, code, payload = crafted.get(q["query_id"], ("", 200, completion(good_plan(q))))
        answers[q["messages"][1]["content"]] = (code, payload)
        expected[q["query_id"]] = (reason, first["query_id"] if reason.endswith("duplicate") else "")
    return answers, expected


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


def test_a_real_http_teacher_with_crafted_answers(teacher, write_params, tmp_path):
    retries = {"max_attempts": 1, "max_wait_s": 0.1}
    overrides = {"provider": "openai_compatible", "base_url": teacher.base_url, "retries": retries, "concurrency": 4}
    params = write_params({"teacher": overrides})
    data = tmp_path / "data"
    first = run_luigi("GenerateQueries", RUN_ID, data, params)
    assert first.returncode == 0, first.output[-3000:]
    queries = [json.loads(line) for line in (data / "raw" / "synthetic_queries" / RUN_ID / "queries.jsonl").open()]
    teacher.plans, expected = plan_answers(queries)

    result = run_luigi("BuildDistillationDataset", RUN_ID, data, params)
    assert result.returncode == 0, result.output[-3000:]
    out = data / "raw" / "distillation_dataset" / RUN_ID
    rejected = {r["query_id"]: r for r in _rows(out / "rejected.jsonl")}
    kept = {r["metadata"]["query_id"] for r in _rows(out / "all_records.jsonl")}
    for query_id, (reason, duplicate_of) in expected.items():
        if reason:
            assert rejected[query_id]["reason"] == reason, (query_id, rejected[query_id]["detail"])
            assert (rejected[query_id]["duplicate_of"] or "") == duplicate_of
        else:
            assert query_id in kept, rejected.get(query_id)
    manifest = json.loads((out / "manifest.json").read_text())
    wanted = {}
    for reason, _ in expected.values():
        if reason:
            wanted[reason] = wanted.get(reason, 0) + 1
    assert {k: v for k, v in manifest["summary"]["rejected_by_reason"].items() if v} == wanted
    assert sum(wanted.values()) == 11 and len(wanted) == 10  # every reason; failed_response two ways (500, length)
    refused = next(r for r in rejected.values() if r["reason"] == "refused")
    assert refused["status"] == "refused" and refused["response_text"].startswith("I'm sorry, but I can't")
    assert all(r["metadata"]["provider"] == "openai_compatible" for r in _rows(out / "all_records.jsonl"))
    card = (out / "README.md").read_text()
    assert "| `safety_flagged` |" in card and "provider `openai_compatible`" in card


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
