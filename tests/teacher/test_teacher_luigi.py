"""The teacher stage through the real `luigi` command: kill -9 and rerun, cache across runs, key hygiene."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from fitsense_luigi.contracts import files, stages
from tests.support.harness import RUN_ID, run_luigi, watch_luigi
from tests.support.layout import RunFiles
from tests.support.params import SMALL_QUERIES
from tests.support.teacher import FAST_TEACHER, KEY_ENV, TEST_KEY, WITH_KEY, error, files_containing, teacher_params


def teacher_params_file(write_params, url: str, **overrides) -> Path:
    return write_params(teacher_params(url, FAST_TEACHER, shards=2, concurrency=2, **overrides))


def test_killed_mid_stage_then_rerun_pays_for_each_request_once(server, write_params, tmp_path):
    srv = server()
    params = teacher_params_file(write_params, srv.url)
    data_root = tmp_path / "data"
    run, again_run = RunFiles(data_root, RUN_ID), RunFiles(data_root, f"{RUN_ID}-again")
    env = WITH_KEY
    held_after = 15
    srv.hold_after(held_after)

    # 1. the first run answers 15 requests, then the server holds the rest; kill -9 once they are cached
    proc = watch_luigi("CallTeacher", RUN_ID, data_root, params, env)
    deadline = time.monotonic() + 120
    while len(run.cache_entries()) < held_after and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert len(run.cache_entries()) == held_after, "the first run should have cached 15 answers"
    os.killpg(proc.pid, signal.SIGKILL)
    first_output = proc.communicate(timeout=30)[0]
    assert not run.manifest(stages.TEACHER).exists()
    srv.drop_held()  # what the killed client had sent but the server never processed

    # 2. the rerun completes and sends only what is missing
    second = run_luigi("CallTeacher", RUN_ID, data_root, params, env=env)
    assert second.returncode == 0, second.output[-3000:]
    rows = run.rows(files.RESPONSES)
    assert len(rows) == SMALL_QUERIES and {r["status"] for r in rows} == {"ok"}
    seen = srv.attempts()
    assert len(seen) == SMALL_QUERIES and set(seen.values()) == {1}, "every request reached the server exactly once"
    assert srv.total_answered() == SMALL_QUERIES
    # the 15 answers the killed attempt received were paid by this run: not cache hits of another run
    assert not any(r["cache_hit"] for r in rows)
    summary = run.document(files.TEACHER_SUMMARY)
    assert summary["tokens_paid_this_run"] == summary["tokens"] and summary["cache_hits"] == 0

    # 3. a new run id with the same requests is served entirely from the cache
    third = run_luigi("CallTeacher", again_run.run_id, data_root, params, env=env)
    assert third.returncode == 0, third.output[-3000:]
    assert len(srv.received) == SMALL_QUERIES, "nothing new was sent"
    again = again_run.rows(files.RESPONSES)
    assert all(r["cache_hit"] for r in again)
    strip = lambda r: {k: v for k, v in r.items() if k != "cache_hit"}  # noqa: E731
    assert [strip(r) for r in again] == [strip(r) for r in rows]
    summary = again_run.document(files.TEACHER_SUMMARY)
    assert summary["cache_hit_rate"] == 1.0 and summary["tokens_paid_this_run"]["total_tokens"] == 0

    # 4. the key was sent, and went nowhere else
    assert srv.authorization == {f"Bearer {TEST_KEY}"}
    assert files_containing([data_root]) == []
    for output in (first_output, second.output, third.output):
        assert TEST_KEY not in output


def test_bad_key_fails_the_run_with_one_clear_line(server, write_params, tmp_path):
    srv = server(lambda call: error(401, "Incorrect API key provided", code="invalid_api_key"))
    params = teacher_params_file(write_params, srv.url)
    data_root = tmp_path / "data"
    result = run_luigi("CallTeacher", RUN_ID, data_root, params, env=WITH_KEY)
    assert result.returncode == 30  # [retcode] task_failed
    lines = [ln for ln in result.output.splitlines() if "TeacherStageError" in ln]
    assert lines and all("HTTP 401" in ln and f"${KEY_ENV}" in ln for ln in lines)
    assert "Traceback" not in result.output
    assert TEST_KEY not in result.output and files_containing([data_root]) == []
    sent = srv.attempts()
    assert len(sent) <= 2 * 2, "each shard stops after the requests its 2 workers had in flight"
    assert max(sent.values()) <= 3, "no client retries: at most one send per Luigi attempt (retry_count 3)"
    assert not RunFiles(data_root, RUN_ID).cache_entries()


def test_mock_teacher_output_is_byte_identical_across_fresh_runs_and_worker_counts(built_run, tmp_path):
    mine = RunFiles(tmp_path / "data", built_run.run_id)
    result = run_luigi("CallTeacher", built_run.run_id, mine.data_root, built_run.params, "--workers", "2")
    assert result.returncode == 0, result.output[-3000:]
    for file in (files.RESPONSES, files.TEACHER_SUMMARY):
        theirs = built_run.files.path(file)
        assert mine.path(file).read_bytes() == theirs.read_bytes(), file.name


def test_shards_are_merged_back_in_query_order(built_run):
    run = built_run.files
    queries = run.rows(files.QUERIES)
    rows = run.rows(files.RESPONSES)
    assert [r["query_id"] for r in rows] == [q["query_id"] for q in queries]
    shard_rows = [row for k in range(2) for row in run.rows(files.SHARD_RESPONSES.sharded(k))]
    assert sorted(json.dumps(r, sort_keys=True) for r in shard_rows) == sorted(
        json.dumps(r, sort_keys=True) for r in rows
    )
    assert len({frozenset(r) for r in rows}) == 1, "the same keys on every row"
    summary = run.document(files.TEACHER_SUMMARY)
    assert summary["responses"] == len(rows) and sum(summary["per_status"].values()) == len(rows)
    assert set(summary) >= {"per_status", "tokens", "cost", "latency_ms", "cache_hit_rate"}
    assert set(summary["latency_ms"]) == {"p50", "p90", "p99", "max"}
