"""What the teacher is told: the system prompt and the user-message layout.

The template version is part of every query (and of the teacher cache key), so
changing the wording here must come with a new ``queries.template_version``.
"""

from __future__ import annotations

import json
from typing import Any

from fitsense_luigi import catalog

SYSTEM_PROMPT = (
    "You are FitSense, a certified strength and conditioning coach. Answer with one JSON object that "
    "matches the plan_response schema: summary, days_per_week, days (each with focus and exercises: name, "
    "sets, reps, rir, rest_seconds, load_kg, notes), progression, safety_notes (one entry per listed safety "
    "constraint, citing its constraint id) and a short explanation addressed to the user. Choose exercises "
    "from this catalogue only: " + ", ".join(e.name for e in catalog.EXERCISES) + ". Never prescribe an "
    "exercise that the user's conditions rule out, and respect every safety constraint."
)


def user_message(request: str, context: dict[str, Any], constraints: list[str]) -> str:
    facts = json.dumps(context, ensure_ascii=False, sort_keys=True)
    lines = [request, "", f"My profile and recent history: {facts}"]
    if constraints:
        lines.append("Safety constraints to address:")
        lines.extend(f"- {cid}: {catalog.SAFETY_CONSTRAINTS[cid].text}" for cid in constraints)
    return "\n".join(lines)


def messages(request: str, context: dict[str, Any], constraints: list[str]) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_message(request, context, constraints)},
    ]
