"""The shapes real teachers give their answers in, as generators any loopback server can serve.

Measured through a LiteLLM proxy (``shared/reference/teacher_api.md``): with
``response_format: none``, and from many local servers even with
``json_object``, the JSON comes in fences, after a sentence, followed by
commentary, after an inline ``<think>`` block, with trailing commas, numbers
as strings, rep ranges, extra keys; refusals come as short prose, a long
apology or ``message.refusal`` with ``content: null``. Each generator turns a
valid plan (the mock coach's) into the ``message`` a server sends and the
``finish_reason``; :data:`REALISTIC_MIX` weighs them as a mostly clean
endpoint would (60 % clean). A shape is picked per request from its first user
message, so a rerun meets the same shape, and a re-ask (the request carries an
earlier answer) gets a clean answer, as a real model usually mends it.

Nothing here depends on the server; :mod:`tests.support.realistic_teacher`
plugs it into the tests' fake teacher (and so into the benchmarks).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

Message = dict[str, Any]
Shape = Callable[[dict[str, Any]], tuple[Message, str]]


def _msg(content: str | None, **extra: Any) -> Message:
    return {"role": "assistant", "content": content, **extra}


def _json(plan: dict[str, Any], indent: int | None = None) -> str:
    return json.dumps(plan, ensure_ascii=False, indent=indent)


def clean(plan: dict[str, Any]) -> tuple[Message, str]:
    return _msg(_json(plan)), "stop"


def fenced(plan: dict[str, Any]) -> tuple[Message, str]:
    return _msg(f"```json\n{_json(plan, indent=2)}\n```"), "stop"


def preamble(plan: dict[str, Any]) -> tuple[Message, str]:
    text = (
        "Here is your plan:\n\n"
        + _json(plan, indent=2)
        + "\n\nLet me know if you want me to adjust the days {or} the exercises - happy to help!"
    )
    return _msg(text), "stop"


def inline_think(plan: dict[str, Any]) -> tuple[Message, str]:
    reasoning = (
        "<think>\nThe user wants a plan. Their goal and schedule are in the facts; I should keep loads "
        "conservative {like this} and address every safety constraint by id.\n</think>\n\n"
    )
    return _msg(reasoning + _json(plan)), "stop"


def think_then_fence(plan: dict[str, Any]) -> tuple[Message, str]:
    reasoning = "<think>Check equipment, then pick exercises.</think>\nSure! Here's the plan:\n"
    return _msg(reasoning + f"```json\n{_json(plan, indent=2)}\n```\nStay consistent!"), "stop"


def reasoning_field(plan: dict[str, Any]) -> tuple[Message, str]:
    """A server running a reasoning parser: the reasoning beside the content (vLLM, llama.cpp)."""
    return _msg(_json(plan), reasoning_content="The user trains three days a week; keep it simple."), "stop"


def trailing_comma(plan: dict[str, Any]) -> tuple[Message, str]:
    text = _json(plan, indent=2)
    text = text.replace("\n  ]", ",\n  ]").replace('"\n    }', '",\n    }')
    return _msg(text.replace("\n}", ",\n}")), "stop"


def numeric_strings(plan: dict[str, Any]) -> tuple[Message, str]:
    plan = copy.deepcopy(plan)
    plan["days_per_week"] = str(plan["days_per_week"])
    for day in plan["days"]:
        for item in day["exercises"]:
            item["sets"] = str(item["sets"])
            item["rest_seconds"] = f"{item['rest_seconds']}"
            if item["reps"] is not None:
                item["reps"] = str(item["reps"])
            if item["seconds"] is not None:
                item["seconds"] = f"{item['seconds']} s"
            if item["load_kg"] is not None:
                item["load_kg"] = f"{item['load_kg']:g}"
    return _msg(_json(plan)), "stop"


def rep_ranges(plan: dict[str, Any]) -> tuple[Message, str]:
    plan = copy.deepcopy(plan)
    for day in plan["days"]:
        for item in day["exercises"]:
            if isinstance(item["reps"], int):
                item["reps"] = f"{max(item['reps'] - 2, 1)} - {item['reps'] + 2}"
    return _msg(_json(plan)), "stop"


def extra_keys(plan: dict[str, Any]) -> tuple[Message, str]:
    plan = copy.deepcopy(plan)
    plan["warm_up"] = "5 minutes of easy cycling and dynamic stretches."
    if plan["days"]:  # a yes/no answer has no plan
        plan["days"][0]["exercises"][0]["tempo"] = "3-1-1"
    return _msg(_json(plan)), "stop"


def missing_field(plan: dict[str, Any]) -> tuple[Message, str]:
    """Beyond repair (no progression): only a re-ask saves it."""
    plan = {k: v for k, v in plan.items() if k != "progression"}
    return _msg(_json(plan)), "stop"


def refusal_short(plan: dict[str, Any]) -> tuple[Message, str]:
    return _msg("I'm sorry, but I can't provide medical advice. Please consult your doctor before starting."), "stop"


def refusal_long(plan: dict[str, Any]) -> tuple[Message, str]:
    text = (
        "I apologize, but I'm not able to create a training plan for you. Your health conditions and "
        "medications mean that exercise recommendations should come from a qualified professional who can "
        "examine you. Please speak with your doctor or a physiotherapist, who can assess what is safe for you "
        "and refer you to a supervised program if appropriate. Once you have medical clearance, I'd be glad "
        "to help you think about general activity goals."
    )
    return _msg(text), "stop"


def refusal_field(plan: dict[str, Any]) -> tuple[Message, str]:
    """OpenAI structured outputs: ``message.refusal`` with ``content: null``."""
    return _msg(None, refusal="I'm sorry, I cannot help with that request."), "stop"


SHAPES: dict[str, Shape] = {
    "clean": clean,
    "fenced": fenced,
    "preamble": preamble,
    "inline_think": inline_think,
    "think_then_fence": think_then_fence,
    "reasoning_field": reasoning_field,
    "trailing_comma": trailing_comma,
    "numeric_strings": numeric_strings,
    "rep_ranges": rep_ranges,
    "extra_keys": extra_keys,
    "missing_field": missing_field,
    "refusal_short": refusal_short,
    "refusal_long": refusal_long,
    "refusal_field": refusal_field,
}
REFUSALS = frozenset({"refusal_short", "refusal_long", "refusal_field"})
# A mostly clean endpoint (the "realistic mix": 60 % clean), every other shape present, a few refusals.
REALISTIC_MIX: dict[str, float] = {
    "clean": 0.60,
    "fenced": 0.06,
    "preamble": 0.05,
    "inline_think": 0.05,
    "think_then_fence": 0.03,
    "reasoning_field": 0.03,
    "trailing_comma": 0.04,
    "numeric_strings": 0.04,
    "rep_ranges": 0.03,
    "extra_keys": 0.02,
    "missing_field": 0.02,
    "refusal_short": 0.01,
    "refusal_long": 0.01,
    "refusal_field": 0.01,
}


def first_user_message(messages: list[dict[str, Any]]) -> str:
    return next((m.get("content") or "" for m in messages if m.get("role") == "user"), "")


def shape_for(messages: list[dict[str, Any]], mix: dict[str, float] = REALISTIC_MIX, salt: str = "") -> str:
    """The shape of the answer to these messages: a pure function of the first user message; re-asks get clean."""
    if any(m.get("role") == "assistant" for m in messages):
        return "clean"
    digest = hashlib.sha256((salt + first_user_message(messages)).encode()).digest()
    draw = int.from_bytes(digest[:8], "little") / 2**64
    total = sum(mix.values())
    running = 0.0
    for name, weight in mix.items():
        running += weight / total
        if draw < running:
            return name
    return next(reversed(mix))


def completion(plan: dict[str, Any], shape: str, model: str = "realistic-teacher") -> dict[str, Any]:
    """The whole chat-completions body of one answer in ``shape``."""
    message, finish = SHAPES[shape](plan)
    return {
        "id": "chatcmpl-" + hashlib.sha256(f"{shape}{message.get('content')}".encode()).hexdigest()[:20],
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 900, "completion_tokens": 700, "total_tokens": 1600},
    }
