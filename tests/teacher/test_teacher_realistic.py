"""Against a teacher that answers the way real models do, through the `luigi` command.

Every answer that can be salvaged (fenced, after a preamble, after inline
reasoning, trailing commas, numbers as strings, rep ranges, extra keys, a
missing field mended by a re-ask) reaches the dataset as clean JSON; every
refusal is named as one; a server without structured outputs costs one
wave of rejected requests; a teacher that refuses almost everyone leaves
valid files and a gate that says why in one line.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from fitsense_luigi.config import load_config
from fitsense_luigi.teacher.checks import schema_errors
from fitsense_luigi.teacher.summary import summarise
from tests.support.answer_shapes import REFUSALS, SHAPES, first_user_message
from tests.support.harness import run_luigi
from tests.support.layout import RunFiles
from tests.support.realistic_teacher import RealisticAnswers, RealisticTeacher
from tests.support.teacher import FAST_TEACHER, KEY_ENV, TEST_KEY, Call, Reply, TeacherServer

RUN = "2026-03-02"
# every shape about equally often, refusals 6 % of the answers (gate: unusable answers critical above 10 % here)
EVEN_MIX = {name: (0.02 if name in REFUSALS else 0.94 / (len(SHAPES) - len(REFUSALS))) for name in SHAPES}
PER_TYPE = {"plan_creation": 40, "plan_modification": 40, "safety_adjustment": 40, "progress_adaptation": 40}


def params_for(write_params, url: str, **teacher) -> Path:
    overrides = {
        "queries": {"per_type": PER_TYPE},
        "teacher": {**FAST_TEACHER, "base_url": url, "shards": 2, "concurrency": 4, **teacher},
        "quality": {"anomalies": {"max_failed_response_share": 0.1, "length_outlier_iqr": 3.0}},
        # extraction and repair are under test, not length: the coach's longest answers pass 4096 estimated tokens
        "dataset": {"tokens": {"max_total": None}},
    }
    return write_params(overrides)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_salvageable_answer_reaches_the_dataset_as_clean_json(write_params, tmp_path):
    with RealisticTeacher(EVEN_MIX) as teacher:
        params = params_for(write_params, teacher.url)
        data = tmp_path / "data"
        result = run_luigi("BiasSlicing", RUN, data, params, env={KEY_ENV: TEST_KEY}, timeout=600)
        assert result.returncode == 0, result.output[-3000:]
        queries = rows(data / "raw" / "synthetic_queries" / RUN / "queries.jsonl")
        shapes = {q["query_id"]: teacher.shape_of(q) for q in queries}
    assert set(shapes.values()) == set(SHAPES), "the mix served every shape"
    out = data / "raw" / "distillation_dataset" / RUN
    records = {r["metadata"]["query_id"]: r for r in RunFiles(data, RUN).records()}
    rejected = {r["query_id"]: r for r in rows(out / "rejected.jsonl")}
    responses = {r["query_id"]: r for r in rows(data / "raw" / "teacher_outputs" / RUN / "responses.jsonl")}
    kept = Counter(shapes[q] for q in records)
    for query_id, shape in shapes.items():
        if shape in REFUSALS:
            assert responses[query_id]["status"] == "refused", (shape, responses[query_id]["error"])
            assert rejected[query_id]["reason"] == "refused" and rejected[query_id]["response_text"]
            continue
        record = records.get(query_id)
        assert record is not None, (shape, rejected.get(query_id, {}).get("detail"))
        plan = json.loads(record["response"])  # the whole target is one JSON document: no fence, no reasoning
        assert schema_errors(plan) == [] and record["response"] == record["messages"][2]["content"]
        assert record["response"] == responses[query_id]["normalized_text"]
    # the raw answers stay in responses.jsonl, with what was done to them
    raw = {shapes[q]: r for q, r in responses.items()}
    assert (
        raw["fenced"]["response_text"].startswith("```json")
        and raw["fenced"]["post_validation"]["extracted"] == "fenced"
    )
    assert raw["inline_think"]["post_validation"]["reasoning"] == "inline_think"
    assert raw["reasoning_field"]["post_validation"]["reasoning"] == "reasoning_content"
    assert "trailing_comma" in raw["trailing_comma"]["post_validation"]["repairs"]
    assert raw["missing_field"]["post_validation"]["reasks"] == 1 and raw["missing_field"]["attempt_count"] == 2
    plans = [json.loads(r["response"]) for r in records.values()]
    # a plan, or the direct answer to a yes/no question that asked for none (schema v3: days_per_week 0)
    assert all(p["days"] or re.match(r"(Yes|No)\b", p["answer"]) for p in plans)
    assert sum(bool(p["days"]) for p in plans) > len(plans) / 2
    summary = json.loads((data / "raw" / "teacher_outputs" / RUN / "summary.json").read_text())
    assert summary["per_status"]["refused"] == sum(s in REFUSALS for s in shapes.values())
    assert summary == json.loads(json.dumps(summarise(list(responses.values()), load_config(params, environ={}))))
    assert summary["reasks"]["mended"] == sum(s == "missing_field" for s in shapes.values())
    bias = json.loads((data / "reports" / RUN / "bias_report.json").read_text())
    assert any("refusal_rate" in row["metrics"] for row in bias["slices"])
    assert sum(kept.values()) == sum(s not in REFUSALS for s in shapes.values())


def test_a_server_without_json_schema_costs_one_wave_of_rejections(write_params, tmp_path):
    concurrency = 4
    with RealisticTeacher({"clean": 1.0}, reject_json_schema=True) as teacher:
        params = params_for(write_params, teacher.url, concurrency=concurrency)
        result = run_luigi("CallTeacher", RUN, tmp_path / "data", params, env={KEY_ENV: TEST_KEY})
        assert result.returncode == 0, result.output[-3000:]
        # nobody waits for a probe: at most the first wave (the requests in flight) is rejected, then
        # json_object for everyone; each rejected request is asked once more, with the new format
        assert 1 <= teacher.formats["json_schema"] <= concurrency, teacher.formats
        assert teacher.formats["json_object"] == sum(PER_TYPE.values())
    warnings = [ln for ln in result.output.splitlines() if "rejects response_format json_schema" in ln]
    assert len(warnings) == 1 and "teacher.response_format: json_object" in warnings[0]
    responses = rows(tmp_path / "data" / "raw" / "teacher_outputs" / RUN / "responses.jsonl")
    assert {r["status"] for r in responses} == {"ok"} and {r["response_format"] for r in responses} == {"json_object"}


def test_without_fallback_a_rejected_format_stops_at_once_and_is_not_retried(write_params, tmp_path):
    from tests.reliability.test_exit_codes import attempts, retrying

    with RealisticTeacher({"clean": 1.0}, reject_json_schema=True) as teacher:
        params = params_for(write_params, teacher.url, response_format_fallback=False)
        env = {KEY_ENV: TEST_KEY, **retrying(tmp_path)}  # Luigi's retries on, one second apart
        result = run_luigi("CallTeacher", RUN, tmp_path / "data", params, env=env, timeout=120)
        assert result.returncode == 30, result.output[-3000:]
        assert set(attempts(result.output, "TeacherShard").values()) == {1}, "a deterministic 400 is not retried"
        # at most one wave per shard task (the requests in flight when the first 400 came), and nothing else sent
        assert set(teacher.formats) == {"json_schema"} and teacher.formats["json_schema"] <= 2 * 4, teacher.formats
    lines = [ln for ln in result.output.splitlines() if "TeacherStageError" in ln]
    assert lines and all("does not accept response_format json_schema" in ln for ln in lines)
    assert "set teacher.response_format to json_object or none" in lines[0] and "Traceback" not in result.output


def test_a_teacher_that_refuses_almost_everyone_leaves_valid_files_and_a_gate_that_says_why(write_params, tmp_path):
    allowed: set[str] = set()

    refusal = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "I can't help with that."},
                     "finish_reason": "stop"}],
        "usage": {},
    }  # fmt: skip

    realistic = RealisticAnswers({"clean": 1.0})

    def refuser(call: Call) -> Reply:
        """Answers two users without a condition; refuses everyone else."""
        user = first_user_message(call.body["messages"])
        if len(allowed) < 2 and '"conditions": []' in user:
            allowed.add(user)
        return realistic(call) if user in allowed else Reply(raw=json.dumps(refusal).encode())

    with TeacherServer(refuser) as teacher:
        params = params_for(write_params, teacher.url, concurrency=1)
        data = tmp_path / "data"
        built = run_luigi("BuildDistillationDataset", RUN, data, params, env={KEY_ENV: TEST_KEY})
        assert built.returncode == 0, built.output[-3000:]
        out = data / "raw" / "distillation_dataset" / RUN
        assert len(RunFiles(data, RUN).records()) == 2
        for split in ("train", "validation", "test"):  # typed like a full dataset's: the context summary is whole
            table = pq.read_table(out / f"{split}.parquet")
            assert table.num_rows == len(rows(out / f"{split}.jsonl"))
            assert table.schema.field("context").type.get_field_index("context_summary") >= 0
        gate = run_luigi("BiasSlicing", RUN, data, params, env={KEY_ENV: TEST_KEY})
        assert gate.returncode == 30, gate.output[-3000:]
    n = sum(PER_TYPE.values())
    line = next(ln for ln in gate.output.splitlines() if "QualityGateError" in ln)
    assert re.search(
        rf"quality gate failed for run {RUN}: teacher: {n - 2}/{n} answers unusable: {n - 2} refused", line
    )
    warned = [ln for ln in built.output.splitlines() if "answers unusable" in ln and "WARNING" in ln]
    assert len(warned) == 1 and "commonest: refused" in warned[0]


def test_one_worker_keeps_requests_in_flight_across_shards(write_params, tmp_path):
    """Shard 0's slowest answer is held until a request of shard 1 arrives: only work-ahead can release it."""
    arrived_other = threading.Event()
    order: list[str] = []

    def waiting(call: Call) -> Reply:
        user = first_user_message(call.body["messages"])
        order.append(user)
        if len(order) == 1:  # the stage's first request (shard 0's): answered only once shard 1 is being asked
            return Reply() if arrived_other.wait(60) else Reply(500, raw=b'{"error": "no work-ahead"}')
        if user in shard1:
            arrived_other.set()
        return Reply()

    with TeacherServer(waiting) as teacher:
        params = params_for(write_params, teacher.url, concurrency=2, shards=2)
        data = tmp_path / "data"
        first = run_luigi("GenerateQueries", RUN, data, params)
        assert first.returncode == 0, first.output[-3000:]
        queries = rows(data / "raw" / "synthetic_queries" / RUN / "queries.jsonl")
        shard1 = {first_user_message(q["messages"]) for q in queries[1::2]}
        result = run_luigi("CallTeacher", RUN, data, params, env={KEY_ENV: TEST_KEY})
        assert result.returncode == 0, result.output[-3000:]
        assert arrived_other.is_set() and teacher.total_answered() == len(queries)
    responses = rows(data / "raw" / "teacher_outputs" / RUN / "responses.jsonl")
    assert {r["status"] for r in responses} == {"ok"} and not any(r["cache_hit"] for r in responses)
    assert "working ahead on" in result.output
