"""The teacher stage over helper processes (``teacher.processes``), against a real scripted server on 127.0.0.1.

What must hold whatever the process count: the same response rows as one process gives, every request paid
once (the server's own count), the host-wide limits whole, and a helper that dies named in one line, with what
it received kept for the rerun.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from fitsense_luigi.errors import TeacherStageError
from fitsense_luigi.pipeline.roots import LocalRoot
from fitsense_luigi.teacher import fanout, stage
from tests.support.layout import cache_entries
from tests.support.teacher import Reply, scripted_queries, scripted_query

TIMING = ("latency_ms",)


@pytest.fixture(autouse=True)
def no_helpers_left():
    """Each test starts and ends without helper processes (they are kept per process between stage calls)."""
    fanout.close_helpers()
    yield
    fanout.close_helpers()  # how long an answer took differs between runs, nothing else may


def comparable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def mixed(call) -> Reply:
    """Clean answers, prose that is re-asked once, and a refusal: the paths a row can take."""
    if call.case == "prose" and len(call.body["messages"]) == 2:  # the first ask, not its re-ask
        return Reply(content="Three days a week, rest in between.")
    if call.case == "refuse":
        return Reply(content=None, message={"refusal": "I can't help with that."})
    return Reply()


def queries(n: int) -> list[dict]:
    cases = ["", "prose", "", "refuse", ""]
    return [scripted_query(i, cases[i % len(cases)]) for i in range(n)]


def test_two_processes_give_the_rows_of_one_and_pay_each_request_once(server, teacher_config, tmp_path: Path):
    one_srv, two_srv = server(mixed), server(mixed)
    asked = queries(40)
    one = stage.answer(teacher_config(one_srv.url, concurrency=8, processes=1), asked, LocalRoot(tmp_path / "c1"))
    config = teacher_config(two_srv.url, concurrency=8, processes=2)
    two = stage.answer(config, asked, LocalRoot(tmp_path / "c2"))

    assert [h.alive() for h in fanout._helpers] == [True], "the call ran a helper process, kept for the next call"
    helper = fanout._helpers[0].process.pid
    assert comparable(two) == comparable(one)
    assert {r["status"] for r in two} == {"ok", "refused"}
    assert sum(r["post_validation"]["reasks"] for r in two) == 8  # the 8 prose answers, each asked again once
    assert set(two_srv.answered().values()) == {1} and two_srv.answered() == one_srv.answered()
    entries = [len(cache_entries(tmp_path / c)) for c in ("c1", "c2")]  # keys name the server's port
    assert entries == [48, 48], "every answer cached, re-asks under their own keys"

    again = stage.answer(config, asked, LocalRoot(tmp_path / "c2"))  # every answer cached (paid by "another run")
    assert [h.process.pid for h in fanout._helpers] == [helper], "the helper was kept"
    assert comparable(again) == comparable([{**r, "cache_hit": True} for r in one])
    assert two_srv.total_answered() == len(two_srv.answered()), "nothing was sent again"


def test_the_helpers_share_the_host_limit_of_requests_in_flight(server, teacher_config, tmp_path: Path):
    srv = server(latency_s=0.2)
    config = teacher_config(srv.url, concurrency=6, processes=3)
    rows = stage.answer(config, scripted_queries(36), LocalRoot(tmp_path / "cache"))
    assert {r["status"] for r in rows} == {"ok"}
    assert len(fanout._helpers) == 2
    arrivals = sorted(at for times in srv.arrivals_by_body().values() for at in times)
    # at most 6 in flight over three processes: 36 answers of 0.2 s each need 6 rounds, so the last request
    # cannot arrive before 5 latencies after the first (with 12 in flight it would arrive after 2)
    assert arrivals[-1] - arrivals[0] >= 5 * 0.2 - 0.02, arrivals[-1] - arrivals[0]


def test_the_pacing_budget_is_split_between_the_processes(teacher_config):
    config = teacher_config("http://127.0.0.1:9/v1", requests_per_minute=600, tokens_per_minute=60000)
    alone = stage.StageRun(config, LocalRoot(Path("/nonexistent")), None)
    shared = stage.StageRun(config, LocalRoot(Path("/nonexistent")), None, processes=3)
    try:
        assert alone.pacer._requests.rate == pytest.approx(10.0)  # per second
        assert shared.pacer._requests.rate == pytest.approx(10.0 / 3)
        assert shared.pacer._tokens.rate == pytest.approx(1000.0 / 3)
    finally:
        alone.close()
        shared.close()


def test_a_helper_killed_mid_call_stops_the_stage_in_one_line_and_the_rerun_pays_only_the_rest(
    server, teacher_config, tmp_path: Path
):
    srv = server(latency_s=0.3)
    config = teacher_config(srv.url, concurrency=8, processes=2)
    asked = scripted_queries(48)
    stage.answer(config, asked[:1], LocalRoot(tmp_path / "cache"))  # the helper is up before the call
    (helper,) = fanout._helpers
    outcome: list[BaseException | list] = []

    def call() -> None:
        try:
            outcome.append(stage.answer(config, asked, LocalRoot(tmp_path / "cache")))
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 30
    while srv.total_answered() < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(helper.process.pid, signal.SIGKILL)
    caller.join(60)
    (error,) = outcome
    assert isinstance(error, TeacherStageError), error
    assert f"helper process {helper.process.pid} ended (exit -9)" in str(error) and "\n" not in str(error)
    assert not error.permanent, "Luigi retries it"

    paid = srv.answered()
    rows = stage.answer(config, asked, LocalRoot(tmp_path / "cache"))  # a new helper is started
    assert [r["query_id"] for r in rows] == [q["query_id"] for q in asked]
    assert {r["status"] for r in rows} == {"ok"}
    twice = {body for body, n in srv.answered().items() if n > 1}
    assert twice <= set(paid), "only answers the killed helper received but had not cached can be paid twice"
    assert len(twice) <= 4, twice  # at most the helper's requests in flight (its 4 threads)


def test_helpers_are_used_only_when_they_pay_off(teacher_config):
    def count(concurrency: int, processes: object, cores: int = 2) -> int:
        config = teacher_config("http://127.0.0.1:9/v1", concurrency=concurrency, processes=processes)
        return fanout.process_count(config, cores)

    assert count(8, "auto") == 1 and count(32, "auto") == 1  # one process keeps 0.96 of C / L at 32
    assert count(256, "auto") == 2 and count(256, "auto", cores=1) == 1 and count(512, "auto", cores=16) == 8
    assert count(4, 8) == 4, "never more processes than requests in flight"
    assert fanout.shares(256, 2) == [128, 128] and fanout.shares(7, 3) == [3, 2, 2]


def test_a_claim_held_by_another_run_is_waited_for_off_the_event_loop(server, teacher_config, tmp_path: Path):
    """Another run asking the same request holds its claim: that query waits for it on a thread, while the
    event loop's other requests go on; then the answer is sent once (here the other run left without one)."""
    srv = server(latency_s=0.05)
    config = teacher_config(srv.url, concurrency=8, processes=1)  # an event loop: no proxy, no pacing
    asked = scripted_queries(24)
    other = stage.StageRun(config, LocalRoot(tmp_path / "cache"), "other-run")
    release = other.store.claim_now(other.key(other.request(asked[0]), asked[0]))
    outcome: list = []
    caller = threading.Thread(target=lambda: outcome.append(stage.answer(config, asked, LocalRoot(tmp_path / "cache"))))
    caller.start()
    deadline = time.monotonic() + 30
    while srv.total_answered() < 23 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.total_answered() == 23 and caller.is_alive(), "the others answered while one query waits"
    release()
    caller.join(30)
    other.close()
    (rows,) = outcome
    assert [r["query_id"] for r in rows] == [q["query_id"] for q in asked]
    assert set(srv.answered().values()) == {1} and srv.total_answered() == 24


def test_a_request_cut_while_it_waits_for_a_claim_gives_the_claim_back(server, teacher_config, tmp_path: Path):
    """SIGTERM's cut reaches a coroutine waiting (on a thread) for a claim another run holds: when that run lets
    go, the thread gets the claim for nobody, and must give it back, or the key stays claimed in this process
    and the next request for it waits for ever."""
    from fitsense_luigi.teacher.workers import AsyncWorkers

    srv = server()
    config = teacher_config(srv.url, concurrency=4, processes=1)
    query = scripted_query(0)
    other = stage.StageRun(config, LocalRoot(tmp_path / "cache"), "other-run")
    key = other.key(other.request(query), query)
    release = other.store.claim_now(key)
    run = stage.StageRun(config, LocalRoot(tmp_path / "cache"), "run")
    finished: list = []
    workers = AsyncWorkers(run, 4, lambda results: finished.extend(result for _, result in results))
    workers.submit_many([(0, query, stage.MISS)])
    time.sleep(0.3)  # the coroutine is waiting for the claim
    workers.cut_in_flight()
    workers.shutdown(cancel=True)
    assert [type(r).__name__ for r in finished] == ["_Stopped"] and srv.total_answered() == 0
    release()  # the other run lets go: the waiting thread gets the claim, for nobody

    third = stage.StageRun(config, LocalRoot(tmp_path / "cache"), "third-run")
    deadline = time.monotonic() + 10
    got = third.store.try_claim(key)
    while got is None and time.monotonic() < deadline:
        time.sleep(0.05)
        got = third.store.try_claim(key)
    assert got is not None, "the claim was given back"
    got()
    for st in (other, run, third):
        st.close()


@pytest.mark.parametrize("transport", ["auto", "threads"])
def test_a_worker_with_nothing_left_gives_its_host_slot_back(server, teacher_config, tmp_path: Path, transport):
    """Two runs on one host share teacher.concurrency slots. A call kept every slot it took until it ended, so
    two calls that each held one of 2 slots, each with a worker waiting for a slot with a query in hand, waited
    for each other for ever (the two-runs test hung one time in five). A worker whose queue has run dry gives
    its slot back at once."""
    from fitsense_luigi.teacher.slots import HostSlots
    from fitsense_luigi.teacher.workers import workers_for

    srv = server(latency_s=0.05)
    config = teacher_config(srv.url, concurrency=2, processes=1, transport=transport)
    run = stage.StageRun(config, LocalRoot(tmp_path / "cache"), "run")
    finished = threading.Event()
    workers = workers_for(run, 2, lambda results: finished.set())
    assert type(workers).__name__ == ("AsyncWorkers" if transport == "auto" else "ThreadWorkers")
    workers.submit_many([(0, scripted_query(0), stage.MISS)])
    assert finished.wait(30) and srv.total_answered() == 1
    other = HostSlots(f"{config.teacher.base_url}|{config.teacher.model}", 2, threading.Event())
    try:
        other.take()
        other.take()
        assert other.held() == 2, "the call, still open, kept a slot with nothing to send"
    finally:
        other.release_all()
        workers.shutdown()
        run.close()


def test_queued_queries_are_made_ready_while_the_requests_before_them_wait_for_their_answers(
    server, teacher_config, tmp_path: Path
):
    """The event loop starts each queued query's steps (its request body and cache key: 0.05 ms of JSON and
    hashing each) while it waits for answers, so a coroutine whose answer is stored sends its next request at
    once. By the server's own clock: every query's steps were started before the first answer left it, and
    each query's once."""
    from fitsense_luigi.teacher.workers import AsyncWorkers

    srv = server(latency_s=0.5)
    config = teacher_config(srv.url, concurrency=2, processes=1)
    run = stage.StageRun(config, LocalRoot(tmp_path / "cache"), "run")
    started: list[tuple[float, str]] = []
    resolve_steps = run.resolve_steps

    def recorded(query: dict, first=None):
        started.append((time.monotonic(), query["query_id"]))
        return resolve_steps(query, first)

    run.resolve_steps = recorded  # type: ignore[method-assign]
    asked = scripted_queries(6)
    finished: list = []
    all_in = threading.Event()

    def finish(results: list) -> None:
        finished.extend(results)
        if len(finished) == len(asked):
            all_in.set()

    workers = AsyncWorkers(run, 2, finish)
    try:
        workers.submit_many([(i, q, stage.MISS) for i, q in enumerate(asked)])
        assert all_in.wait(60)
    finally:
        workers.shutdown()
        run.close()
    assert sorted(q for _, q in started) == sorted(q["query_id"] for q in asked), "each query's steps started once"
    first_answer = srv.delivered_since()[0][0]
    late = [q for at, q in started if at >= first_answer]
    assert not late, f"started only once an answer had left the server: {late}"
    assert sorted(index for index, _ in finished) == list(range(6))
    assert {row["status"] for _, row in finished} == {"ok"} and srv.total_answered() == 6
