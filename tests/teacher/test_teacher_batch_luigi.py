"""Batch mode through the `luigi` command: a run, kill -9 while a batch runs, waiting, offline batch files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from fitsense_luigi.contracts import files, stages
from fitsense_luigi.teacher import entry_store
from fitsense_luigi.teacher.batch import registry
from tests.reliability.fault_harness import KILLPOINT_DIR
from tests.support import harness
from tests.support.batch_api import LOSE, BatchServer, batch_params, run_batch
from tests.support.harness import REPO, RUN_ID, luigi_env, run_luigi
from tests.support.layout import RunFiles
from tests.support.params import SMALL_QUERIES
from tests.support.teacher import (
    FAST_TEACHER,
    USAGE,
    WITH_KEY,
    Reply,
    files_containing,
    teacher_params,
)

PRICES = {"prompt_per_1k_tokens": 0.0025, "completion_per_1k_tokens": 0.01}


def launcher(task: str, run_id: str, data_root: Path, params: Path) -> subprocess.CompletedProcess[str]:
    """`python -m fitsense_luigi TASK ...`: the launcher cron runs in batch mode (exit 20 while waiting)."""
    command = [sys.executable, "-m", "fitsense_luigi", task, "--local-scheduler", "--run-id", run_id]
    env = luigi_env(data_root, params, WITH_KEY)
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def start_luigi(task: str, data_root: Path, params: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """The `luigi` command in the background, in its own process group (to kill -9 it whole)."""
    env = {**WITH_KEY, **(extra_env or {})}
    out = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "start_new_session": True}
    return harness.start_luigi(task, RUN_ID, data_root, params, env=env, **out)


def wait_for(condition, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert condition(), proc.communicate(timeout=30)[0].decode()[-3000:] if proc.poll() is not None else "timed out"


def assert_every_query_answered_once(srv: BatchServer, run: RunFiles) -> list[dict]:
    rows = run.rows(files.RESPONSES)
    assert len(rows) == SMALL_QUERIES and {r["status"] for r in rows} == {"ok"}
    assert len(srv.billed()) == SMALL_QUERIES and set(srv.billed().values()) == {1}, "each answer produced once"
    return rows


def test_a_batch_run_answers_every_query_and_reports_its_batches_and_the_discounted_cost(
    batch_server, write_params, tmp_path
):
    srv = batch_server(lambda call: LOSE if call.attempt == 1 and int(call.digest, 16) % 7 == 0 else Reply())
    params = write_params(batch_params(srv.url, prices=PRICES, batch={"max_lines": 20}))
    data_root = tmp_path / "data"
    run = RunFiles(data_root, RUN_ID)
    result = run_luigi("CallTeacher", RUN_ID, data_root, params, env=WITH_KEY)
    assert result.returncode == 0, result.output[-3000:]
    rows = assert_every_query_answered_once(srv, run)
    assert {r["provider"] for r in rows} == {"openai_batch"}
    first_round = [b for b in srv.created if all(line.attempt == 1 for line in b.lines)]
    assert [len(b.lines) for b in first_round] == [20, 20, 8], "the stage's 48 requests, by teacher.batch.max_lines"
    report = run.document(files.TEACHER_BATCHES)["totals"]
    lost = sum(srv.submitted().values()) - SMALL_QUERIES
    assert report["batches"] == len(srv.created) and report["requests_submitted"] == SMALL_QUERIES + lost
    assert report["requests_resubmitted"] == lost and report["submitted_again"] == ({"lost": lost} if lost else {})
    # cost: the server's usage per answer at teacher.prices, times teacher.batch.discount (0.5)
    online = SMALL_QUERIES * (
        USAGE["prompt_tokens"] / 1000 * PRICES["prompt_per_1k_tokens"]
        + USAGE["completion_tokens"] / 1000 * PRICES["completion_per_1k_tokens"]
    )
    cost = run.document(files.TEACHER_SUMMARY)["cost"]
    assert cost["mode"] == "batch" and cost["price_factor"] == 0.5
    assert cost["paid_this_run"] == pytest.approx(online * 0.5) and cost["saved_by_batch"] == pytest.approx(online / 2)
    assert files_containing([data_root]) == []


def test_kill_9_while_the_batch_runs_then_the_rerun_polls_the_same_batch(batch_server, write_params, tmp_path):
    srv = batch_server(steps=3)
    srv.hold()
    params = write_params(batch_params(srv.url))
    data_root = tmp_path / "data"
    run = RunFiles(data_root, RUN_ID)
    proc = start_luigi("CallTeacher", data_root, params)
    wait_for(lambda: run.batch_records() and sum(srv.polls.values()) >= 3, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert len(srv.created) == 1 and not run.manifest(stages.TEACHER).exists()
    srv.release()
    again = run_luigi("CallTeacher", RUN_ID, data_root, params, env=WITH_KEY)
    assert again.returncode == 0, again.output[-3000:]
    assert len(srv.created) == 1 and srv.uploads == 1, "no second batch for the same requests"
    rows = assert_every_query_answered_once(srv, run)
    assert not any(r["cache_hit"] for r in rows), "the killed attempt's batch was paid by this run"


def test_killed_between_creating_the_batch_and_recording_it_the_rerun_finds_it(batch_server, write_params, tmp_path):
    srv = batch_server()
    params = write_params(batch_params(srv.url))
    data_root = tmp_path / "data"
    run = RunFiles(data_root, RUN_ID)
    proc = start_luigi(
        "CallTeacher",
        data_root,
        params,
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(KILLPOINT_DIR), os.environ.get("PYTHONPATH")])),
            "FITSENSE_KILL_AT": f"rename:{files.TEACHER_CACHE}/{registry.DIRECTORY}/*/{registry.BATCH}",
        },
    )
    output = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == -signal.SIGKILL and "killpoint:" in output, output[-2000:]
    assert len(srv.created) == 1 and run.batch_records(registry.INTENT) and not run.batch_records()
    again = run_luigi("CallTeacher", RUN_ID, data_root, params, env=WITH_KEY)
    assert again.returncode == 0, again.output[-3000:]
    assert len(srv.created) == 1, "the batch the killed run created was found by its submission id"
    assert "has batch batch_0001 (its run was killed): resuming it" in again.output
    assert_every_query_answered_once(srv, run)


@pytest.mark.parametrize(
    "point",
    [
        f"commit:{files.TEACHER_CACHE}/{entry_store.DATABASE}",
        f"rename:{files.TEACHER_CACHE}/{registry.DIRECTORY}/*/{registry.COLLECTED}",
    ],
    ids=["at the first answer into the cache", "before the batch is marked collected"],
)
def test_killed_while_collecting_a_batch_the_rerun_collects_it_without_a_new_batch(
    batch_server, write_params, tmp_path, point
):
    srv = batch_server()
    params = write_params(batch_params(srv.url))
    data_root = tmp_path / "data"
    run = RunFiles(data_root, RUN_ID)
    killpoint = os.pathsep.join(filter(None, [str(KILLPOINT_DIR), os.environ.get("PYTHONPATH")]))
    proc = start_luigi("CallTeacher", data_root, params, {"PYTHONPATH": killpoint, "FITSENSE_KILL_AT": point})
    output = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == -signal.SIGKILL and "killpoint:" in output, output[-2000:]
    assert len(srv.created) == 1 and run.batch_records() and not run.batch_records(registry.COLLECTED)
    again = run_luigi("CallTeacher", RUN_ID, data_root, params, env=WITH_KEY)
    assert again.returncode == 0, again.output[-3000:]
    assert len(srv.created) == 1 and srv.uploads == 1, "the finished batch is collected, not asked again"
    assert_every_query_answered_once(srv, run)
    assert len(run.batch_records(registry.COLLECTED)) == 1


def test_a_run_that_leaves_while_batches_run_exits_20_and_the_next_run_finishes(batch_server, write_params, tmp_path):
    srv = batch_server()
    srv.hold()
    params = write_params(batch_params(srv.url, batch={"wait_s": 0}))
    data_root = tmp_path / "data"
    run = RunFiles(data_root, RUN_ID)
    plain = run_luigi("CallTeacher", RUN_ID, data_root, params, env=WITH_KEY)
    assert plain.returncode == 30, plain.output[-3000:]  # the luigi command: a task failed
    waiting = [line for line in plain.output.splitlines() if "TeacherBatchesPending" in line]
    assert waiting and "batch_0001 validating 0/48" in waiting[-1] and "Traceback" not in plain.output
    cron = launcher("CallTeacher", RUN_ID, data_root, params)
    assert cron.returncode == 20, (cron.stdout + cron.stderr)[-3000:]  # python -m fitsense_luigi: missing data
    srv.release()
    patient = write_params(batch_params(srv.url), name="patient.yaml")  # wait_s is operational: same run
    done = launcher("CallTeacher", RUN_ID, data_root, patient)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert len(srv.created) == 1 and srv.uploads == 1
    assert_every_query_answered_once(srv, run)


def test_exported_requests_round_trip_through_an_imported_results_file(server, write_params, tmp_path):
    """Offline: export, `vllm run-batch`, import (twice, for the re-asks), then the stage builds the rows; they
    are the rows an online run gets from the same answers."""

    def script(call):
        last = call.body["messages"][-1]
        first_ask = last["role"] == "user" and last["content"] == call.user_message
        if first_ask and zlib.crc32(call.user_message.encode()) % 4 == 0:
            return Reply(content="Three days a week, rest in between.")  # no JSON: re-asked
        return Reply()

    params = write_params(batch_params(None))
    data_root = tmp_path / "data"
    run = RunFiles(data_root, RUN_ID)
    env = luigi_env(data_root, params, WITH_KEY)
    queries = run_luigi("GenerateQueries", RUN_ID, data_root, params)
    assert queries.returncode == 0, queries.output[-2000:]

    def batch_files(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "fitsense_luigi.pipeline.batch_files", *args]
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)

    rounds = []
    for round_ in range(1, 4):
        requests, results = tmp_path / f"requests-{round_}.jsonl", tmp_path / f"results-{round_}.jsonl"
        exported = batch_files("export", "--run-id", RUN_ID, str(requests))
        assert exported.returncode == 0, exported.stderr
        lines = len(requests.read_text().splitlines())
        rounds.append(lines)
        if not lines:
            break
        run_batch(requests, results, script)
        imported = batch_files("import", "--run-id", RUN_ID, str(results))
        assert imported.returncode == 0 and f"imported {lines} answers" in imported.stdout, imported.stderr
    reasked = rounds[1]
    assert rounds == [SMALL_QUERIES, reasked, 0] and reasked > 0, "first asks, then the re-asks, then nothing"
    again = batch_files("import", "--run-id", RUN_ID, str(tmp_path / "results-1.jsonl"))
    assert again.returncode == 0 and f"{SMALL_QUERIES} answered already" in again.stdout
    built = run_luigi("CallTeacher", RUN_ID, data_root, params)
    assert built.returncode == 0, built.output[-3000:]
    rows = run.rows(files.RESPONSES)
    assert {r["status"] for r in rows} == {"ok"} and sum(r["post_validation"]["reasks"] for r in rows) == reasked

    online_root = tmp_path / "online"
    online_params = write_params(teacher_params(server(script).url, FAST_TEACHER), name="online.yaml")
    online = run_luigi("CallTeacher", RUN_ID, online_root, online_params, env=WITH_KEY)
    assert online.returncode == 0, online.output[-3000:]
    strip = lambda r: {k: v for k, v in r.items() if k not in ("provider", "latency_ms", "attempt_count")}  # noqa: E731
    assert [strip(r) for r in rows] == [strip(r) for r in RunFiles(online_root, RUN_ID).rows(files.RESPONSES)]


def test_a_results_file_with_bad_lines_imports_nothing_and_says_where(write_params, tmp_path):
    params = write_params(batch_params(None))
    data_root = tmp_path / "data"
    env = luigi_env(data_root, params)
    assert run_luigi("GenerateQueries", RUN_ID, data_root, params).returncode == 0
    requests, results = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    command = [sys.executable, "-m", "fitsense_luigi.pipeline.batch_files"]
    subprocess.run([*command, "export", "--run-id", RUN_ID, str(requests)], cwd=REPO, env=env, check=True)
    run_batch(requests, results)
    lines = results.read_text().splitlines()
    lines[3] = lines[3].replace('"custom_id": "', '"custom_id": "x', 1)
    results.write_text("\n".join([*lines, "{not json"]) + "\n")
    failed = subprocess.run(
        [*command, "import", "--run-id", RUN_ID, str(results)], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1, failed.stderr
    assert failed.stderr.startswith("MalformedInputError: 2 lines cannot be imported, nothing was:")
    assert f"{results}:4: custom_id 'x" in failed.stderr and f"{results}:{len(lines) + 1}: not JSON" in failed.stderr
    assert RunFiles(data_root, RUN_ID).cache_entries() == []
