"""The offline teacher: a deterministic, rule-based coach behind the provider interface.

It reads exactly what a real teacher reads (the chat messages), recovers the
user's facts and safety constraints from the user message, and answers with a
schema-valid plan built from the exercise catalogue: rep ranges and rest from
the goal (ACSM), days from the user's schedule, no exercise whose tags the
user's conditions or medications rule out, loads from the user's own lifts.
The same messages always give the same answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from fitsense_luigi import catalog
from fitsense_luigi.teacher.types import TeacherOutcome, TeacherRequest

_FACTS = re.compile(r"My profile and recent history: (\{.*\})")
_CONSTRAINT = re.compile(r"^- ([a-z_]+): ", re.MULTILINE)

_GOAL_PLAN = {  # reps, rir, rest seconds, sets
    "strength": (5, 2, 180, 4),
    "muscle_gain": (10, 2, 90, 3),
    "weight_loss": (12, 2, 60, 3),
    "endurance": (15, 3, 45, 2),
    "general_fitness": (10, 3, 75, 3),
}
_DAY_FOCUS = (
    ("Lower body", ("squat", "hinge", "lunge", "core")),
    ("Upper body push and pull", ("push_h", "pull_h", "push_v", "pull_v")),
    ("Full body", ("hinge", "push_h", "pull_v", "core")),
    ("Legs and core", ("lunge", "squat", "core", "carry")),
    ("Upper body and arms", ("pull_v", "push_v", "isolation", "pull_h")),
)
_OPENINGS = (
    "Here is a plan built around what you told me.",
    "Based on your recent training, this is how I would set up your week.",
    "Thanks for the detail - this plan fits your schedule and your goal.",
    "Let's make your training work for you.",
)
_WHY = {
    "strength": "Heavier sets of about 5 with longer rests build strength while leaving reps in reserve.",
    "muscle_gain": "Moderate loads for about 10 reps with 60-120 s rests are the sweet spot for muscle growth.",
    "weight_loss": "Keeping strength work in your week protects muscle while you eat a little less.",
    "endurance": "Lighter loads for higher reps and short rests build muscular endurance.",
    "general_fitness": "A balanced mix of patterns keeps every major muscle group working.",
}
_NOTES = {
    "avoid_valsalva": "Breathe out on every effort and never hold your breath; no maximal singles.",
    "rpe_not_heart_rate": "Your beta-blocker lowers your heart rate, so judge effort by RPE (how hard it "
    "feels, 6-7 out of 10) rather than heart-rate zones.",
    "low_impact_knee": "Everything here is low-impact for your knee: no jumping or running drills.",
    "protect_lower_back": "To protect your back there is no heavy loaded spinal flexion; add load gradually.",
    "nonconsecutive_resistance_days": "Resistance sessions fall on non-consecutive days with a rest day between.",
    "hypoglycaemia_watch": "Check your glucose before and after sessions and keep fast carbohydrate at hand.",
    "asthma_warmup_inhaler": "Warm up gradually for 10 minutes and keep your reliever inhaler at hand.",
}
_WEEKDAYS = {
    1: ("Wednesday",),
    2: ("Monday", "Thursday"),
    3: ("Monday", "Wednesday", "Friday"),
    4: ("Monday", "Tuesday", "Thursday", "Friday"),
    5: ("Monday", "Tuesday", "Wednesday", "Friday", "Saturday"),
}


class MockCoach:
    name = "mock"
    cacheable = False  # free and deterministic: caching would only add state

    def __init__(self, model: str, seed: int = 0, flaw_rate: float = 0.0) -> None:
        self.model = model
        self.seed = seed
        self.flaw_rate = flaw_rate

    def close(self) -> None:
        return None

    def complete(self, request: TeacherRequest) -> TeacherOutcome:
        user = next((m["content"] for m in request.messages if m["role"] == "user"), "")
        plan = coach(user)
        content = json.dumps(plan, ensure_ascii=False)
        prompt_tokens = sum(len(m["content"]) for m in request.messages) // 4
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(content) // 4,
            "total_tokens": prompt_tokens + len(content) // 4,
        }
        raw = {
            "id": "mock-" + hashlib.sha256(content.encode()).hexdigest()[:24],
            "object": "chat.completion",
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": usage,
        }
        return TeacherOutcome("ok", "stop", content, raw, None, usage, attempt_count=1, latency_ms=0)


def coach(user_message: str) -> dict[str, Any]:
    match = _FACTS.search(user_message)
    facts: dict[str, Any] = json.loads(match.group(1)) if match else {}
    constraints = _CONSTRAINT.findall(user_message)
    choice = int(hashlib.sha256(user_message.encode()).hexdigest()[:8], 16)
    goal = facts.get("goal") or "general_fitness"
    reps, rir, rest, sets = _GOAL_PLAN.get(goal, _GOAL_PLAN["general_fitness"])
    days_per_week = int(min(max(facts.get("days_per_week") or 3, 2), 5))
    if "nonconsecutive_resistance_days" in constraints:
        days_per_week = min(days_per_week, 3)
    avoid = catalog.avoided_tags(facts.get("conditions", []), facts.get("medications", []))
    allowed = [e for e in catalog.EXERCISES if not (e.tags & avoid) and e.pattern != "conditioning"]
    lifts = {lift["exercise"]: lift["estimated_1rm_kg"] for lift in facts.get("top_lifts", [])}
    used: set[str] = set()
    days = []
    for d, weekday in enumerate(_WEEKDAYS[days_per_week]):
        focus, patterns = _DAY_FOCUS[(d + choice) % len(_DAY_FOCUS)]
        exercises = []
        for p, pattern in enumerate(patterns):
            options = [e for e in allowed if e.pattern == pattern and e.name not in used] or [
                e for e in allowed if e.pattern == pattern
            ]
            if not options:
                continue
            exercise = options[(choice >> (p + d)) % len(options)]
            used.add(exercise.name)
            one_rm = lifts.get(exercise.name)
            load = round(one_rm / (1 + (reps + rir) / 30) / 2.5) * 2.5 if one_rm else None
            exercises.append(
                {
                    "name": exercise.name,
                    "sets": sets,
                    "reps": reps,
                    "rir": rir,
                    "rest_seconds": rest,
                    "load_kg": load,
                    "notes": "Controlled tempo, stop with the prescribed reps in reserve."
                    if load is None
                    else f"Start at {load:g} kg; about {int(100 * load / one_rm)}% of your estimated max.",
                }
            )
        days.append({"day": weekday, "focus": focus, "exercises": exercises})
    safety = [{"constraint_id": c, "note": _NOTES.get(c, "Handled conservatively.")} for c in constraints]
    adherence = facts.get("adherence_rate")
    fit_note = ""
    if adherence is not None and adherence < 0.7:
        fit_note = f" You completed about {int(adherence * 100)}% of planned sessions, so the week stays short."
    return {
        "summary": f"{days_per_week}-day {goal.replace('_', ' ')} plan with {sets} sets of {reps} at RIR {rir}.",
        "days_per_week": days_per_week,
        "days": days,
        "progression": (
            f"When you beat {reps} reps on every set with {rir} reps in reserve, add 2.5-5% load next session "
            "(2-10% per ACSM); if a session feels much harder than planned, repeat the load."
        ),
        "safety_notes": safety,
        "explanation": f"{_OPENINGS[choice % len(_OPENINGS)]} {_WHY.get(goal, '')}{fit_note}".strip(),
    }
