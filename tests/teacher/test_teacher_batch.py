"""Batch mode against the loopback Batch API: every query answered, nothing lost, nothing paid twice.

The server's own accounting is the judge: which lines it received in which batch (``submitted``), and which
answers it produced (``billed``: what a provider charges for).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fitsense_luigi.errors import TeacherBatchesPending, TeacherStageError
from fitsense_luigi.pipeline.roots import open_data_root
from fitsense_luigi.teacher import stage
from fitsense_luigi.teacher.batch import wire
from fitsense_luigi.teacher.batch.registry import Registry
from tests.support import params
from tests.support.batch_api import LOSE, BatchServer, batch_params, digest
from tests.support.teacher import (
    FAST_TEACHER,
    KEY_ENV,
    TEST_KEY,
    Reply,
    assert_no_secret,
    error,
    scripted_queries,
    scripted_query,
    teacher_params,
)

RUN = "2026-02-17"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, TEST_KEY)


def cache_root(tmp_path: Path):
    return open_data_root(tmp_path / "data").scoped("cache/teacher")


def run_batch_stage(srv: BatchServer | None, tmp_path: Path, queries, *, run_id: str = RUN, **overrides):
    config = params.config(batch_params(srv.url if srv else None, **overrides))
    return stage.answer(config, queries, cache_root(tmp_path), run_id=run_id)


def lines_per_batch(srv: BatchServer) -> list[list[str]]:
    return [[line.custom_id for line in b.lines] for b in srv.created]


def test_every_query_is_answered_within_the_limits_each_request_billed_once(batch_server, tmp_path):
    srv = batch_server(max_lines=7, max_bytes=9000)  # the provider refuses larger files
    queries = scripted_queries(20)
    rows = run_batch_stage(srv, tmp_path, queries, batch={"max_lines": 7, "max_bytes": 9000})
    assert [r["query_id"] for r in rows] == [q["query_id"] for q in queries]
    assert {r["status"] for r in rows} == {"ok"} and {r["provider"] for r in rows} == {"openai_batch"}
    assert all(b.status == "completed" and not b.errors for b in srv.created), "no batch over the limits"
    assert all(len(b.lines) <= 7 for b in srv.created) and len(srv.created) >= 3
    assert set(srv.billed().values()) == {1} and len(srv.billed()) == 20
    assert srv.authorization == {f"Bearer {TEST_KEY}"}


def test_a_stage_is_split_by_bytes_as_well_as_lines(batch_server, tmp_path):
    queries = scripted_queries(12)
    config = params.config(batch_params("http://127.0.0.1:9/v1"))
    request = stage.build_request(config, queries[0], stage.response_format(config))
    one_line = len(wire.input_line("x" * 40, request.body()))
    srv = batch_server(max_bytes=3 * one_line + 200)
    rows = run_batch_stage(srv, tmp_path, queries, batch={"max_bytes": 3 * one_line + 200})
    assert {r["status"] for r in rows} == {"ok"}
    assert all(not b.errors for b in srv.created) and len(srv.created) == 4  # 3 lines a file fit, 4 do not


def test_batch_rows_are_the_online_rows_same_extraction_checks_and_cache(batch_server, server, tmp_path):
    """One answer, two ways: through the Batch API and online; the response rows agree but for who sent it."""
    shapes = {
        "fenced": Reply(content=None),  # filled below from the coach's answer
        "refusal": Reply(content=None, message={"refusal": "I can't help with that."}),
        "cut": Reply(finish_reason="length"),
    }
    queries = [scripted_query(i, case) for i, case in enumerate(["", "fenced", "refusal", "cut", "", ""])]

    def script(call):
        if call.case == "fenced":
            from tests.support.teacher import coach_answer

            return Reply(content=f"Here is your plan:\n```json\n{coach_answer(call.body)}\n```\nEnjoy!")
        return shapes.get(call.case) or Reply()

    batch_rows = run_batch_stage(batch_server(script), tmp_path / "b", queries)
    online = params.config(teacher_params(server(script).url, FAST_TEACHER))
    online_rows = stage.answer(online, queries, cache_root(tmp_path / "o"), run_id=RUN)
    differ = {"provider", "latency_ms"}
    strip = lambda r: {k: v for k, v in r.items() if k not in differ}  # noqa: E731
    assert [strip(r) for r in batch_rows] == [strip(r) for r in online_rows]
    assert [r["status"] for r in batch_rows] == ["ok", "ok", "refused", "length", "ok", "ok"]
    assert batch_rows[1]["post_validation"]["extracted"] == "fenced"


def test_lost_lines_and_retryable_line_errors_are_resubmitted_alone(batch_server, tmp_path):
    def script(call):
        if call.attempt == 1 and call.case == "lost":
            return LOSE
        if call.attempt == 1 and call.case == "busy":
            return error(500, "The server had an error while processing your request")
        if call.attempt == 1 and call.case == "slow":
            return error(429, "Rate limit reached for requests", code="rate_limit_exceeded")
        return Reply()

    cases = ["", "lost", "", "busy", "slow", "", "lost", ""]
    queries = [scripted_query(i, case) for i, case in enumerate(cases)]
    srv = batch_server(script)
    rows = run_batch_stage(srv, tmp_path, queries)
    assert {r["status"] for r in rows} == {"ok"}
    first, second = lines_per_batch(srv)
    assert len(first) == 8
    assert sorted(second) == sorted(first[i] for i, c in enumerate(cases) if c in ("lost", "busy", "slow"))
    assert set(srv.billed().values()) == {1}, "each answer produced once"
    attempts = {r["query_id"]: r["attempt_count"] for r in rows}
    assert [attempts[q["query_id"]] for q in queries] == [1 if c == "" else 2 for c in cases]


def test_a_failure_that_would_repeat_is_not_resubmitted(batch_server, tmp_path):
    script = lambda call: error(400, "Invalid 'messages': too long") if call.case == "bad" else Reply()  # noqa: E731
    queries = [scripted_query(i, "bad" if i == 2 else "") for i in range(6)]
    srv = batch_server(script)
    rows = run_batch_stage(srv, tmp_path, queries)
    assert len(srv.created) == 1
    assert rows[2]["status"] == "http_error" and rows[2]["error"] == "HTTP 400: Invalid 'messages': too long"
    assert {r["status"] for i, r in enumerate(rows) if i != 2} == {"ok"}
    # the same run again: the failure stands (as an online run's 400 does); nothing is submitted again
    again = run_batch_stage(srv, tmp_path, queries)
    assert len(srv.created) == 1 and again == rows


@pytest.mark.parametrize("course", ["expire", "cancel"])
def test_an_expired_or_cancelled_batch_resubmits_only_what_has_no_answer(batch_server, tmp_path, course):
    ends = iter([course, "complete"])
    srv = batch_server(course=lambda batch: next(ends), done_share=0.5)
    queries = scripted_queries(10)
    rows = run_batch_stage(srv, tmp_path, queries)
    assert {r["status"] for r in rows} == {"ok"}
    first, second = srv.created
    assert first.status == ("expired" if course == "expire" else "cancelled")
    ran = {line.custom_id for line in first.lines[:5]}
    assert {line.custom_id for line in second.lines} == {line.custom_id for line in first.lines} - ran
    assert set(srv.billed().values()) == {1} and len(srv.billed()) == 10


def test_a_batch_cancelled_while_running_is_picked_up(batch_server, tmp_path):
    srv = batch_server(steps=3)
    srv.hold()
    queries = scripted_queries(6)
    with pytest.raises(TeacherBatchesPending):
        run_batch_stage(srv, tmp_path, queries, batch={"wait_s": 0})
    srv.cancel(srv.created[0].id)  # someone cancels it from the dashboard
    srv.release()
    rows = run_batch_stage(srv, tmp_path, queries)
    assert {r["status"] for r in rows} == {"ok"} and srv.created[0].status == "cancelled"
    assert len(srv.created) == 2 and set(srv.billed().values()) == {1}


def test_a_request_lost_every_time_gives_up_after_max_submissions(batch_server, tmp_path):
    srv = batch_server(lambda call: LOSE if call.case == "void" else Reply())
    queries = [scripted_query(i, "void" if i == 1 else "") for i in range(4)]
    rows = run_batch_stage(srv, tmp_path, queries, batch={"max_submissions": 3})
    assert rows[1]["status"] == "http_error" and rows[1]["attempt_count"] == 3
    assert rows[1]["error"].startswith("no answer after 3 batch submissions (last: no line for it")
    assert srv.submitted()[digest(srv.created[0].lines[1].body)] == 3 and len(srv.created) == 3


def test_an_answer_that_fails_the_checks_is_reasked_in_the_next_round_and_cached_per_attempt(batch_server, tmp_path):
    def script(call):
        if call.case == "prose" and len(call.body["messages"]) == 2:  # the first ask, not its re-ask
            return Reply(content="Train three days a week and rest well.")
        return Reply()

    queries = [scripted_query(i, "prose" if i in (1, 3) else "") for i in range(5)]
    srv = batch_server(script)
    rows = run_batch_stage(srv, tmp_path, queries)
    assert {r["status"] for r in rows} == {"ok"}
    assert [r["post_validation"]["reasks"] for r in rows] == [0, 1, 0, 1, 0]
    first, second = lines_per_batch(srv)
    assert len(first) == 5 and len(second) == 2 and all(".1." in line_id for line_id in second)
    # a new run with the same requests: every attempt comes from the cache, nothing is submitted
    again = run_batch_stage(srv, tmp_path, queries, run_id=f"{RUN}-again")
    assert len(srv.created) == 2 and all(r["cache_hit"] for r in again)


def test_requests_answered_in_the_cache_are_never_submitted(batch_server, tmp_path):
    srv = batch_server()
    queries = scripted_queries(20)
    run_batch_stage(srv, tmp_path, queries[:8])
    rows = run_batch_stage(srv, tmp_path, queries, run_id=f"{RUN}-bigger")
    assert [r["cache_hit"] for r in rows] == [True] * 8 + [False] * 12
    assert [len(b.lines) for b in srv.created] == [8, 12], "the second batch holds only what the cache lacks"
    assert set(srv.submitted().values()) == {1} and set(srv.billed().values()) == {1}


def test_a_rejected_response_format_moves_down_for_the_next_round(batch_server, tmp_path):
    def script(call):
        if (call.body.get("response_format") or {}).get("type") == "json_schema":
            return error(400, "response_format json_schema is not supported by this server")
        return Reply()

    srv = batch_server(script)
    queries = scripted_queries(4)
    rows = run_batch_stage(srv, tmp_path, queries)
    assert {r["status"] for r in rows} == {"ok"} and {r["response_format"] for r in rows} == {"json_object"}
    first, second = srv.created
    assert {line.body["response_format"]["type"] for line in first.lines} == {"json_schema"}
    assert {line.body["response_format"]["type"] for line in second.lines} == {"json_object"}


def test_waiting_leaves_the_batch_running_and_the_rerun_polls_the_same_batch(batch_server, tmp_path):
    srv = batch_server()
    srv.hold()
    queries = scripted_queries(5)
    with pytest.raises(TeacherBatchesPending) as left:
        run_batch_stage(srv, tmp_path, queries, batch={"wait_s": 0})
    assert "1 batch: batch_0001 validating 0/5" in str(left.value) and "run the same command again" in str(left.value)
    with pytest.raises(TeacherBatchesPending):
        run_batch_stage(srv, tmp_path, queries, batch={"wait_s": 0})
    srv.release()
    rows = run_batch_stage(srv, tmp_path, queries)
    assert {r["status"] for r in rows} == {"ok"} and len(srv.created) == 1 and srv.uploads == 1
    assert not any(r["cache_hit"] for r in rows), "paid by this run, though another call collected it"


def test_a_submission_whose_batch_was_created_but_not_recorded_is_found_not_created_again(batch_server, tmp_path):
    srv = batch_server()
    queries = scripted_queries(4)
    srv.hold_creates()  # the create's answer never reaches the client (read time-out 1 s: it looks again)
    srv.hold()
    with pytest.raises(TeacherBatchesPending):
        run_batch_stage(srv, tmp_path, queries, batch={"wait_s": 0})
    srv.release_creates()
    srv.release()
    rows = run_batch_stage(srv, tmp_path, queries)
    assert {r["status"] for r in rows} == {"ok"} and len(srv.created) == 1


def test_a_batch_that_fails_validation_stops_the_stage_in_one_line(batch_server, tmp_path):
    srv = batch_server(max_lines=5)  # smaller than the configured limit
    with pytest.raises(TeacherStageError) as failed:
        run_batch_stage(srv, tmp_path, scripted_queries(12))
    message = str(failed.value)
    assert "batch_0001 failed validation: too_many_requests: 12 requests > 5" in message
    assert "the same way every time" in message and failed.value.permanent
    assert srv.billed() == {}


def test_offline_without_a_base_url_says_how_to_export_and_import(tmp_path):
    with pytest.raises(TeacherStageError) as failed:
        run_batch_stage(None, tmp_path, scripted_queries(3))
    assert "3 requests have no answer and teacher.base_url is null" in str(failed.value)
    assert "batch_files export --run-id 2026-02-17 requests.jsonl" in str(failed.value)


def test_the_key_is_sent_only_in_the_header_and_redacted_from_what_comes_back(batch_server, tmp_path, capfd):
    echo = lambda call: error(400, f"bad header Bearer {TEST_KEY}") if call.case == "echo" else Reply()  # noqa: E731
    srv = batch_server(echo)
    rows = run_batch_stage(srv, tmp_path, [scripted_query(0, "echo"), scripted_query(1)])
    assert rows[0]["status"] == "http_error" and "[redacted]" in rows[0]["error"]
    assert_no_secret([tmp_path], [json.dumps(rows), *capfd.readouterr()])


def test_a_refused_key_stops_at_the_first_call(batch_server, tmp_path, monkeypatch):
    srv = batch_server(key=TEST_KEY)
    monkeypatch.setenv(KEY_ENV, "sk-wrong-key-0000000000")
    with pytest.raises(TeacherStageError) as refused:
        run_batch_stage(srv, tmp_path, scripted_queries(2))
    assert str(refused.value).startswith(f"Batch API at {srv.url} refused uploading")
    assert "HTTP 401: invalid_api_key: Incorrect API key provided" in str(refused.value)
    assert f"check the key in ${KEY_ENV}" in str(refused.value) and refused.value.permanent
    assert srv.uploads == 0 and srv.created == []


def test_malformed_result_lines_are_counted_and_their_requests_asked_again(batch_server, tmp_path):
    srv = batch_server()
    queries = scripted_queries(3)
    finish = srv._finish

    def garble_first(batch, status):
        finish(batch, status)
        if batch.id == "batch_0001":
            stored = srv.files[batch.output_file_id]
            lines = stored["data"].split(b"\n")
            stored["data"] = b"\n".join([b"{not json", *lines[1:]])

    srv._finish = garble_first  # type: ignore[method-assign]
    rows = run_batch_stage(srv, tmp_path, queries)
    assert {r["status"] for r in rows} == {"ok"} and len(srv.created) == 2 and len(srv.created[1].lines) == 1
    collected = [s.collected for s in Registry(cache_root(tmp_path)).load(RUN)]
    assert collected[0]["malformed_lines"] == 1 and collected[0]["answered"] == 2
