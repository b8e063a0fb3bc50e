"""The teacher stage through the real `luigi` command: kill -9 and rerun, cache across runs, key hygiene."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from teacher_server import FAST_TEACHER, KEY_ENV, TEST_KEY, Reply, harness, server_fixture  # noqa: F401

LUIGI, REPO, luigi_env, run_luigi = harness.LUIGI, harness.REPO, harness.luigi_env, harness.run_luigi

RUN = "2026-02-17"


def teacher_params(write_params, url: str, **overrides) -> Path:
    teacher = dict(FAST_TEACHER, base_url=url, shards=2, concurrency=2, **overrides)
    return write_params({"teacher": teacher})


def cache_entries(data_root: Path) -> list[Path]:
    return [p for p in (data_root / "cache" / "teacher").rglob("*.json") if not p.name.startswith(".")]


def read_rows(data_root: Path, run_id: str) -> list[dict]:
    path = data_root / "raw" / "teacher_outputs" / run_id / "responses.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_killed_mid_stage_then_rerun_pays_for_each_request_once(server, write_params, tmp_path):
    srv = server()
    params = teacher_params(write_params, srv.url)
    data_root = tmp_path / "data"
    env = {KEY_ENV: TEST_KEY}
    held_after = 15
    srv.hold_after(held_after)

    # 1. the first run answers 15 requests, then the server holds the rest; kill -9 once they are cached
    args = [LUIGI, "--module", "fitsense_luigi", "CallTeacher", "--local-scheduler", "--run-id", RUN]
    proc = subprocess.Popen(
        args,
        cwd=REPO,
        env=luigi_env(data_root, params, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while len(cache_entries(data_root)) < held_after and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert len(cache_entries(data_root)) == held_after, "the first run should have cached 15 answers"
    os.killpg(proc.pid, signal.SIGKILL)
    first_output = proc.communicate(timeout=30)[0].decode()
    assert not (data_root / "raw" / "teacher_outputs" / RUN / "manifest.json").exists()
    srv.drop_held()  # what the killed client had sent but the server never processed

    # 2. the rerun completes and sends only what is missing
    second = run_luigi("CallTeacher", RUN, data_root, params, env=env)
    assert second.returncode == 0, second.output[-3000:]
    rows = read_rows(data_root, RUN)
    assert len(rows) == 48 and {r["status"] for r in rows} == {"ok"}
    seen = Counter(digest for _, _, digest in srv.received)
    assert len(seen) == 48 and set(seen.values()) == {1}, "every request reached the server exactly once"
    assert sum(srv.answered.values()) == 48
    # the 15 answers the killed attempt received were paid by this run: not cache hits of another run
    assert not any(r["cache_hit"] for r in rows)
    summary = json.loads((data_root / "raw" / "teacher_outputs" / RUN / "summary.json").read_text())
    assert summary["tokens_paid_this_run"] == summary["tokens"] and summary["cache_hits"] == 0

    # 3. a new run id with the same requests is served entirely from the cache
    third = run_luigi("CallTeacher", f"{RUN}-again", data_root, params, env=env)
    assert third.returncode == 0, third.output[-3000:]
    assert len(srv.received) == 48, "nothing new was sent"
    again = read_rows(data_root, f"{RUN}-again")
    assert all(r["cache_hit"] for r in again)
    strip = lambda r: {k: v for k, v in r.items() if k != "cache_hit"}  # noqa: E731
    assert [strip(r) for r in again] == [strip(r) for r in rows]
    summary = json.loads((data_root / "raw" / "teacher_outputs" / f"{RUN}-again" / "summary.json").read_text())
    assert summary["cache_hit_rate"] == 1.0 and summary["tokens_paid_this_run"]["total_tokens"] == 0

    # 4. the key was sent, and went nowhere else
    assert srv.authorization == {f"Bearer {TEST_KEY}"}
    assert files_containing(data_root, TEST_KEY.encode()) == []
    for output in (first_output, second.output, third.output):
        assert TEST_KEY not in output


def test_bad_key_fails_the_run_with_one_clear_line(server, write_params, tmp_path):
    body = b'{"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}'
    srv = server(lambda case, attempt: Reply(401, raw=body))
    params = teacher_params(write_params, srv.url)
    data_root = tmp_path / "data"
    result = run_luigi("CallTeacher", RUN, data_root, params, env={KEY_ENV: TEST_KEY})
    assert result.returncode == 30  # [retcode] task_failed
    lines = [ln for ln in result.output.splitlines() if "TeacherStageError" in ln]
    assert lines and all("HTTP 401" in ln and f"${KEY_ENV}" in ln for ln in lines)
    assert "Traceback" not in result.output
    assert TEST_KEY not in result.output and files_containing(data_root, TEST_KEY.encode()) == []
    sent = Counter(digest for _, _, digest in srv.received)
    assert len(sent) <= 2 * 2, "each shard stops after the requests its 2 workers had in flight"
    assert max(sent.values()) <= 3, "no client retries: at most one send per Luigi attempt (retry_count 3)"
    assert not cache_entries(data_root)


def test_mock_teacher_output_is_byte_identical_across_fresh_runs_and_worker_counts(built_run, tmp_path):
    data_root = tmp_path / "data"
    result = run_luigi("CallTeacher", built_run.run_id, data_root, built_run.params, "--workers", "2")
    assert result.returncode == 0, result.output[-3000:]
    for name in ("responses.jsonl", "summary.json"):
        mine = data_root / "raw" / "teacher_outputs" / built_run.run_id / name
        theirs = built_run.path("raw", "teacher_outputs", built_run.run_id, name)
        assert mine.read_bytes() == theirs.read_bytes(), name


def test_shards_are_merged_back_in_query_order(built_run):
    base = built_run.path("raw", "teacher_outputs", built_run.run_id)
    queries = [
        json.loads(x)
        for x in built_run.path("raw", "synthetic_queries", built_run.run_id, "queries.jsonl").read_text().splitlines()
    ]
    rows = [json.loads(x) for x in (base / "responses.jsonl").read_text().splitlines()]
    assert [r["query_id"] for r in rows] == [q["query_id"] for q in queries]
    shard_rows = [
        json.loads(x)
        for k in range(2)
        for x in (base / "shards" / f"{k:03d}" / "responses.jsonl").read_text().splitlines()
    ]
    assert sorted(json.dumps(r, sort_keys=True) for r in shard_rows) == sorted(
        json.dumps(r, sort_keys=True) for r in rows
    )
    assert len({frozenset(r) for r in rows}) == 1, "the same keys on every row"
    summary = json.loads((base / "summary.json").read_text())
    assert summary["responses"] == len(rows) and sum(summary["per_status"].values()) == len(rows)
    assert set(summary) >= {"per_status", "tokens", "cost", "latency_ms", "cache_hit_rate"}
    assert set(summary["latency_ms"]) == {"p50", "p90", "p99", "max"}
