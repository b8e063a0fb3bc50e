"""The offline teacher: the rule-based coach behind the same provider interface as the HTTP client.

It answers the exact request a real teacher would get (the chat messages and
the seed), so the pipeline path (cache, checks, rows) is the same for both.
With ``teacher.mock.flaw_rate`` above zero, that share of answers gets one
realistic flaw (cut off at max_tokens, withheld by a content filter, prose
instead of JSON, a missing field, a contraindicated exercise, no safety
notes), chosen per request from its content, so that every downstream filter
and check has real cases to catch offline. The coach takes the same path as a
real teacher: its text is extracted, repaired and judged, and an invalid answer
is re-asked.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fitsense_luigi.reference.catalogue import EXERCISES
from fitsense_luigi.reference.safety import excluded_by
from fitsense_luigi.teacher.coach import plan_for, read_message
from fitsense_luigi.teacher.types import TeacherOutcome, TeacherRequest

CHARS_PER_TOKEN = 4
FLAWS = ("cut_off", "content_filter", "prose", "missing_field", "unsafe_exercise", "no_safety_notes")


class MockCoach:
    name = "mock"
    cacheable = False  # free and deterministic: caching would only add state
    remote = False
    endpoint = False  # its flawed answers are a feature (teacher.mock.flaw_rate), not an unhealthy endpoint

    def __init__(self, model: str, seed: int = 0, flaw_rate: float = 0.0) -> None:
        self.model = model
        self.seed = seed
        self.flaw_rate = flaw_rate

    def close(self) -> None:
        return None

    def complete(self, request: TeacherRequest) -> TeacherOutcome:
        user = next((m["content"] for m in request.messages if m["role"] == "user"), "")
        plan = plan_for(user, request.seed)
        reasks = sum(m["role"] == "assistant" for m in request.messages)  # a re-ask carries the earlier answer
        flaw = self.flaw_for(user, request.seed, reasks)
        finish = "stop"
        content: str | None = json.dumps(plan, ensure_ascii=False)
        if flaw:
            content, finish = apply_flaw(flaw, plan, user)
        prompt_tokens = sum(len(m["content"]) for m in request.messages) // CHARS_PER_TOKEN
        completion_tokens = len(content or "") // CHARS_PER_TOKEN
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        raw = {
            "id": "mock-" + hashlib.sha256((content or "").encode()).hexdigest()[:24],
            "object": "chat.completion",
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
            "usage": usage,
        }
        status = {"stop": "ok", "length": "length", "content_filter": "content_filter"}[finish]
        error = None if status == "ok" else f"mock flaw: {flaw}"
        return TeacherOutcome(status, finish, content, raw, error, usage, attempt_count=1, latency_ms=0)

    def flaw_for(self, user_message: str, seed: int, reasks: int = 0) -> str | None:
        """The flaw this request gets, if any: a pure function of the request.

        A re-ask (the conversation carries the earlier answer and its errors) is
        a new draw, so that, like a real teacher, the coach usually mends it.
        """
        if self.flaw_rate <= 0:
            return None
        key = f"{seed}:{self.seed}:{user_message}" + (f":reask{reasks}" if reasks else "")
        digest = hashlib.sha256(key.encode()).digest()
        draw = int.from_bytes(digest[:8], "little") / 2**64
        if draw >= self.flaw_rate:
            return None
        return FLAWS[int.from_bytes(digest[8:12], "little") % len(FLAWS)]


def coach(user_message: str, seed: int = 0) -> dict[str, Any]:
    """The mock coach's plan for one user message (what ``MockCoach`` answers before any flaw)."""
    return plan_for(user_message, seed)


def apply_flaw(flaw: str, plan: dict[str, Any], user_message: str) -> tuple[str | None, str]:
    """(content, finish_reason) of a flawed answer."""
    text = json.dumps(plan, ensure_ascii=False)
    if flaw == "cut_off":
        return text[: len(text) * 3 // 5], "length"
    if flaw == "content_filter":
        return None, "content_filter"
    if flaw == "prose":
        return f"{plan['summary']} {plan['explanation']} {plan['progression']}", "stop"
    if flaw == "missing_field":
        broken = {k: v for k, v in plan.items() if k != "progression"}
        return json.dumps(broken, ensure_ascii=False), "stop"
    asked = read_message(user_message)
    if flaw == "unsafe_exercise":
        # an exercise one of the message's own safety rules leaves out (a real teacher's typical slip)
        unsafe = next((e for e in EXERCISES if excluded_by(e, asked.constraints)), None)
        if unsafe is not None and plan["days"]:
            first = plan["days"][0]["exercises"][0]
            plan["days"][0]["exercises"][0] = dict(first, name=unsafe.name)
            return json.dumps(plan, ensure_ascii=False), "stop"
    if flaw in ("unsafe_exercise", "no_safety_notes") and asked.constraints:
        # a constraint counts as addressed only through a safety note with its id: without notes none is
        plan = dict(plan, safety_notes=[], explanation=plan["explanation"].split(".")[0] + ".")
        return json.dumps(plan, ensure_ascii=False), "stop"
    return text[: len(text) // 2], "length"
