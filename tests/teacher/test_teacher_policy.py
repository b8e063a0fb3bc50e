"""Retry, wait and stop rules, pacing budgets and the circuit breaker, without a network."""

from __future__ import annotations

import datetime as dt

import pytest

from fitsense_luigi.teacher import http_policy
from fitsense_luigi.teacher.pacing import CircuitBreaker, Pacer
from fitsense_luigi.teacher.types import TeacherOutcome


class FakeTime:
    """A clock and a stop event in one: waiting advances the clock instead of sleeping."""

    def __init__(self) -> None:
        self.now = 0.0
        self.stopped = False

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float | None = None) -> bool:
        self.now += seconds or 0.0
        return self.stopped

    def is_set(self) -> bool:
        return self.stopped


def paced(rpm=None, tpm=None) -> tuple[Pacer, FakeTime]:
    fake = FakeTime()
    return Pacer(rpm, tpm, stop=fake, clock=fake), fake  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Wed, 21 Oct 2026 07:28:30 GMT"}, 30.0),
        ({"retry-after": "Wed, 21 Oct 2026 07:27:00 GMT"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers, seconds):
    now = dt.datetime(2026, 10, 21, 7, 28, 0, tzinfo=dt.UTC)
    assert http_policy.retry_after_s(headers, now=now) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("12ms", 0.012), ("1.5s", 1.5), ("6m0s", 360.0), ("1h2m3s", 3723.0), ("20", 20.0), ("later", None), ("", None)],
)
def test_rate_limit_durations(text, seconds):
    assert http_policy.parse_duration_s(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_exhausted_budget_headers():
    headers = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "2s",
        "x-ratelimit-remaining-tokens": "1200",
        "x-ratelimit-reset-tokens": "40s",
    }
    assert http_policy.exhausted_budget_reset_s(headers) == 2.0
    assert http_policy.exhausted_budget_reset_s({**headers, "x-ratelimit-remaining-requests": "3"}) is None


@pytest.mark.parametrize(
    ("code", "text", "retry"),
    [
        (408, "", True),
        (409, "", True),
        (429, '{"error":{"type":"rate_limit_exceeded"}}', True),
        (429, '{"error":{"type":"insufficient_quota"}}', False),
        (500, "", True),
        (503, "", True),
        (400, "", False),
        (401, "", False),
        (403, "", False),
        (404, "", False),
        (422, "", False),
    ],
)
def test_which_statuses_are_retried(code, text, retry):
    assert http_policy.should_retry(code, text) is retry


@pytest.mark.parametrize(
    ("code", "error", "fatal"),
    [
        (401, "HTTP 401: bad key", True),
        (403, "", True),
        (404, "", True),
        (429, "insufficient_quota", True),
        (429, "rate limited", False),
        (500, "", False),
        (400, "", False),
    ],
)
def test_which_answers_stop_the_stage(code, error, fatal):
    outcome = TeacherOutcome("http_error", None, None, None, error, http_status=code)
    assert http_policy.is_fatal(outcome) is fatal


def test_error_detail_is_one_short_line():
    assert http_policy.error_detail('{"error": {"message": "Rate limit", "code": "rate_limit"}}') == (
        "rate_limit: Rate limit"
    )
    assert http_policy.error_detail("<html>\n<b>Bad gateway</b>\n</html>") == "<html> <b>Bad gateway</b> </html>"
    assert len(http_policy.error_detail("x" * 1000)) == 203


def test_usage_is_parsed_loosely():
    assert http_policy.parse_usage({"prompt_tokens": 3.0, "completion_tokens": 4, "cached": {"x": 1}}) == {
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
    }
    assert http_policy.parse_usage(None) == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def test_requests_per_minute_allows_a_one_second_burst_then_spreads():
    pacer, fake = paced(rpm=120)  # 2 per second
    starts = []
    for _ in range(6):
        assert pacer.acquire()
        starts.append(fake.now)
    assert starts[:2] == [0.0, 0.0]
    assert starts[-1] == pytest.approx(2.0, abs=0.02)


def test_tokens_per_minute_reserves_then_refunds_what_was_not_used():
    pacer, fake = paced(tpm=6000)  # 100 tokens per second, bursts of 100
    assert pacer.acquire(300)  # reserves 300: 200 in debt
    pacer.settle(300, 50)  # used only 50: 250 come back
    assert pacer.acquire(10)
    assert fake.now == 0.0
    assert pacer.acquire(100)  # level 40: waits 0.6 s for 100, then 0
    assert fake.now == pytest.approx(0.6, abs=0.01)
    assert pacer.acquire(1)
    assert fake.now == pytest.approx(0.61, abs=0.01)


def test_server_pause_holds_every_request():
    pacer, fake = paced()
    pacer.hold(3.0)
    assert pacer.acquire()
    assert fake.now == pytest.approx(3.0)
    assert pacer.paused_s == pytest.approx(3.0)


def test_acquire_gives_up_when_the_stage_stops():
    pacer, fake = paced(rpm=1)
    assert pacer.acquire()
    fake.stopped = True
    assert not pacer.acquire()


def test_breaker_trips_only_with_enough_recent_failures():
    breaker = CircuitBreaker(window=10, min_calls=4, failure_ratio=0.5)
    assert breaker.record("HTTP 500: x") is None
    assert breaker.record("HTTP 500: x") is None
    assert breaker.record(None) is None
    reason = breaker.record("timeout: no read within 1 s")
    assert reason == "3 of the last 4 requests failed after their retries (most often: HTTP 500: x)"


def test_breaker_forgets_failures_outside_its_window():
    breaker = CircuitBreaker(window=4, min_calls=4, failure_ratio=0.75)
    for error in ("e", "e", None, None, None, None, "e", "e"):
        assert breaker.record(error) is None
