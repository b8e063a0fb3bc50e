"""What an OpenAI-compatible server's answer means for the next step: retry, wait, stop or accept.

Pure functions over status codes, headers and bodies, so every rule (which
codes are retried, how long Retry-After makes us wait, what stops the stage) is
tested without a network. The rules follow the OpenAI API and its official
client (see ``shared/reference/teacher_api.md``).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
from collections.abc import Mapping
from typing import Any

from fitsense_luigi.contracts.rows import USAGE_KEYS
from fitsense_luigi.teacher.response_body import Body, completion_problem, opening
from fitsense_luigi.teacher.types import TeacherOutcome

# Worth another try: the server may answer later.
RETRY_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))
# No request can succeed while these hold: wrong key, no permission, wrong URL or model.
FATAL_STATUSES = frozenset({401, 403, 404})

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def retry_after_s(headers: Mapping[str, str], now: dt.datetime | None = None) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, then ``Retry-After`` (seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max((when - now).total_seconds(), 0.0)


def parse_duration_s(text: str) -> float | None:
    """OpenAI's rate-limit reset values: ``12ms``, ``1.5s``, ``6m0s``, ``1h2m3s``."""
    text = text.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


def exhausted_budget_reset_s(headers: Mapping[str, str]) -> float | None:
    """When the server says a request or token budget is used up, how long until it resets."""
    waits = []
    for kind in ("requests", "tokens"):
        remaining = headers.get(f"x-ratelimit-remaining-{kind}")
        reset = headers.get(f"x-ratelimit-reset-{kind}")
        if remaining is None or reset is None:
            continue
        try:
            if float(remaining) > 0:
                continue
        except ValueError:
            continue
        seconds = parse_duration_s(reset)
        if seconds is not None:
            waits.append(seconds)
    return max(waits) if waits else None


def error_detail(text: str, limit: int = 200) -> str:
    """The server's own words for an error, on one short line (``error.message`` when it is JSON)."""
    detail = text
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            parts = [str(err[k]) for k in ("code", "type", "message") if err.get(k)]
            detail = ": ".join(dict.fromkeys(parts)) or text
        elif isinstance(err, str):
            detail = err
    detail = " ".join(detail.split())
    return detail[:limit] + ("..." if len(detail) > limit else "")


def is_insufficient_quota(text: str) -> bool:
    return "insufficient_quota" in text


def should_retry(status_code: int, text: str) -> bool:
    return status_code in RETRY_STATUSES and not is_insufficient_quota(text)


def is_client_error(error: str) -> bool:
    """An error text of a request the server rejects as such (400, 422): the same request fails the same way again."""
    return error.startswith(("HTTP 400", "HTTP 422"))


def is_fatal(outcome: TeacherOutcome) -> bool:
    """An answer that says no other request can succeed either: stop the stage at once."""
    if outcome.status != "http_error" or outcome.http_status is None:
        return False
    return outcome.http_status in FATAL_STATUSES or is_insufficient_quota(outcome.error or "")


def fatal_hint(outcome: TeacherOutcome, key_env: str) -> str:
    if outcome.http_status in (401, 403):
        return f"check the key in ${key_env} (and that it may use this model)"
    if outcome.http_status == 404:
        return "check teacher.base_url (OpenAI-compatible servers usually end in /v1) and teacher.model"
    return "the account has no quota left: add credit or use another key"


def parse_completion(status_code: int, body: Body) -> TeacherOutcome:
    """A 200 answer -> outcome: ``ok``, ``refused``, ``length``, ``content_filter`` or ``invalid``.

    Only an OpenAI chat-completion object is an answer (:func:`.response_body.completion_problem`);
    any other body (a proxy's HTML page, ``{}``) is an ``http_error``: not cached, and counted
    by the circuit breaker. A refusal keeps its text as the outcome's content (``message.refusal``
    when ``content`` is null), so that the dataset can show what was refused and why.
    """
    problem = completion_problem(body.json) if body.is_json else "not JSON"
    if problem:
        raw = body.json if isinstance(body.json, dict) else None
        return TeacherOutcome(
            "http_error",
            None,
            None,
            raw,
            f"HTTP {status_code} with a body that is not a chat completion ({problem}): {opening(body.text)}",
            http_status=status_code,
        )
    choice = body.json["choices"][0]
    message = choice["message"]
    content = message.get("content")
    finish = choice.get("finish_reason")
    refusal = message.get("refusal")
    if content is not None and not isinstance(content, str):
        content = json.dumps(content, ensure_ascii=False)
    usage = parse_usage(body.json.get("usage"))
    if refusal or finish == "refusal":  # OpenAI: message.refusal with content null; proxies: finish_reason refusal
        text = refusal if isinstance(refusal, str) and refusal.strip() else content
        how = "message.refusal" if refusal else "finish_reason=refusal"
        return TeacherOutcome(
            "refused", finish, text, body.json, f"the teacher refused ({how})", usage, http_status=status_code
        )
    if finish == "length":
        status, error = "length", "cut off at max_tokens (finish_reason=length)"
    elif finish == "content_filter":
        status, error = "content_filter", "withheld by the server's content filter (finish_reason=content_filter)"
    elif not content:
        status, error = "invalid", f"no content in the answer (finish_reason={finish})"
    elif finish not in (None, "stop", "eos", "end_turn"):
        status, error = "invalid", f"unexpected finish_reason={finish}"
    else:
        status, error = "ok", None
    return TeacherOutcome(status, finish, content, body.json, error, usage, http_status=status_code)


def parse_usage(raw: Any) -> dict[str, int]:
    """Loose: servers add fields, omit some, or send floats."""
    usage = dict.fromkeys(USAGE_KEYS, 0)
    if isinstance(raw, dict):
        for key in usage:
            value = raw.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                usage[key] = int(value)
    if not usage["total_tokens"]:
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return usage


def error_body(body: Body) -> dict[str, Any] | None:
    """An error answer's JSON body, kept as ``raw_response`` when it is an object."""
    return body.json if isinstance(body.json, dict) else None


def outcome_of(
    status: int, reason: str, headers: Mapping[str, str], body: Body, latency_ms: int
) -> tuple[TeacherOutcome, bool, float | None]:
    """What a whole HTTP answer means, whichever client read it: (outcome, retry?, seconds the server asked us
    to wait)."""
    if status == 200:
        outcome = parse_completion(status, body)
        outcome.latency_ms = latency_ms
        return outcome, False, None
    text = body.text
    outcome = TeacherOutcome(
        "http_error",
        None,
        None,
        error_body(body),
        f"HTTP {status}: {error_detail(text) or reason or 'no detail'}",
        latency_ms=latency_ms,
        http_status=status,
    )
    retry = should_retry(status, text)
    return outcome, retry, retry_after_s(headers) if retry else None
