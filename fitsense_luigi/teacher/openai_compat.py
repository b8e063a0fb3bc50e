"""Client for any OpenAI-compatible chat-completions endpoint (vLLM, Ollama, llama.cpp, LiteLLM, OpenAI).

One request -> one outcome, after as many attempts as the policy allows:
retries what can succeed later (408, 409, 429, 5xx, time-outs, connection
errors) with exponential backoff and full jitter (``backoff.expo`` +
``backoff.full_jitter``), never 400/401/403/404/422 or ``insufficient_quota``,
and waits at least what ``Retry-After`` asks (capped). The loop is ours rather
than ``@backoff.on_exception`` so that every wait goes through the shared
:class:`~fitsense_luigi.teacher.pacing.Pacer`: a 429 pauses all workers, and a
tripped circuit breaker wakes every sleeper at once.

Each worker thread keeps its own ``requests.Session`` (a keep-alive
connection pool that is never shared between threads). The API key is sent
only in the Authorization header and redacted from anything the server sends
back (see :mod:`fitsense_luigi.teacher.credentials`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time

import backoff
import requests

from fitsense_luigi.teacher import http_policy
from fitsense_luigi.teacher.credentials import ApiKey
from fitsense_luigi.teacher.pacing import Pacer
from fitsense_luigi.teacher.types import TeacherOutcome, TeacherRequest

log = logging.getLogger("fitsense.teacher.http")

# Rough prompt-token estimate for tokens-per-minute pacing (English text, BPE tokenisers).
CHARS_PER_TOKEN = 4


class OpenAICompatible:
    name = "openai_compatible"
    cacheable = True

    def __init__(
        self,
        base_url: str,
        api_key_env: str,
        *,
        connect_s: float,
        read_s: float,
        max_attempts: int,
        initial_wait_s: float = 0.5,
        max_wait_s: float = 8.0,
        retry_after_cap_s: float = 60.0,
        pacer: Pacer | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.key = ApiKey(api_key_env)
        self.timeout = (connect_s, read_s)
        self.max_attempts = max_attempts
        self.initial_wait_s = initial_wait_s
        self.max_wait_s = max_wait_s
        self.retry_after_cap_s = retry_after_cap_s
        self.pacer = pacer or Pacer()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self._headers = {"Content-Type": "application/json", "Accept": "application/json", **self.key.headers()}
        self._proxies = requests.utils.get_environ_proxies(self.url)
        self._verify: bool | str = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        if not self.key.present:
            log.warning("no API key in $%s: sending requests without an Authorization header", api_key_env)

    def __repr__(self) -> str:
        return f"OpenAICompatible(url={self.url!r}, key={self.key!r})"

    # -- connections
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.clear()
            # Environment settings are read once (not per request, as requests does), and ~/.netrc never
            # replaces our Authorization header: proxies from HTTPS_PROXY/NO_PROXY, CA bundle from
            # REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE.
            session.trust_env = False
            session.proxies.update(self._proxies)
            session.verify = self._verify
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._sessions_lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    # -- one request, all attempts
    def complete(self, request: TeacherRequest) -> TeacherOutcome:
        payload = json.dumps(request.body(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
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
        """(outcome, retry?, seconds the server asked us to wait) for one HTTP round trip."""
        started = time.monotonic()
        try:
            response = self._session().post(self.url, data=payload, headers=self._headers, timeout=self.timeout)
        except requests.Timeout as exc:
            phase = "connect" if isinstance(exc, requests.ConnectTimeout) else "read"
            limit = self.timeout[0] if phase == "connect" else self.timeout[1]
            return TeacherOutcome("timeout", None, None, None, f"timeout: no {phase} within {limit:g} s"), True, None
        except requests.ConnectionError as exc:
            return TeacherOutcome("http_error", None, None, None, f"connection error: {_reason(exc)}"), True, None
        except requests.RequestException as exc:
            return TeacherOutcome("http_error", None, None, None, f"request failed: {type(exc).__name__}"), False, None
        latency_ms = int((time.monotonic() - started) * 1000)
        text = self.key.redact(response.content.decode("utf-8", errors="replace"))
        headers = response.headers
        budget_wait = http_policy.exhausted_budget_reset_s(headers)
        if budget_wait:
            self.pacer.hold(min(budget_wait, self.retry_after_cap_s))
        code = response.status_code
        if code == 200:
            outcome = http_policy.parse_completion(code, text)
            outcome.latency_ms = latency_ms
            return outcome, False, None
        outcome = TeacherOutcome(
            "http_error",
            None,
            None,
            http_policy.error_body(text),
            f"HTTP {code}: {http_policy.error_detail(text) or response.reason}",
            latency_ms=latency_ms,
            http_status=code,
        )
        retry = http_policy.should_retry(code, text)
        return outcome, retry, http_policy.retry_after_s(headers) if retry else None


def _reason(exc: BaseException) -> str:
    """A connection error's cause without the URL-laden repr chain requests builds."""
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "Connection reset", "Remote end closed"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__
