"""Client for any OpenAI-compatible chat-completions endpoint (vLLM, Ollama, llama.cpp, LiteLLM, OpenAI).

Retries what can succeed later (408, 409, 429, 5xx, time-outs, connection
errors) with exponential jitter, and nothing else. The API key is read from the
environment variable the config names, sent only in the Authorization header,
and never logged or stored.
"""

from __future__ import annotations

import os
import time
from typing import Any

import backoff
import requests

from fitsense_luigi.teacher.types import TeacherOutcome, TeacherRequest

RETRY_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))


class _Retryable(Exception):
    def __init__(self, outcome: TeacherOutcome) -> None:
        super().__init__(outcome.error)
        self.outcome = outcome


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
        max_wait_s: float,
        pool_size: int = 8,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.timeout = (connect_s, read_s)
        self.max_attempts = max_attempts
        self.max_wait_s = max_wait_s
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env, "")
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def complete(self, request: TeacherRequest) -> TeacherOutcome:
        attempts = 0
        started = time.monotonic()

        @backoff.on_exception(
            backoff.expo,
            _Retryable,
            max_tries=self.max_attempts,
            max_value=self.max_wait_s,
            jitter=backoff.full_jitter,
            factor=0.5,
        )
        def once() -> TeacherOutcome:
            nonlocal attempts
            attempts += 1
            return self._post(request.body())

        try:
            outcome = once()
        except _Retryable as exc:
            outcome = exc.outcome
        outcome.attempt_count = attempts
        outcome.latency_ms = int((time.monotonic() - started) * 1000)
        return outcome

    def _post(self, body: dict[str, Any]) -> TeacherOutcome:
        url = f"{self.base_url}/chat/completions"
        try:
            response = self.session.post(url, json=body, headers=self._headers(), timeout=self.timeout)
        except requests.Timeout as exc:
            raise _Retryable(TeacherOutcome("timeout", None, None, None, f"timeout: {type(exc).__name__}")) from None
        except requests.ConnectionError as exc:
            raise _Retryable(
                TeacherOutcome("http_error", None, None, None, f"connection error: {type(exc).__name__}")
            ) from None
        if response.status_code != 200:
            outcome = TeacherOutcome(
                "http_error", None, None, None, f"HTTP {response.status_code}: {response.text[:300]}"
            )
            if response.status_code in RETRY_STATUSES and "insufficient_quota" not in response.text:
                raise _Retryable(outcome)
            return outcome
        return parse_completion(response)


def parse_completion(response: requests.Response) -> TeacherOutcome:
    try:
        body = response.json()
        choice = body["choices"][0]
        content = choice.get("message", {}).get("content")
        finish = choice.get("finish_reason")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return TeacherOutcome("invalid", None, None, None, f"malformed completion body: {response.text[:200]}")
    usage = {
        k: int(v)
        for k, v in (body.get("usage") or {}).items()
        if k in ("prompt_tokens", "completion_tokens", "total_tokens") and isinstance(v, int | float)
    }
    if finish == "length":
        status = "length"
    elif finish == "content_filter":
        status = "content_filter"
    elif not content:
        status = "invalid"
    else:
        status = "ok"
    error = None if status == "ok" else f"finish_reason={finish}, content={'empty' if not content else 'present'}"
    return TeacherOutcome(status, finish, content, body, error, usage)
