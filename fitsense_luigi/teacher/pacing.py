"""One place that decides when the next request may leave, and when the stage must stop.

``Pacer`` holds the requests-per-minute and tokens-per-minute budgets and the
pauses a server imposes (Retry-After, exhausted rate-limit headers) for every
worker thread of a shard at once: a 429 seen by one worker holds back all of
them, instead of each discovering the limit on its own. ``CircuitBreaker``
watches the final outcome of recent requests and trips when most of them
failed, so an error storm stops the stage with a clear message instead of
spinning through thousands of doomed requests.

Every wait is a ``stop.wait(...)``, so a tripped breaker wakes all sleepers at
once. Timing here uses the monotonic clock only; nothing reaches a data file.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

# Bursts allowed by each budget: about one second's worth, so a per-minute
# budget is spread evenly over the minute (servers often enforce shorter windows).
BURST_S = 1.0
_POLL_S = 0.25


class _Bucket:
    """Token bucket; a request larger than the burst passes once the bucket is full and leaves it in debt."""

    def __init__(self, per_minute: float, now: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(self.rate * BURST_S, 1.0)
        self.level = self.capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_s(self, cost: float) -> float:
        missing = min(cost, self.capacity) - self.level
        return 0.0 if missing <= 0 else missing / self.rate


class Pacer:
    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        now = clock()
        self._requests = _Bucket(requests_per_minute, now) if requests_per_minute else None
        self._tokens = _Bucket(tokens_per_minute, now) if tokens_per_minute else None
        self._hold_until = 0.0
        self._lock = threading.Lock()
        self.stop = stop or threading.Event()
        self.paused_s = 0.0  # total time the server made us hold, for the summary log

    def _costs(self, tokens: int) -> list[tuple[_Bucket, float]]:
        pairs = ((self._requests, 1.0), (self._tokens, float(tokens)))
        return [(bucket, cost) for bucket, cost in pairs if bucket is not None]

    def acquire(self, tokens: int = 0) -> bool:
        """Block until a request costing ``tokens`` may go; False if the stage is stopping."""
        while True:
            with self._lock:
                now = self._clock()
                wait = max(self._hold_until - now, 0.0)
                for bucket, cost in self._costs(tokens):
                    bucket.refill(now)
                    wait = max(wait, bucket.wait_s(cost))
                if wait <= 0:
                    if self._requests:
                        self._requests.level -= 1
                    if self._tokens:
                        self._tokens.level -= tokens
                    return not self.stop.is_set()
            if self.stop.wait(min(wait, _POLL_S)):
                return False

    def settle(self, reserved: int, used: int | None) -> None:
        """Give back what a request reserved but did not use (or charge what it used beyond)."""
        if self._tokens is None or used is None:
            return
        with self._lock:
            self._tokens.level = min(self._tokens.capacity, self._tokens.level + reserved - used)

    def hold(self, seconds: float) -> None:
        """No request leaves for ``seconds`` (the server asked us to wait)."""
        if seconds <= 0:
            return
        with self._lock:
            until = self._clock() + seconds
            if until > self._hold_until:
                self.paused_s += until - max(self._hold_until, self._clock())
                self._hold_until = until

    def limits_rate(self) -> bool:
        """Whether requests or tokens per minute are paced (``acquire`` may wait)."""
        return self._requests is not None or self._tokens is not None

    def held_s(self) -> float:
        """How long no request may leave yet (what the server asked for, :meth:`hold`)."""
        with self._lock:
            return max(self._hold_until - self._clock(), 0.0)

    def sleep(self, seconds: float) -> bool:
        """Sleep unless the stage stops first; True if it is stopping."""
        return self.stop.wait(seconds) if seconds > 0 else self.stop.is_set()


class CircuitBreaker:
    """Trips when, among the last ``window`` requests (at least ``min_calls``), ``failure_ratio`` or more failed."""

    def __init__(self, window: int, min_calls: int, failure_ratio: float) -> None:
        self.window = window
        self.min_calls = min_calls
        self.failure_ratio = failure_ratio
        self._recent: collections.deque[str | None] = collections.deque(maxlen=window)
        self._lock = threading.Lock()
        self.reason: str | None = None
        self.commonest: str | None = None  # the commonest failure when it tripped

    def record(self, error: str | None) -> str | None:
        """Record one finished request (``error`` None = success); returns the trip reason once tripped."""
        with self._lock:
            self._recent.append(error)
            if self.reason is None and len(self._recent) >= self.min_calls:
                failures = [e for e in self._recent if e is not None]
                if len(failures) >= self.failure_ratio * len(self._recent):
                    common, _ = collections.Counter(failures).most_common(1)[0]
                    self.commonest = common
                    self.reason = (
                        f"{len(failures)} of the last {len(self._recent)} requests failed after their retries "
                        f"(most often: {common})"
                    )
            return self.reason
