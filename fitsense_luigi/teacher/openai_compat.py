"""Client for any OpenAI-compatible chat-completions endpoint (vLLM, Ollama, llama.cpp, LiteLLM, OpenAI).

One request -> one outcome, after as many attempts as the policy allows:
retries what can succeed later (408, 409, 429, 5xx, time-outs, connection
errors) with exponential backoff and full jitter (``backoff.expo`` +
``backoff.full_jitter``), never 400/401/403/404/422 or ``insufficient_quota``,
and waits at least what ``Retry-After`` asks (capped). The loop is ours rather
than ``@backoff.on_exception`` so that every wait goes through the shared
:class:`~fitsense_luigi.teacher.pacing.Pacer`: a 429 pauses all workers, and a
tripped circuit breaker wakes every sleeper at once.

Each worker thread keeps its own keep-alive connection (a urllib3 pool of
one, never shared between threads). urllib3 rather than ``requests``: at 256
requests in flight on two cores the client's own CPU is the limit, and a
request through ``requests`` costs about 1.1 ms of CPU against 0.35 ms through
urllib3 directly (``bench/bench_teacher.py --client-overhead``), with the same
proxy, CA-bundle and time-out handling set up here. The API key is sent
only in the Authorization header and redacted from anything the server sends
back, after decoding (see :mod:`fitsense_luigi.teacher.credentials`).

Every request has a deadline for connect plus the whole answer
(``teacher.timeouts.total_s``, :mod:`.deadline`) besides the per-read time-out,
and a size cap (``teacher.max_response_mb``): a server that drips one byte a
second, or sends without end, costs one bounded, retried time-out. Bodies are
read, decoded and judged by :mod:`.response_body`.
"""

from __future__ import annotations

import logging
import threading
import time

import backoff
import urllib3
from urllib3.util import parse_url

from fitsense_luigi.teacher import http_policy, response_body
from fitsense_luigi.teacher.connection import route
from fitsense_luigi.teacher.credentials import ApiKey
from fitsense_luigi.teacher.deadline import WATCHER, watched
from fitsense_luigi.teacher.pacing import Pacer
from fitsense_luigi.teacher.types import TeacherOutcome, TeacherRequest

log = logging.getLogger("fitsense.teacher.http")

# Rough prompt-token estimate for tokens-per-minute pacing (English text, BPE tokenisers).
CHARS_PER_TOKEN = 4


class OpenAICompatible:
    name = "openai_compatible"
    cacheable = True
    remote = True  # requests leave the host: they count against teacher.concurrency on it
    endpoint = True

    def __init__(
        self,
        base_url: str,
        api_key_env: str,
        *,
        connect_s: float,
        read_s: float,
        max_attempts: int,
        total_s: float | None = None,
        max_response_bytes: int = 8 << 20,
        initial_wait_s: float = 0.5,
        max_wait_s: float = 8.0,
        retry_after_cap_s: float = 60.0,
        pacer: Pacer | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.key = ApiKey(api_key_env)
        self.timeout = (connect_s, read_s)
        self.total_s = total_s if total_s is not None else connect_s + read_s
        self.max_response_bytes = max_response_bytes
        self.max_attempts = max_attempts
        self.initial_wait_s = initial_wait_s
        self.max_wait_s = max_wait_s
        self.retry_after_cap_s = retry_after_cap_s
        self.pacer = pacer or Pacer()
        self._local = threading.local()
        self._pools: list[urllib3.PoolManager] = []
        self._pools_lock = threading.Lock()
        self._headers = {"Content-Type": "application/json", "Accept": "application/json", **self.key.headers()}
        self._route = route(self.url)  # proxy and CA bundle from the environment, read once
        self._target = parse_url(self.url).request_uri  # the request line's target on a direct connection
        self._timeout = urllib3.Timeout(connect=connect_s, read=read_s)
        if not self.key.present:
            log.warning("no API key in $%s: sending requests without an Authorization header", api_key_env)

    def __repr__(self) -> str:
        return f"OpenAICompatible(url={self.url!r}, key={self.key!r})"

    def route_is_direct(self) -> bool:
        """No proxy between here and the endpoint (the asyncio client, :mod:`.aio_client`, speaks only directly)."""
        return self._route.proxy is None

    # -- connections
    def _pool(self) -> urllib3.PoolManager:
        """This thread's keep-alive connection (through the proxy when one is configured)."""
        pool = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._route.pool()
            connections = pool.connection_from_url(self.url)  # the one host's pool: its sockets obey the deadline
            connections.ConnectionCls = watched(connections.ConnectionCls)
            # Without a proxy, requests go to the host's pool itself: the manager's per-request URL parsing and
            # pool look-up were a fifth of the client's CPU per request (``bench/bench_teacher_ceiling.py``).
            self._local.direct = None if self._route.proxy else connections
            self._local.pool = pool
            with self._pools_lock:
                self._pools.append(pool)
        return pool

    def _post(self, payload: bytes) -> urllib3.BaseHTTPResponse:
        options = {
            "body": payload,
            "headers": self._headers,
            "timeout": self._timeout,
            "retries": False,
            "redirect": False,
            "preload_content": False,
        }
        pool = self._pool()
        if self._local.direct is not None:
            return self._local.direct.urlopen("POST", self._target, assert_same_host=False, **options)
        return pool.request("POST", self.url, **options)

    def cut_in_flight(self) -> None:
        """End every request in flight now (the stage is stopping and will not wait for their answers)."""
        WATCHER.cut_all()

    def close(self) -> None:
        with self._pools_lock:
            for pool in self._pools:
                pool.clear()
            self._pools.clear()

    # -- one request, all attempts
    def complete(self, request: TeacherRequest) -> TeacherOutcome:
        payload = request.body_text.encode("utf-8")  # canonical (sorted keys): made once, for the key too
        reserve = request.prompt_chars() // CHARS_PER_TOKEN + request.max_tokens
        waits = backoff.expo(base=2, factor=self.initial_wait_s, max_value=self.max_wait_s)
        next(waits)  # prime the generator (backoff's own decorators do the same)
        outcome = TeacherOutcome("http_error", None, None, None, "not sent: the stage is stopping")
        attempt = 0
        while attempt < self.max_attempts:
            if not self.pacer.acquire(reserve):
                break
            attempt += 1
            outcome, retry, server_wait = self._attempt(payload)
            self.pacer.settle(reserve, outcome.usage.get("total_tokens") if outcome.usage else None)
            if not retry or attempt >= self.max_attempts:
                break
            wait = backoff.full_jitter(next(waits))  # draws from `random`: timing only, never data
            if server_wait is not None:
                wait = max(wait, min(server_wait, self.retry_after_cap_s))
            if outcome.http_status == 429:
                self.pacer.hold(wait)  # a rate limit concerns every worker, not just this one
            log.debug("attempt %d failed (%s); retrying in %.2f s", attempt, outcome.error, wait)
            if self.pacer.sleep(wait):
                break
        outcome.attempt_count = attempt
        return outcome

    def _attempt(self, payload: bytes) -> tuple[TeacherOutcome, bool, float | None]:
        """(outcome, retry?, seconds the server asked us to wait) for one HTTP round trip, within its deadline."""
        started = time.monotonic()
        with WATCHER.deadline(self.total_s) as deadline:
            try:
                response = self._post(payload)
                try:
                    data = response_body.read_capped(response, self.max_response_bytes)
                except BaseException:
                    response.close()  # read in part: this connection cannot carry the next request
                    raise
                finally:
                    response.release_conn()
            except response_body.TooLarge as exc:
                response.close()
                seen = f" (Content-Length {exc.seen})" if exc.seen is not None else ""
                error = f"response larger than {_mib(exc.limit)}{seen}: refused (teacher.max_response_mb)"
                return TeacherOutcome("http_error", None, None, None, error, http_status=response.status), False, None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if deadline.expired:
                    return self._past_deadline(), True, None
                return _transport_failure(exc, self.timeout)
            if deadline.expired:  # cut just as the last byte arrived: the answer is whole, keep it
                log.debug("deadline passed as the answer completed")
        latency_ms = int((time.monotonic() - started) * 1000)
        body = response_body.decode(data)
        headers = response.headers
        budget_wait = http_policy.exhausted_budget_reset_s(headers)
        if budget_wait:
            self.pacer.hold(min(budget_wait, self.retry_after_cap_s))
        return http_policy.outcome_of(response.status, response.reason or "", headers, body, latency_ms)

    def _past_deadline(self) -> TeacherOutcome:
        error = f"timeout: no complete answer within {self.total_s:g} s (teacher.timeouts.total_s)"
        return TeacherOutcome("timeout", None, None, None, error)


def _transport_failure(exc: BaseException, timeout: tuple[float, float]) -> tuple[TeacherOutcome, bool, float | None]:
    """A request that got no HTTP answer: time-outs (connect, or a read that stalled) and connection errors."""
    reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    if isinstance(reason, urllib3.exceptions.ConnectTimeoutError) and not isinstance(
        reason,
        urllib3.exceptions.NewConnectionError,  # a subclass of ConnectTimeoutError: refused, unreachable
    ):
        return TeacherOutcome("timeout", None, None, None, f"timeout: no connect within {timeout[0]:g} s"), True, None
    if _stalled(reason):
        return TeacherOutcome("timeout", None, None, None, f"timeout: no read within {timeout[1]:g} s"), True, None
    if isinstance(reason, urllib3.exceptions.ProtocolError | urllib3.exceptions.NewConnectionError | OSError):
        return TeacherOutcome("http_error", None, None, None, f"connection error: {_reason(reason)}"), True, None
    return TeacherOutcome("http_error", None, None, None, f"request failed: {type(reason).__name__}"), False, None


def _stalled(exc: BaseException) -> bool:
    """A read time-out, however urllib3 wrapped it (a stall in the body arrives as a ProtocolError around it)."""
    todo, seen = [exc], set()
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.ReadTimeoutError | TimeoutError):
            return True
        todo += [a for a in current.args if isinstance(a, BaseException)]
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
    return False


def _mib(size: int) -> str:
    return f"{size / (1 << 20):g} MiB"


def _reason(exc: BaseException | None) -> str:
    """A connection error's cause without the URL-laden repr chain urllib3 builds."""
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "Connection reset", "Remote end closed"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__
