"""Queries and teacher answers for the dataset tests, made with the pipeline's own parts.

Queries use the real prompt layout and catalogue constraints; answers go
through the teacher stage's real ``response_row`` (so ``post_validation`` and
``safety_flags`` come from the real post-checks), with the mock coach's plan as
the good answer and crafted edits of it as the bad ones.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from fitsense_luigi.config import PROMPT_TYPES
from fitsense_luigi.dataset.records import Provenance
from fitsense_luigi.queries import prompts
from fitsense_luigi.reference import goals
from fitsense_luigi.reference.catalogue import EXERCISES, LEVELS
from fitsense_luigi.reference.safety import avoided_tags, constraints_for
from fitsense_luigi.teacher.mock import coach
from fitsense_luigi.teacher.stage import response_row
from fitsense_luigi.teacher.types import TeacherOutcome

GOALS = tuple(goals.GOALS)
MODEL = "fitsense-mock-coach-v1"
PROVENANCE = Provenance(
    run_id="test-run",
    source_run_ids={"queries": "test-run", "teacher": "test-run"},
    config_fingerprint="0" * 64,
    package_version="test",
)


def user_id(n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"user-{n}"))


def make_query(
    n: int,
    user: int | None = None,
    prompt_type: str | None = None,
    goal: str | None = None,
    conditions: tuple[str, ...] = (),
    medications: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Query number ``n`` (of user ``user``, default ``n``), shaped like GenerateQueries' rows."""
    user = n if user is None else user
    prompt_type = prompt_type or PROMPT_TYPES[n % len(PROMPT_TYPES)]
    goal = goal or GOALS[user % len(GOALS)]
    context = {
        "age": 20 + user % 50,
        "sex": "female" if user % 2 else "male",
        "goal": goal,
        "activity_level": "moderately_active",
        "conditions": list(conditions),
        "medications": list(medications),
        "allergies": [],
        "days_per_week": float(2 + user % 4),
        "sessions_last_window": 4 + n % 9,
        "adherence_rate": round(0.4 + (n % 6) / 10, 2),
        "weight_change_kg": None if n % 5 == 0 else round((n % 7 - 3) / 2, 1),
        "top_lifts": [{"exercise": "Goblet Squat", "estimated_1rm_kg": 20.0 + user % 30}],
        "window_days": 28,
    }
    constraints = constraints_for(context)
    request = f"Query {n}: please build me a plan for {goal.replace('_', ' ')}, {int(context['days_per_week'])} days."
    return {
        "query_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"query-{n}")),
        "user_id": user_id(user),
        "scenario_id": f"{prompt_type}-{n:05d}",
        "prompt_type": prompt_type,
        "slice_tags": {
            "age_band": "30-39",
            "sex": context["sex"],
            "goal_type": goal,
            "activity_level": context["activity_level"],
            "condition_flag": "with_condition" if conditions else "no_condition",
        },
        "expected_safety_constraints": constraints,
        "context_summary": context,
        "user_request": request,
        "asks": {
            "question": None,
            "about": None,
            "wants_plan": True,
            "days": None,
            "conflicting_days": [],
            "stalled_lift": None,
            "equipment": context.get("equipment", []),
        },
        "messages": prompts.messages(request, context, constraints),
        "template_version": "v1",
    }


def good_plan(query: dict[str, Any]) -> dict[str, Any]:
    return coach(query["messages"][1]["content"])


def answer(
    query: dict[str, Any],
    content: str | dict[str, Any] | None = None,
    *,
    status: str = "ok",
    finish_reason: str | None = "stop",
    error: str | None = None,
    cache_hit: bool = False,
) -> dict[str, Any]:
    """A responses.jsonl row for ``query``; ``content`` defaults to the mock coach's (good) plan."""
    if content is None and status == "ok":
        content = good_plan(query)
    text = json.dumps(content, ensure_ascii=False) if isinstance(content, dict) else content
    usage = {"prompt_tokens": 900, "completion_tokens": len(text or "") // 4, "total_tokens": 900}
    outcome = TeacherOutcome(status, finish_reason, text, {"choices": []}, error, usage, attempt_count=1, latency_ms=7)
    return response_row(query, "mock", MODEL, outcome, cache_hit=cache_hit)


def with_plan_edit(query: dict[str, Any], edit: Any) -> dict[str, Any]:
    """The good plan after ``edit(plan)`` (which changes the plan in place)."""
    plan = copy.deepcopy(good_plan(query))
    edit(plan)
    return plan


def contraindicated_exercise(query: dict[str, Any]) -> str:
    """An exercise the user's conditions rule out that is otherwise harmless: doable with their gear, no plyometric
    drill, the easiest level (so the same plan may be fine for another user)."""
    ctx = query["context_summary"]
    avoid = avoided_tags(ctx["conditions"], ctx["medications"])
    at_hand = set(ctx.get("equipment") or []) | {"exercise_mat"}
    ruled_out = [e for e in EXERCISES if e.tags & avoid]
    return min(ruled_out, key=lambda e: (not set(e.equipment) <= at_hand, e.plyometric, LEVELS.index(e.level))).name
