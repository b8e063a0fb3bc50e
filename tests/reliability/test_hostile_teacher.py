"""Issue 19 against a teacher written to misbehave, through the `luigi` command: a key echoed JSON-escaped,
a slow drip, an HTML page with HTTP 200, answers that are all unusable, a wrong-typed cache entry, SIGTERM.

Each test reproduces a defect of the issue (it failed on main before the fix) and asserts the bounded, one-line
outcome: nothing paid twice, nothing written outside the data root, the key in no file, log or scheduler state.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import time
from pathlib import Path

import pytest

from fitsense_luigi.contracts import files, stages
from tests.ops.ops_harness import luigi_command as scheduled_command
from tests.ops.ops_harness import running_luigid, scheduler_args, worker_env
from tests.support.harness import REPO, run_luigi, watch_luigi
from tests.support.layout import RunFiles
from tests.support.teacher import (
    FAST_TEACHER,
    TEST_KEY,
    WITH_KEY,
    Reply,
    Servers,
    assert_no_secret,
    files_containing,
    json_escaped,
    teacher_params,
)

RUN_ID = "2026-02-17"
# A few requests (12) are enough to show each behaviour; the world stays the shared small one.
FEW = {
    "queries": {
        "per_type": {"plan_creation": 3, "plan_modification": 3, "safety_adjustment": 3, "progress_adaptation": 3}
    }
}
FEW_QUERIES = 12


def params_for(write_params, url: str, name: str = "params.yaml", **teacher) -> Path:
    overrides = teacher_params(url, FAST_TEACHER, **{"shards": 1, "concurrency": 2, **teacher})
    return write_params({**FEW, **overrides}, name=name)


def one_line_errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if " ERROR " in line]


# ------------------------------------------------------------------ 1. the key, echoed JSON-escaped


def echo_key(body: bytes) -> bytes:
    return body.replace(b"__ECHO__", b"Bearer " + json_escaped())


def test_a_key_echoed_json_escaped_reaches_no_file_log_or_luigid_state(server: Servers, write_params, tmp_path):
    """Defect 1: redaction ran on the raw body, before decoding, so ``\\u0073k-...`` came back as the key in plain
    text in every cache entry, responses.jsonl, and (from a 500) stderr, run.log, /api/fetch_error and luigid's
    state pickle. Now every decoded string is redacted."""
    srv = server(lambda call: Reply(message={"debug": "__ECHO__"}, rewrite=echo_key))
    params = params_for(write_params, srv.url)
    data_root = tmp_path / "data"
    answered = run_luigi("CallTeacher", RUN_ID, data_root, params, env=WITH_KEY)
    assert answered.returncode == 0, answered.output[-3000:]
    run = RunFiles(data_root, RUN_ID)
    rows = run.rows(files.RESPONSES)
    assert len(rows) == FEW_QUERIES and {r["status"] for r in rows} == {"ok"}
    echoed = [e for e in run.cache_entries() if b"Bearer [redacted]" in e.read_bytes()]
    assert len(echoed) == FEW_QUERIES, "the echo is kept, redacted, in every cache entry"

    # 2. a 500 whose error message carries the key, with luigid scheduling: every exit of the message
    srv.script = lambda call: Reply(500, raw=b'{"error": {"message": "bad auth __ECHO__"}}', rewrite=echo_key)
    other = "2026-02-18"
    with running_luigid(tmp_path, data_root) as scheduler:
        env = worker_env(tmp_path, data_root, params, WITH_KEY)
        cfg = Path(env["LUIGI_CONFIG_PATH"])  # the worker gives up after the failure instead of awaiting a retry
        cfg.write_text(cfg.read_text().replace("keep_alive = true", "keep_alive = false"))
        command = scheduled_command(other, *scheduler_args(scheduler), task="CallTeacher")
        failed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=200)
        assert failed.returncode == 30, failed.stderr[-3000:]
        assert "bad auth Bearer [redacted]" in failed.stderr
        explained = []
        for status in ("FAILED", "DISABLED"):
            for task_id in scheduler.api("task_list", {"status": status}):
                explained.append(scheduler.api("fetch_error", {"task_id": task_id})["error"])
        assert explained and all("[redacted]" in text for text in explained), explained
    state = data_root / "scheduler" / "luigi-state.pickle"
    assert state.is_file() and pickle.loads(state.read_bytes())  # luigid wrote its state on the way out
    run_log = RunFiles(data_root, other).run_log
    assert "bad auth Bearer [redacted]" in run_log.read_text()
    assert_no_secret([tmp_path], [answered.output, failed.stdout, failed.stderr, *explained])
    assert srv.authorization == {f"Bearer {TEST_KEY}"}


# ------------------------------------------------------------------ 2. hangs


def test_a_server_that_drips_one_byte_at_a_time_costs_one_bounded_timeout_per_attempt(
    server: Servers, write_params, tmp_path
):
    """Defect 2: read_s is per socket read, so a server sending a byte every 0.2 s (here; a second in the issue)
    never timed out and the run hung for ever. Now each request has a deadline for the whole answer."""
    srv = server(lambda call: Reply(drip_s=0.2))
    params = params_for(
        write_params,
        srv.url,
        timeouts={"connect_s": 2.0, "read_s": 1.0, "total_s": 1.5},
        retries={**FAST_TEACHER["retries"], "max_attempts": 2},
        circuit_breaker={"window": 4, "min_calls": 4, "failure_ratio": 0.9},
    )
    started = time.monotonic()
    result = run_luigi("CallTeacher", RUN_ID, tmp_path / "data", params, env=WITH_KEY, timeout=180)
    took = time.monotonic() - started
    assert result.returncode == 30, result.output[-3000:]
    assert "timeout: no complete answer within 1.5 s (teacher.timeouts.total_s)" in result.output
    assert "circuit breaker stopped the stage" in result.output
    # the breaker trips after 4 requests of 2 attempts each (1.5 s each at most) in two workers: far below the
    # 180 s the subprocess may take; a hang would run into that time-out instead
    assert len(srv.received) <= 2 * (4 + 2), srv.received
    assert took < 180
    assert not RunFiles(tmp_path / "data", RUN_ID).cache_entries(), "no half answer is cached"


def test_a_stall_after_the_headers_is_a_timeout_not_an_http_error(server: Servers, write_params, tmp_path):
    """Defect 11: a stall after the headers was recorded as ``http_error``; it is a read time-out."""
    srv = server(lambda call: Reply(drip_s=3.0) if call.attempt == 1 else Reply())
    params = params_for(write_params, srv.url, timeouts={"connect_s": 2.0, "read_s": 0.5, "total_s": 30.0})
    result = run_luigi("CallTeacher", RUN_ID, tmp_path / "data", params, env=WITH_KEY)
    assert result.returncode == 0, result.output[-3000:]
    rows = RunFiles(tmp_path / "data", RUN_ID).rows(files.RESPONSES)
    assert {r["status"] for r in rows} == {"ok"} and {r["attempt_count"] for r in rows} == {2}
    summary = RunFiles(tmp_path / "data", RUN_ID).document(files.TEACHER_SUMMARY)
    assert "timeout" in json.dumps(summary) and "http_error" not in json.dumps(summary.get("retried", {}))


# ------------------------------------------------------------------ 5. a 200 HTML page, unusable answers


def test_an_html_page_with_200_is_not_cached_and_the_healed_server_is_asked_again(
    server: Servers, write_params, tmp_path
):
    """Defect 5: a proxy's HTML page with HTTP 200 was cached as an ``invalid`` answer; the next run against the
    healed server sent nothing and failed its gate. Now it is a failed request: not cached, and the breaker stops
    the stage."""
    page = b"<html><body><h1>Sign in to continue</h1></body></html>"
    srv = server(lambda call: Reply(raw=page))
    params = params_for(write_params, srv.url, circuit_breaker={"window": 6, "min_calls": 6, "failure_ratio": 0.5})
    data_root = tmp_path / "data"
    first = run_luigi("CallTeacher", RUN_ID, data_root, params, env=WITH_KEY)
    assert first.returncode == 30, first.output[-3000:]
    assert "not a chat completion (not JSON): <html><body><h1>Sign in to continue</h1></body></html>" in first.output
    assert "circuit breaker stopped the stage" in first.output
    run = RunFiles(data_root, RUN_ID)
    assert not run.cache_entries(), "a page that is not an answer is never cached"
    sent_first = len(srv.received)
    assert sent_first < FEW_QUERIES, "the breaker stopped the stage before every request was sent"

    srv.script = lambda call: Reply()  # the proxy lets requests through again
    healed = run_luigi("CallTeacher", RUN_ID, data_root, params, env=WITH_KEY)
    assert healed.returncode == 0, healed.output[-3000:]
    assert {r["status"] for r in run.rows(files.RESPONSES)} == {"ok"}
    assert len(srv.received) == sent_first + FEW_QUERIES and len(run.cache_entries()) == FEW_QUERIES


def test_the_breaker_trips_when_every_answer_is_unusable(server: Servers, write_params, tmp_path):
    """Defect 5: the breaker never tripped on 100% invalid answers (prose instead of a plan): every request was
    bought, re-asked, and the gate failed afterwards. Now unusable answers count, and the stop is permanent."""
    srv = server(lambda call: Reply(content="Sure! Here is your plan: squat a lot."))
    params = params_for(
        write_params,
        srv.url,
        reask={"max_attempts": 0},
        circuit_breaker={"window": 4, "min_calls": 4, "failure_ratio": 0.75},
    )
    result = run_luigi("CallTeacher", RUN_ID, tmp_path / "data", params, env=WITH_KEY)
    assert result.returncode == 30, result.output[-3000:]
    stops = [line for line in one_line_errors(result.output) if "circuit breaker stopped the stage" in line]
    assert stops and "answer unusable: not JSON" in stops[0] and "teacher.response_format" in stops[0]
    assert "Traceback" not in result.output
    assert len(srv.received) < FEW_QUERIES


# ------------------------------------------------------------------ 8. a damaged cache entry


def test_a_wrong_typed_cache_entry_is_named_moved_aside_and_asked_again(server: Servers, write_params, tmp_path):
    """Defect 8: ``usage: "lots"`` in a cache entry stopped every run that needed it (AttributeError x3, rc 30,
    no file named). Now the entry is named in one warning, moved to quarantine/, and its request asked again."""
    srv = server()
    params = params_for(write_params, srv.url)
    data_root = tmp_path / "data"
    assert run_luigi("CallTeacher", RUN_ID, data_root, params, env=WITH_KEY).returncode == 0
    run = RunFiles(data_root, RUN_ID)
    entries = sorted(run.cache_entries())
    damaged, edited = entries[0], entries[1]
    entry = json.loads(damaged.read_bytes())
    entry["outcome"]["usage"]["total_tokens"] = "lots"
    damaged.write_bytes(json.dumps(entry).encode())
    # a valid-looking entry with a different answer: the content changed, the rest kept
    entry = json.loads(edited.read_bytes())
    entry["outcome"]["content"] = entry["outcome"]["content"].replace("a", "b", 1)
    edited.write_bytes(json.dumps(entry).encode())
    for stage in (stages.TEACHER, stages.TEACHER_SHARD.sharded(0)):
        run.manifest(stage).unlink()

    again = run_luigi("CallTeacher", RUN_ID, data_root, params, env=WITH_KEY)
    assert again.returncode == 0, again.output[-3000:]
    warnings = [line for line in again.output.splitlines() if "is damaged" in line]
    assert len(warnings) == 2, warnings
    assert any(damaged.key in w and 'outcome.usage.total_tokens is "lots", not a count' in w for w in warnings)
    assert any(edited.key in w and "checksum does not match" in w for w in warnings)
    quarantine = list(run.cache_root().glob("quarantine/*"))
    assert len(quarantine) == 2
    assert len(srv.received) == FEW_QUERIES + 2, "the two damaged entries were asked again, nothing else"
    assert {r["status"] for r in run.rows(files.RESPONSES)} == {"ok"}


# ------------------------------------------------------------------ 11. SIGTERM


@pytest.mark.parametrize("processes", [1, 2])
def test_sigterm_mid_stage_removes_temporaries_keeps_answers_and_exits_143(
    server: Servers, write_params, tmp_path, processes
):
    """Defect 11: SIGTERM had no handler: temporaries stayed and answers in flight were lost. Now answers in
    flight are cached, temporaries removed, and the process exits 143 in one line; the rerun pays nothing twice.
    With a helper process (teacher.processes: 2) its answers in flight are kept the same way."""
    srv = server(latency_s=0.3)
    params = params_for(write_params, srv.url, processes=processes)
    data_root = tmp_path / "data"
    run = RunFiles(data_root, RUN_ID)
    proc = watch_luigi("CallTeacher", RUN_ID, data_root, params, WITH_KEY)
    deadline = time.monotonic() + 120
    while len(run.cache_entries()) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGTERM)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 143, output[-3000:]
    assert "stopped by SIGTERM" in output and "Traceback" not in output
    assert not [p for p in data_root.rglob(".*.tmp-*")], "temporaries removed"
    assert set(srv.answered().values()) == {1}
    paid = set(srv.answered())
    cached = len(run.cache_entries())
    assert cached == len(paid), "every answer that arrived was cached"

    rerun = run_luigi("CallTeacher", RUN_ID, data_root, params, env=WITH_KEY)
    assert rerun.returncode == 0, rerun.output[-3000:]
    assert set(srv.answered().values()) == {1}, "nothing was paid twice"
    assert len(srv.answered()) == FEW_QUERIES
    assert files_containing([data_root]) == []


# ------------------------------------------------------------------ 11. two runs, one request


@pytest.mark.parametrize("processes", [1, 2])
def test_two_runs_with_different_run_ids_at_once_pay_each_request_once(
    server: Servers, write_params, tmp_path, processes
):
    """Defect 11: two runs of the same day (a cron run and a manual one, other run ids) sharing the cache both
    missed and both sent the requests they had in common: 18 requests for 12 answers. Now a miss is sent under a
    claim on its cache key, and the other run waits for the answer."""
    srv = server(latency_s=0.2)
    params = params_for(write_params, srv.url, shards=2, processes=processes)
    data_root = tmp_path / "data"
    for run_id in ("cron", "manual"):
        assert run_luigi("GenerateQueries", run_id, data_root, params).returncode == 0
    procs = [watch_luigi("CallTeacher", run_id, data_root, params, WITH_KEY) for run_id in ("cron", "manual")]
    outputs = [proc.communicate(timeout=240)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], [o[-2000:] for o in outputs]
    assert len(srv.received) == FEW_QUERIES and set(srv.attempts().values()) == {1}, "a request was bought twice"
    for run_id in ("cron", "manual"):
        assert {r["status"] for r in RunFiles(data_root, run_id).rows(files.RESPONSES)} == {"ok"}
    assert not list(data_root.rglob("claims/*/*.lock")), "claims leave no file per key behind"
