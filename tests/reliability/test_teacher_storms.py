"""Teacher storms through the `luigi` command: a loopback teacher failing about 30 % of requests, then all of them.

Storm: 429 with Retry-After, 500/502/503 and time-outs for 3 in 10 first
attempts and 1 in 4 second attempts. The run completes with the data a healthy
teacher gives (only attempt counts and latencies differ), and every Retry-After
is honoured, by the retried request and by every other worker.

Outage: after ten good answers every request fails; the circuit breaker stops
the stage with one clear line and exit code 30; a rerun against the recovered
teacher completes without re-sending what had been answered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.fault_harness import RunUnderTest, loopback_params
from tests.reliability.run_checks import temporaries
from tests.support.hashing import differences
from tests.support.params import SMALL_QUERIES
from tests.support.teacher import (
    FAILURES,
    RETRY_AFTER_S,
    STORM_READ_S,
    TEST_KEY,
    Servers,
    TeacherServer,
    Weather,
    assert_no_secret,
)

# one shard, so that one process (one pacer) sends every request: the pause a 429 imposes is visible as a gap
STORM_TEACHER = {
    "shards": 1,
    "timeouts": {"connect_s": 5.0, "read_s": STORM_READ_S, "total_s": 30.0},
    "retries": {"max_attempts": 4, "initial_wait_s": 0.01, "max_wait_s": 0.05, "retry_after_cap_s": 5.0},
}


@pytest.fixture
def weather() -> Weather:
    return Weather()


@pytest.fixture
def teacher(server: Servers, weather: Weather) -> TeacherServer:
    return server(weather)


def test_a_storm_of_failures_still_gives_the_healthy_result_and_honours_retry_after(
    teacher: TeacherServer, weather: Weather, write_params, tmp_path: Path
) -> None:
    params = loopback_params(write_params, teacher.url, **STORM_TEACHER)
    healthy = RunUnderTest(tmp_path / "healthy", params, teacher, task="BuildDistillationDataset")
    assert healthy.attempt().returncode == 0, healthy.outputs[-1][-3000:]

    weather.mode = "storm"
    mark = len(teacher.received)
    stormy = RunUnderTest(tmp_path / "stormy", params, teacher, task="BuildDistillationDataset")
    result = stormy.attempt()
    assert result.returncode == 0, result.output[-3000:]

    sent = teacher.arrivals_by_body(mark)
    failed = sum(len(f) for f in weather.failures.values())
    total = sum(len(times) for times in sent.values())
    assert 0.2 <= failed / total <= 0.4, (failed, total)  # "about 30 %"
    assert {kind for f in weather.failures.values() for _, kind in f} == set(FAILURES)
    # the same data as with a healthy teacher: only the measurements of each call differ
    assert differences(stormy.data_root, healthy.data_root, ("latency_ms", "attempt_count")) == []
    retried = [r for r in stormy.attempts[0].output.splitlines() if "still failed" in r]
    assert retried == [], "every request succeeded in the end"

    # Retry-After: the rate-limited request waited at least that long, and no other request left meanwhile
    limited = 0
    all_arrivals = sorted(t for times in sent.values() for t in times)
    for digest, failures in weather.failures.items():
        for attempt, kind in failures:
            if kind != "429":
                continue
            limited += 1
            answered_at, retried_at = sent[digest][attempt - 1], sent[digest][attempt]
            assert retried_at - answered_at >= RETRY_AFTER_S, (digest, retried_at - answered_at)
            during = [t for t in all_arrivals if answered_at + 0.05 < t < answered_at + RETRY_AFTER_S - 0.05]
            assert during == [], f"{len(during)} requests left while the teacher asked to wait"
    assert limited >= 2
    assert_no_secret([stormy.data_root, healthy.data_root], stormy.outputs + healthy.outputs)
    assert teacher.authorization == {f"Bearer {TEST_KEY}"}


def test_an_outage_trips_the_breaker_in_one_line_and_the_rerun_sends_only_what_was_missing(
    teacher: TeacherServer, weather: Weather, write_params, tmp_path: Path
) -> None:
    params = loopback_params(write_params, teacher.url, **STORM_TEACHER)
    run = RunUnderTest(tmp_path / "data", params, teacher, task="CallTeacher")
    weather.mode = "down"
    down = run.attempt()
    assert down.returncode == 30, down.output[-3000:]  # [retcode] task_failed
    errors = [line for line in down.output.splitlines() if "TeacherStageError" in line]
    assert len(errors) == 1, errors
    assert "circuit breaker stopped the stage" in errors[0] and "HTTP 50" in errors[0]
    assert "10 answers received so far are cached" in errors[0]
    assert "Traceback" not in down.output
    answered_before = set(run.delivered())
    assert len(answered_before) == 10

    weather.mode = "healthy"
    mark = len(teacher.received)
    again = run.attempt()
    assert again.returncode == 0, again.output[-3000:]
    resent = set(teacher.arrivals_by_body(mark))
    assert resent.isdisjoint(answered_before), "an answer the run had received was asked for again"
    assert len(resent) == SMALL_QUERIES - 10
    assert set(run.delivered().values()) == {1} and len(run.delivered()) == SMALL_QUERIES
    assert temporaries(run.data_root) == []
    assert_no_secret([run.data_root], run.outputs)
