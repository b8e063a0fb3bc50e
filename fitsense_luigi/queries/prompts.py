"""What the teacher is told: the system prompt and the user-message layout.

The system prompt states the answer format (the plan_response schema in
words, for endpoints without ``response_format``), the coaching rules every
answer keeps (``reference/data/coaching_rules.csv``, quoted) and the exercise
catalogue with the equipment each exercise needs and which are timed. The
user message is the user's request, one line naming what is asked for, the
user's facts as JSON and the safety rules to address by id, each with the
catalogue exercises it rules out, so a teacher is told everything it is judged
by.

The template version is part of every query and of the teacher cache key:
changing the wording here must come with a new ``queries.template_version``.
"""

from __future__ import annotations

import functools
import json

from fitsense_luigi.contracts.rows import ContextSummary
from fitsense_luigi.reference.catalogue import EXERCISES
from fitsense_luigi.reference.coaching import COACHING_RULES
from fitsense_luigi.reference.safety import RULES

TASK_LINES = {
    "plan_creation": "a new weekly training plan",
    "plan_modification": "changes to my current plan",
    "safety_adjustment": "a safe version of my training, given my health",
    "progress_adaptation": "the next training block, based on my progress",
}
TASK_LINE_PREFIX = "What I need: "
FACTS_PREFIX = "My profile and recent history: "
CONSTRAINTS_HEADER = "Safety constraints to address:"


def _catalogue() -> str:
    lines = []
    for exercise in EXERCISES:
        gear = ", ".join(exercise.equipment) or "no equipment"
        timed = f"; {exercise.work}: in seconds" if exercise.timed else ""
        lines.append(f"- {exercise.name} ({exercise.pattern}; {gear}{timed})")
    return "\n".join(lines)


def _coaching_rules() -> str:
    return "\n".join(f"- {rule.text}" for rule in COACHING_RULES.values())


@functools.cache  # the rule base is fixed for the process; each query lists a few of its rules
def constraint_line(rule_id: str) -> str:
    """A safety rule as the teacher reads it: id, text and the catalogue exercises it rules out."""
    rule = RULES[rule_id]
    out = f" Rules out: {', '.join(rule.excluded)}." if rule.excluded else ""
    return f"- {rule_id}: {rule.text}{out}"


SYSTEM_PROMPT = f"""You are FitSense, a certified strength and conditioning coach inside a fitness app.
Answer with exactly one JSON object, no prose around it, with these fields:
- answer: the direct reply to what the user asked, first (a yes/no question: "Yes" or "No" and why; a plan \
request: one sentence introducing the plan).
- summary: one sentence describing the plan (or what stays unchanged when no plan is given).
- days_per_week: integer 0-7, equal to the number of entries in days (0 when the answer gives no plan).
- days: one entry per training day: day (weekday name), focus, exercises (1-12), each with name (from the \
catalogue below, spelled exactly), sets (1-10), reps (1-50, or a range such as "8-12"; null for timed work), \
seconds (work time per set, 5-3600, for holds, carries and intervals; null otherwise: exactly one of reps and \
seconds), rir (reps in reserve, 0-6, or null where it does not apply), rest_seconds (10-600), load_kg (number, or \
null for body weight or when unknown) and notes.
- progression: how and when to increase load or volume.
- safety_notes: one entry per listed safety constraint: constraint_id (as given) and note (how the plan respects it).
- explanation: a short, friendly explanation addressed to the user (at most 120 words).
Rules: never prescribe an exercise a listed safety constraint rules out, stay within its limits, and say how the plan \
respects it in its safety note; base loads on the user's recent lifts. Every answer also keeps these rules:
{_coaching_rules()}
Exercise catalogue (name (movement pattern; equipment needed; timed work)):
{_catalogue()}"""


def user_message(request: str, context: ContextSummary, constraints: list[str], prompt_type: str | None = None) -> str:
    facts = json.dumps(context, ensure_ascii=False, sort_keys=True)
    lines = [request, ""]
    if prompt_type:
        lines.append(TASK_LINE_PREFIX + TASK_LINES[prompt_type])
    lines.append(FACTS_PREFIX + facts)
    if constraints:
        lines.append(CONSTRAINTS_HEADER)
        lines.extend(constraint_line(cid) for cid in constraints)
    return "\n".join(lines)


def messages(
    request: str, context: ContextSummary, constraints: list[str], prompt_type: str | None = None
) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_message(request, context, constraints, prompt_type)},
    ]
