"""The openai_compatible provider against a real scripted HTTP server on 127.0.0.1.

Each test scripts the server per request and runs the teacher stage's domain
function (``stage.answer``) exactly as TeacherShard does.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from fitsense_luigi.errors import TeacherStageError
from fitsense_luigi.pipeline.roots import LocalRoot
from fitsense_luigi.teacher import stage
from tests.support.layout import cache_entries
from tests.support.teacher import (
    FAST_TEACHER,
    KEY_ENV,
    TEST_KEY,
    Reply,
    error,
    refusing_url,
    scripted_queries,
    scripted_query,
)


@pytest.fixture(params=["auto", "threads"])
def teacher_config(request, teacher_config):
    """Every test here twice: on the event loop (``teacher.transport: auto``) and on a thread per request, the
    transport of proxied or paced endpoints: the two must follow the same rules."""

    def make(url: str, **overrides):
        return teacher_config(url, **{"transport": request.param, **overrides})

    return make


def run(config, queries, cache_root: Path):
    return stage.answer(config, queries, cache_root=LocalRoot(cache_root))


def test_success_sends_the_documented_request_and_fills_every_field(server, teacher_config, tmp_path):
    srv = server()
    config = teacher_config(srv.url)
    queries = scripted_queries(6)
    rows = run(config, queries, tmp_path / "cache")

    assert [r["query_id"] for r in rows] == [q["query_id"] for q in queries]
    assert {r["status"] for r in rows} == {"ok"}
    row = rows[0]
    assert row["attempt_count"] == 1 and row["cache_hit"] is False
    assert row["usage"] == {"prompt_tokens": 120, "completion_tokens": 340, "total_tokens": 460}
    assert row["post_validation"]["valid"] and row["post_validation"]["schema_valid"]
    assert row["raw_response"]["object"] == "chat.completion"
    assert json.loads(row["response_text"])["days"]
    assert srv.authorization == {f"Bearer {TEST_KEY}"}
    body = next(iter(srv.bodies.values()))
    assert body["model"] == "test-teacher" and body["seed"] == config.reproducibility.seed
    assert body["response_format"]["type"] == "json_schema"
    assert "$schema" not in body["response_format"]["json_schema"]["schema"]
    assert {"temperature", "top_p", "max_tokens", "messages"} <= set(body)


def test_response_format_follows_the_config(server, teacher_config, tmp_path):
    srv = server()
    run(teacher_config(srv.url, response_format="json_object"), scripted_queries(1), tmp_path / "a")
    run(teacher_config(srv.url, response_format="none"), [scripted_query(1)], tmp_path / "b")
    formats = [b.get("response_format") for b in srv.bodies.values()]
    assert {"type": "json_object"} in formats and None in formats


def _in_two_seconds() -> dict[str, str]:
    return {"Retry-After": email.utils.formatdate(time.time() + 2, usegmt=True)}


@pytest.mark.parametrize(
    "header",
    [lambda: {"Retry-After": "1"}, lambda: {"retry-after-ms": "1000"}, _in_two_seconds],
    ids=["seconds", "milliseconds", "http-date"],
)
def test_429_waits_as_long_as_retry_after_says(server, teacher_config, tmp_path, header):
    srv = server(
        lambda call: (
            Reply(429, raw=b'{"error":{"message":"slow down"}}', headers=header()) if call.attempt == 1 else Reply()
        )
    )
    rows = run(teacher_config(srv.url), [scripted_query(0, "limited")], tmp_path / "cache")

    assert rows[0]["status"] == "ok" and rows[0]["attempt_count"] == 2
    first, second = srv.arrivals("limited")
    assert second - first >= 0.9  # a lower bound: the client must not come back earlier


def test_retry_after_is_capped(server, teacher_config, tmp_path):
    srv = server(lambda call: Reply(429, raw=b"{}", headers={"Retry-After": "3600"}) if call.attempt == 1 else Reply())
    config = teacher_config(srv.url, retries={**FAST_TEACHER["retries"], "retry_after_cap_s": 0.2})
    rows = run(config, [scripted_query(0, "capped")], tmp_path / "cache")
    assert rows[0]["status"] == "ok" and rows[0]["attempt_count"] == 2
    first, second = srv.arrivals("capped")
    assert second - first < 60  # an hour was asked; the cap says 0.2 s


def test_500_then_success_is_retried(server, teacher_config, tmp_path):
    srv = server(lambda call: error(500, "boom") if call.attempt == 1 else Reply())
    rows = run(teacher_config(srv.url), scripted_queries(3, "flaky"), tmp_path / "cache")
    assert [r["status"] for r in rows] == ["ok"] * 3
    assert [r["attempt_count"] for r in rows] == [2] * 3
    assert srv.cases()["flaky"] == 6


def test_a_response_slower_than_the_read_timeout_is_retried(server, teacher_config, tmp_path):
    srv = server(lambda call: Reply(delay_s=1.5) if call.attempt == 1 else Reply())
    config = teacher_config(srv.url, timeouts={"connect_s": 2.0, "read_s": 0.3, "total_s": 30.0})
    rows = run(config, [scripted_query(0, "slow")], tmp_path / "cache")
    assert rows[0]["status"] == "ok" and rows[0]["attempt_count"] == 2


def test_always_too_slow_ends_as_timeout_and_is_not_cached(server, teacher_config, tmp_path):
    srv = server(lambda call: Reply(delay_s=1.0))
    config = teacher_config(
        srv.url,
        timeouts={"connect_s": 2.0, "read_s": 0.2, "total_s": 30.0},
        retries={**FAST_TEACHER["retries"], "max_attempts": 2},
    )
    cache_root = tmp_path / "cache"
    rows = run(config, [scripted_query(0, "slow")], cache_root)
    row = rows[0]
    assert row["status"] == "timeout" and row["attempt_count"] == 2
    assert "read" in row["error"] and row["response_text"] == ""
    assert not row["post_validation"]["valid"]
    assert not cache_entries(cache_root)


@pytest.mark.parametrize(
    ("reply", "status", "error_part", "answers"),
    [
        (Reply(content=None), "invalid", "no content", 1),
        (Reply(content='{"summary": "cut', finish_reason="length"), "length", "max_tokens", 1),
        (Reply(content=None, finish_reason="content_filter"), "content_filter", "content filter", 1),
        # a delivered answer that is not a plan is asked again with its errors (teacher.reask.max_attempts = 2)
        (Reply(content="Sure! Here is your plan: squat a lot."), "invalid", "no JSON object", 3),
        (Reply(content='{"summary": "only this"}'), "invalid", "plan_response", 3),
    ],
    ids=["null-content", "length", "content-filter", "prose", "schema-invalid"],
)
def test_answers_that_are_not_usable_plans_get_their_status(
    server, teacher_config, tmp_path, reply, status, error_part, answers
):
    srv = server(lambda call: reply)
    cache_root = tmp_path / "cache"
    rows = run(teacher_config(srv.url), [scripted_query(0, "odd")], cache_root)
    row = rows[0]
    assert row["status"] == status
    assert error_part in row["error"]
    assert row["attempt_count"] == answers, "a billed answer is not retried, only re-asked with its errors"
    assert row["post_validation"]["reasks"] == answers - 1
    assert len(cache_entries(cache_root)) == answers, "every billed answer is cached: never pay twice"
    assert srv.total_answered() == answers
    assert set(row) == set(rows_keys())
    # a rerun pays for none of them again
    again = run(teacher_config(srv.url), [scripted_query(0, "odd")], cache_root)
    assert srv.total_answered() == answers and again[0]["status"] == status and again[0]["cache_hit"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html><body>Proxy login required</body></html>", "not JSON"),
        (b'{"id": "x", "choices": []}', "no choices"),
        (b'{"choices": [{"message": {"content": 5}}]}', "choices[0].message.content is a int"),
        (b'{"choices": [{"message": {"content": "x"}}], "usage": {"total_tokens": "lots"}}', "usage.total_tokens"),
        (b'{"choices": [{"message": {"content": "x"}}], "usage": {"total_tokens": NaN}}', "not JSON"),
    ],
    ids=["html", "no-choices", "numeric-content", "usage-text", "nan"],
)
def test_a_200_that_is_not_a_chat_completion_is_not_an_answer_and_is_never_cached(
    server, teacher_config, tmp_path, body, problem
):
    """Issue 19, defect 5: a proxy's page with HTTP 200 was cached as an ``invalid`` answer, and the healed
    server was never asked again. Only an OpenAI chat-completion body is an answer."""
    srv = server(lambda call: Reply(raw=body))
    cache_root = tmp_path / "cache"
    rows = run(teacher_config(srv.url), [scripted_query(0, "odd")], cache_root)
    row = rows[0]
    assert row["status"] == "http_error" and row["attempt_count"] == 1
    assert row["error"].startswith(f"HTTP 200 with a body that is not a chat completion ({problem}")
    assert not cache_entries(cache_root), "nothing the model did not say is cached"
    srv.script = lambda call: Reply()  # the server heals: the next run asks again and gets the answer
    again = run(teacher_config(srv.url), [scripted_query(0, "odd")], cache_root)
    assert again[0]["status"] == "ok" and srv.total_answered() == 2


def rows_keys() -> list[str]:
    return [
        "query_id",
        "scenario_id",
        "prompt_type",
        "provider",
        "model_name",
        "attempt_count",
        "latency_ms",
        "status",
        "finish_reason",
        "response_text",
        "normalized_text",
        "raw_response",
        "error",
        "usage",
        "safety_flags",
        "post_validation",
        "response_format",
        "cache_hit",
        "sample",
        "alternatives",
    ]


def test_401_stops_at_once_without_retry_and_names_the_env_var(server, teacher_config, tmp_path):
    srv = server(lambda call: error(401, "Incorrect API key provided", code="invalid_api_key"))
    with pytest.raises(TeacherStageError) as caught:
        run(teacher_config(srv.url), scripted_queries(12, "denied"), tmp_path / "cache")
    message = str(caught.value)
    assert "HTTP 401" in message and f"${KEY_ENV}" in message
    assert TEST_KEY not in message and "\n" not in message
    assert srv.cases()["denied"] <= 4, "no retries, and the stage stops instead of sending the rest"
    assert max(srv.attempts().values()) == 1


@pytest.mark.parametrize("code", [400, 422])
def test_client_errors_are_not_retried(server, teacher_config, tmp_path, code):
    srv = server(lambda call: error(code, "context too long"))
    rows = run(teacher_config(srv.url), [scripted_query(0, "bad")], tmp_path / "cache")
    assert rows[0]["status"] == "http_error" and rows[0]["attempt_count"] == 1
    assert rows[0]["error"] == f"HTTP {code}: context too long"
    assert rows[0]["raw_response"] == {"error": {"message": "context too long"}}


def test_insufficient_quota_is_fatal_even_on_429(server, teacher_config, tmp_path):
    body = b'{"error":{"message":"You exceeded your current quota","type":"insufficient_quota"}}'
    srv = server(lambda call: Reply(429, raw=body, headers={"Retry-After": "1"}))
    with pytest.raises(TeacherStageError, match="quota"):
        run(teacher_config(srv.url), [scripted_query(0, "broke")], tmp_path / "cache")
    assert srv.cases()["broke"] == 1


def test_circuit_breaker_stops_an_error_storm(server, teacher_config, tmp_path):
    srv = server(lambda call: error(503, "overloaded"))
    config = teacher_config(srv.url, circuit_breaker={"window": 10, "min_calls": 6, "failure_ratio": 0.5})
    with pytest.raises(TeacherStageError) as caught:
        run(config, scripted_queries(200, "storm"), tmp_path / "cache")
    message = str(caught.value)
    assert "circuit breaker" in message and "HTTP 503: overloaded" in message
    # 6 failed requests trip it; at most the 4 workers' requests in flight add to that
    assert srv.cases()["storm"] <= (6 + 4) * 3


def test_a_storm_of_400s_is_permanent_and_a_storm_of_503s_is_not(server, teacher_config, tmp_path):
    """The same request rejected as such (400, 422) fails the same way again: no Luigi retry minutes later."""
    breaker = {"window": 10, "min_calls": 6, "failure_ratio": 0.5}
    bad = server(lambda call: error(400, "temperature must be <= 1"))
    with pytest.raises(TeacherStageError) as caught:
        run(teacher_config(bad.url, circuit_breaker=breaker), scripted_queries(50, "bad"), tmp_path / "a")
    assert caught.value.permanent and "the same way every time" in str(caught.value)
    assert max(Counter(d for _, _, d in bad.received).values()) == 1, "a 400 is never retried"
    busy = server(lambda call: error(503, "overloaded"))
    with pytest.raises(TeacherStageError) as caught:
        run(teacher_config(busy.url, circuit_breaker=breaker), scripted_queries(50, "busy"), tmp_path / "b")
    assert not caught.value.permanent and "rerun when the endpoint is healthy" in str(caught.value)


def test_mostly_healthy_endpoint_does_not_trip_the_breaker(server, teacher_config, tmp_path):
    broken = {"q3", "q7"}
    srv = server(lambda call: Reply(500, raw=b"{}") if call.case in broken else Reply())
    queries = [scripted_query(i, f"q{i}") for i in range(24)]
    rows = run(teacher_config(srv.url), queries, tmp_path / "cache")
    statuses = [r["status"] for r in rows]
    assert statuses.count("http_error") == 2 and statuses.count("ok") == 22


def test_connection_refused_is_an_http_error_after_retries(teacher_config, tmp_path):
    with refusing_url() as url:
        config = teacher_config(url, circuit_breaker={"window": 50, "min_calls": 50, "failure_ratio": 1.0})
        rows = run(config, [scripted_query(0)], tmp_path / "cache")
    assert rows[0]["status"] == "http_error" and rows[0]["attempt_count"] == 3
    assert rows[0]["error"].startswith("connection error")


def test_requests_per_minute_spaces_requests(server, teacher_config, tmp_path):
    srv = server()
    config = teacher_config(srv.url, requests_per_minute=300, concurrency=4)  # 5 per second, bursts of 5
    run(config, scripted_queries(11, "paced"), tmp_path / "cache")
    times = srv.arrivals("paced")
    assert times[-1] - times[0] >= 1.0  # 11 requests: 5 at once, then one every 0.2 s


def test_cache_serves_identical_requests_and_can_be_switched_off(server, teacher_config, tmp_path):
    srv = server()
    cache_root = tmp_path / "cache"
    queries = scripted_queries(5)
    first = run(teacher_config(srv.url), queries, cache_root)
    assert len(cache_entries(cache_root)) == 5

    second = run(teacher_config(srv.url), queries, cache_root)
    assert srv.total_answered() == 5, "the second pass is served from the cache"
    assert all(r["cache_hit"] for r in second)
    strip = ("cache_hit",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in second] == [
        {k: v for k, v in r.items() if k not in strip} for r in first
    ]

    run(teacher_config(srv.url, cache={"enabled": False}), queries, cache_root)
    assert srv.total_answered() == 10

    changed = [dict(q, template_version="other") for q in queries]
    run(teacher_config(srv.url), changed, cache_root)
    assert srv.total_answered() == 15, "a new template version is a new request"

    run(teacher_config(srv.url, temperature=0.7), queries, cache_root)
    assert srv.total_answered() == 20, "every generation parameter is part of the key"


def test_unreadable_cache_entry_is_a_miss(server, teacher_config, tmp_path):
    srv = server()
    cache_root = tmp_path / "cache"
    run(teacher_config(srv.url), [scripted_query(0)], cache_root)
    (entry,) = cache_entries(cache_root)
    entry.write_bytes(b"{truncated")
    rows = run(teacher_config(srv.url), [scripted_query(0)], cache_root)
    assert rows[0]["status"] == "ok" and not rows[0]["cache_hit"]
    assert srv.total_answered() == 2
    assert json.loads(entry.read_bytes())["outcome"]["status"] == "ok"


def test_key_is_redacted_from_anything_the_server_echoes(server, teacher_config, tmp_path):
    echo = json.dumps({"error": {"message": f"bad header Authorization: Bearer {TEST_KEY}"}}).encode()
    srv = server(lambda call: Reply(400, raw=echo))
    rows = run(teacher_config(srv.url), [scripted_query(0)], tmp_path / "cache")
    assert TEST_KEY not in json.dumps(rows)
    assert "[redacted]" in rows[0]["error"]


def test_provider_repr_does_not_show_the_key(teacher_config, server):
    import pickle

    srv = server()
    provider = stage.make_provider(teacher_config(srv.url))
    assert TEST_KEY not in repr(provider) and TEST_KEY not in str(provider.key)
    with pytest.raises(TypeError):
        pickle.dumps(provider.key)


def test_progress_reports_done_total_rate_and_failures(server, teacher_config, tmp_path):
    srv = server(lambda call: Reply(400, raw=b"{}") if call.case == "bad" else Reply())
    calls = []
    queries = [scripted_query(i, "bad" if i == 0 else "") for i in range(5)]
    stage.answer(teacher_config(srv.url), queries, LocalRoot(tmp_path / "cache"), progress=lambda *a: calls.append(a))
    assert calls[0][:2] == (0, 5)
    done, total, message = calls[-1]
    assert (done, total) == (5, 5)
    assert message.startswith("teacher: 5/5 answered (0 from cache), ") and message.endswith("req/s, 1 failed")

    calls.clear()
    stage.answer(teacher_config(srv.url), queries, LocalRoot(tmp_path / "cache"), progress=lambda *a: calls.append(a))
    assert calls[0][2].startswith("teacher: 4/5 answered (4 from cache)"), "the 400 was not cached"


def test_a_shard_without_queries_is_an_empty_result(server, teacher_config, tmp_path):
    from fitsense_luigi.teacher.summary import summarise

    srv = server()
    config = teacher_config(srv.url, shards=8)
    queries = scripted_queries(3)
    assert stage.shard_queries(queries, 5, 8) == []
    assert stage.answer(config, [], LocalRoot(tmp_path / "cache")) == []
    summary = summarise([], config)
    assert summary["responses"] == 0 and summary["cache_hit_rate"] == 0.0
    assert [q["query_id"] for k in range(8) for q in stage.shard_queries(queries, k, 8)] == [
        q["query_id"] for q in queries
    ]
    assert len(srv.received) == 0


def test_the_merge_takes_each_query_from_its_shard_and_names_what_is_missing():
    ids = [f"q{i}" for i in range(7)]
    shards = [[{"query_id": q} for q in ids[k::3]] for k in range(3)]  # round-robin, as the shards answer them
    assert [r["query_id"] for r in stage.merge_in_query_order(iter(ids), shards)] == ids
    shards[1] = [r for r in shards[1] if r["query_id"] != "q4"]  # a request of shard 1 failed: no row
    with pytest.raises(TeacherStageError, match=r"no teacher response for 1 query \(first: q4\)$"):
        list(stage.merge_in_query_order(iter(ids), shards))
    shards[0] = shards[0][:1]  # q3 and q6 too
    with pytest.raises(TeacherStageError, match=r"no teacher response for 3 queries \(first: q3\)$"):
        list(stage.merge_in_query_order(iter(ids), shards))
