"""What the student is told: the prompt the app sends the fine-tuned model at inference.

The teacher gets a long prompt (the answer format in words, the rules, the
whole exercise catalogue, every fact as JSON and each safety constraint
spelled out: :mod:`.prompts`). The student learns all of that from the
teacher's answers, so at inference it needs much less, and the dataset trains
it on exactly what it will see:

* a short system prompt (``dataset.student.system_prompt``: a few sentences,
  no catalogue);
* the user turn: the user's request in their own words, then the task line of
  the screen the request came from, the user's facts as compact JSON (no null
  or empty values, nothing derivable) and the ids of the safety constraints
  the FitSense rule base names for the user.

This module is the one owner of that layout: the dataset's records, the
evaluation of a student and the mock coach (which must understand it to stand
in for a student) all use it. The dataset card documents it for the app.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fitsense_luigi.queries.prompts import TASK_LINE_PREFIX, TASK_LINES

CONTEXT_PREFIX = "Context: "
CONSTRAINTS_PREFIX = "Safety constraints: "
# Facts the app holds but the student does not need: derivable from the others (bmi from height and weight)
# or dosage text the plan never depends on (the medication names carry the rules).
LEFT_OUT = frozenset({"bmi", "medication_details"})


def compact_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """The user's facts without null or empty values and without :data:`LEFT_OUT`."""
    out: dict[str, Any] = {}
    for key in context:
        value = context[key]
        if key in LEFT_OUT or value is None or value == [] or value == {}:
            continue
        if isinstance(value, Mapping):  # condition_severity: only the user's own conditions
            value = {k: v for k, v in value.items() if v is not None}
            if not value:
                continue
        out[key] = value
    return out


def user_turn(request: str, context: Mapping[str, Any], constraints: list[str], prompt_type: str | None) -> str:
    lines = [request, ""]
    if prompt_type:
        lines.append(TASK_LINE_PREFIX + TASK_LINES[prompt_type])
    facts = json.dumps(compact_context(context), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    lines.append(CONTEXT_PREFIX + facts)
    if constraints:
        lines.append(CONSTRAINTS_PREFIX + ", ".join(constraints))
    return "\n".join(lines)


def messages(
    system_prompt: str, request: str, context: Mapping[str, Any], constraints: list[str], prompt_type: str | None
) -> list[dict[str, str]]:
    """The prompt turns (system, user) the student gets; its answer is the assistant turn."""
    return [
        {"role": "system", "content": system_prompt},
        {"role": "user", "content": user_turn(request, context, constraints, prompt_type)},
    ]


def read_facts(line: str) -> dict[str, Any] | None:
    """The facts of a ``Context:`` line, or None when ``line`` is not one (or does not hold a JSON object)."""
    if not line.startswith(CONTEXT_PREFIX):
        return None
    try:
        facts = json.loads(line[len(CONTEXT_PREFIX) :])
    except json.JSONDecodeError:
        return None
    return facts if isinstance(facts, dict) else None


def read_constraints(line: str) -> tuple[str, ...] | None:
    """The constraint ids of a ``Safety constraints:`` line, or None when ``line`` is not one."""
    if not line.startswith(CONSTRAINTS_PREFIX):
        return None
    return tuple(c.strip() for c in line[len(CONSTRAINTS_PREFIX) :].split(",") if c.strip())
