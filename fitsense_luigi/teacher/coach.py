"""A rule-based strength coach: the mock teacher's brain.

It reads what a real teacher reads (the user message: the request in words,
the task line, the facts JSON and the safety constraints) and writes a
plan_response from them:

- rep range, reps in reserve, rest and sets from the goal (ACSM 2009), eased
  for novices and for anyone who sleeps badly or finds the plan too hard;
- days per week from the user's schedule and level, changed when the request
  asks for it, and never consecutive resistance days when a diabetes
  constraint applies;
- exercises only from the catalogue, only with the user's equipment (home or
  gym), never one whose contraindication tags the user's conditions,
  medications or injuries rule out; the current plan is kept where it can be,
  stalled or boring lifts are swapped;
- loads from the user's own estimated 1RMs (RIR-adjusted Epley inverted),
  progressed when the user is progressing and deloaded when a lift stalls;
- one safety note per constraint and an explanation worded from several
  phrase banks around the user's own numbers.

Every choice is a pure function of the message and the request seed (drawn
through ``stage_rng``), so the same input always gives the same plan.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from fitsense_luigi.contracts.rows import ContextSummary
from fitsense_luigi.physiology import WOMEN_RELATIVE_STRENGTH, epley_load
from fitsense_luigi.queries import student
from fitsense_luigi.queries.prompts import CONSTRAINTS_HEADER, FACTS_PREFIX, TASK_LINE_PREFIX, TASK_LINES
from fitsense_luigi.reference.catalogue import EXERCISES, EXERCISES_BY_NAME, Exercise
from fitsense_luigi.reference.constraints import SAFETY_CONSTRAINTS
from fitsense_luigi.reference.safety import avoided_tags
from fitsense_luigi.reference.tags import (
    DEEP_LOADED_KNEE_FLEXION,
    HEART_RATE_ZONES,
    HEAVY_SPINAL_LOADING,
    HIGH_IMPACT,
    LOADED_SPINAL_FLEXION,
    MAXIMAL_VALSALVA,
)
from fitsense_luigi.rng import stage_rng

_CONSTRAINT_LINE = re.compile(r"^- ([a-z_]+): ", re.MULTILINE)
_TASK_BY_LINE = {line: task for task, line in TASK_LINES.items()}
_LEVELS = ("novice", "intermediate", "advanced")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Which weekdays to train for n days: spread out, rest days between where the week allows.
TRAINING_DAYS = {1: (2,), 2: (0, 3), 3: (0, 2, 4), 4: (0, 1, 3, 4), 5: (0, 1, 2, 4, 5), 6: (0, 1, 2, 3, 4, 5)}


@dataclass(frozen=True)
class Scheme:
    """Prescription for one goal: reps, reps in reserve, rest (s) and sets per exercise."""

    reps: int
    rir: int
    rest_s: int
    sets: int


# ACSM 2009 position stand: strength 1-6 RM with 3-5 min rest, hypertrophy 6-12 RM with 1-2 min,
# endurance 15-25 reps with 30-60 s, general fitness 8-12 RM.
GOAL_SCHEMES = {
    "strength": Scheme(5, 2, 180, 4),
    "muscle_gain": Scheme(10, 2, 90, 3),
    "weight_loss": Scheme(12, 2, 60, 3),
    "endurance": Scheme(15, 3, 45, 3),
    "general_fitness": Scheme(10, 3, 75, 3),
}
GOAL_WORDS = {
    "strength": "strength",
    "muscle_gain": "muscle-building",
    "weight_loss": "fat-loss",
    "endurance": "endurance",
    "general_fitness": "general fitness",
}
DAY_FOCUS = {
    1: (("Full body", ("squat", "push_h", "pull_h", "hinge", "core")),),
    2: (
        ("Full body A", ("squat", "push_h", "pull_v", "core", "isolation", "carry")),
        ("Full body B", ("hinge", "push_v", "pull_h", "lunge", "core", "isolation")),
    ),
    3: (
        ("Full body A", ("squat", "push_h", "pull_v", "core", "isolation", "carry")),
        ("Full body B", ("hinge", "push_v", "pull_h", "lunge", "core", "isolation")),
        ("Full body C", ("lunge", "push_h", "pull_h", "hinge", "core", "carry")),
    ),
    4: (
        ("Lower body A", ("squat", "hinge", "lunge", "core", "isolation", "carry")),
        ("Upper body A", ("push_h", "pull_h", "push_v", "pull_v", "isolation", "core")),
        ("Lower body B", ("hinge", "squat", "lunge", "core", "isolation", "carry")),
        ("Upper body B", ("pull_v", "push_v", "pull_h", "push_h", "isolation", "core")),
    ),
    5: (
        ("Lower body", ("squat", "hinge", "lunge", "core", "isolation", "carry")),
        ("Upper push", ("push_h", "push_v", "isolation", "core", "push_h")),
        ("Upper pull", ("pull_v", "pull_h", "isolation", "carry", "pull_h")),
        ("Legs and core", ("lunge", "hinge", "squat", "core", "core")),
        ("Full body", ("squat", "push_h", "pull_v", "hinge", "core")),
    ),
}
# Injury notes -> tags a prudent coach keeps away from, even without a diagnosed condition.
INJURY_AVOIDS = {
    "knee": frozenset({HIGH_IMPACT, DEEP_LOADED_KNEE_FLEXION}),
    "back": frozenset({HEAVY_SPINAL_LOADING, LOADED_SPINAL_FLEXION}),
    "ankle": frozenset({HIGH_IMPACT}),
}
HOME_BASICS = ("dumbbells", "resistance_band", "exercise_mat")


@dataclass(frozen=True)
class Asked:
    """What the message says: the task, the user's facts, the constraints and the request's wishes."""

    task: str
    request: str
    facts: ContextSummary  # as the request's facts line carries it; empty when a message has none
    constraints: tuple[str, ...]
    days: int | None = None  # days a week the request asks for
    minutes: int | None = None  # session length the request asks for
    harder: bool = False
    easier: bool = False
    stalled: str | None = None
    bored: tuple[str, ...] = ()
    setting: str | None = None
    missing_sessions: bool = False
    flare_up: bool = False


def read_message(user_message: str) -> Asked:
    """The teacher's user message (:mod:`...queries.prompts`) or the student's (:mod:`...queries.student`)."""
    request, _, rest = user_message.partition("\n\n")
    task_line = next((ln for ln in rest.splitlines() if ln.startswith(TASK_LINE_PREFIX)), "")
    facts_line = next((ln for ln in rest.splitlines() if ln.startswith(FACTS_PREFIX)), "")
    try:
        facts = json.loads(facts_line[len(FACTS_PREFIX) :]) if facts_line else {}
    except json.JSONDecodeError:
        facts = {}
    constraints = (
        tuple(_CONSTRAINT_LINE.findall(rest.split(CONSTRAINTS_HEADER, 1)[1])) if CONSTRAINTS_HEADER in rest else ()
    )
    for line in rest.splitlines():  # the student's form: compact facts, constraint ids on one line
        facts = student.read_facts(line) or facts
        constraints = student.read_constraints(line) or constraints
    asked = Asked(
        task=_TASK_BY_LINE.get(task_line[len(TASK_LINE_PREFIX) :], "plan_creation"),
        request=request,
        facts=facts if isinstance(facts, dict) else {},
        constraints=constraints,
    )
    return _read_wishes(asked)


def _read_wishes(asked: Asked) -> Asked:
    text = asked.request.lower()
    wishes: dict[str, Any] = {}
    if m := re.search(r"(?:only make|time for) (\d) days", text):
        wishes["days"] = int(m.group(1))
    elif "extra day" in text and asked.facts.get("days_per_week"):
        wishes["days"] = int(asked.facts["days_per_week"]) + 1
    if m := re.search(r"(?:under|only have) (\d+)(?: minutes)?", text):
        wishes["minutes"] = int(m.group(1))
    wishes["harder"] = "too easy" in text or "plenty left" in text
    wishes["easier"] = any(w in text for w in ("too hard", "grinding", "close to failure"))
    if m := re.search(r"my (.+?) has been stuck", text) or re.search(r"my (.+?) is stuck", text):
        wishes["stalled"] = _exercise_named(m.group(1))
    if m := re.search(r"bored of doing (.+?) and (.+?) every week", text):
        wishes["bored"] = tuple(n for n in (_exercise_named(m.group(1)), _exercise_named(m.group(2))) if n)
    if "joined a gym" in text or "gym access" in text:
        wishes["setting"] = "gym"
    elif "training at home" in text:
        wishes["setting"] = "home"
    wishes["missing_sessions"] = "missing sessions" in text
    wishes["flare_up"] = "flares up" in text
    return replace(asked, **wishes)


def _exercise_named(words: str) -> str | None:
    words = words.strip().lower()
    return next((e.name for e in EXERCISES if e.name.lower() == words), None)


# ---------------------------------------------------------------- the plan


class Coach:
    """Plans for one message; ``self.rng`` is the only source of variety."""

    def __init__(self, asked: Asked, seed: int) -> None:
        self.asked = asked
        self.facts = asked.facts
        # keyed on the facts the student's prompt keeps too, so the teacher's and the student's form plan alike
        facts = student.compact_context(asked.facts)
        digest = hashlib.sha256((asked.request + json.dumps(facts, sort_keys=True)).encode()).digest()
        self.rng = stage_rng(seed, "teacher:mock_coach", int.from_bytes(digest[:8], "little"))
        self.level = self.facts.get("experience") if self.facts.get("experience") in _LEVELS else "novice"
        self.goal = self.facts.get("goal") if self.facts.get("goal") in GOAL_SCHEMES else "general_fitness"
        self.changes: list[str] = []  # what was adapted and why, for the explanation

    def pick(self, options: tuple[str, ...] | list[str]) -> str:
        return options[int(self.rng.integers(len(options)))]

    # -- decisions
    def scheme(self) -> Scheme:
        s = GOAL_SCHEMES[self.goal]
        sets = (
            s.sets - (self.level == "novice") + (self.level == "advanced" and self.goal in ("strength", "muscle_gain"))
        )
        rir = s.rir + (self.level == "novice")
        sleep = self.facts.get("avg_sleep_h")
        if sleep is not None and sleep < 6.5:
            sets, rir = sets - 1, rir + 1
            self.changes.append(f"one set less and more reps in reserve while you sleep about {sleep:g} h")
        if self.asked.easier:
            sets, rir = sets - 1, rir + 1
            self.changes.append("fewer sets and one more rep in reserve, since it felt too hard")
        if self.asked.harder:
            sets, rir = sets + 1, rir - 1
            self.changes.append("an extra set and closer to failure, since it felt too easy")
        if self.asked.task == "safety_adjustment":
            rir = max(rir, 2)
        return Scheme(s.reps, int(np.clip(rir, 1, 4)), s.rest_s, int(np.clip(sets, 2, 5)))

    def days_per_week(self) -> int:
        current = int(self.facts.get("days_per_week") or 3)
        cap = {"novice": 3, "intermediate": 4, "advanced": 5}[self.level]
        if self.asked.days:
            days = self.asked.days
            self.changes.append(f"{days} days a week, as you asked")
        else:
            days = min(current, cap) if self.asked.task == "plan_creation" else current
        adherence = self.facts.get("adherence_rate")
        if (self.asked.missing_sessions or (adherence is not None and adherence < 0.7)) and days > 2:
            days -= 1
            why = (
                "you keep missing sessions"
                if adherence is None
                else f"you completed about {adherence:.0%} of your sessions"
            )
            self.changes.append(f"one day fewer, since {why}")
        if "nonconsecutive_resistance_days" in self.asked.constraints and days > 3:
            days = 3
        return int(np.clip(days, 2, 5))

    def equipment(self) -> frozenset[str] | None:
        """The equipment at hand; None means a full gym."""
        setting = self.asked.setting or self.facts.get("training_setting") or "gym"
        if setting == "gym":
            return None
        if self.asked.setting == "home":
            return frozenset(HOME_BASICS)
        return frozenset(self.facts.get("equipment") or HOME_BASICS) | {"exercise_mat"}  # a mat is always at hand

    def avoided(self) -> frozenset[str]:
        tags = set(avoided_tags(self.facts.get("conditions", []), self.facts.get("medications", [])))
        injury = (self.facts.get("injury_details") or "").lower()
        for word, more in INJURY_AVOIDS.items():
            if word in injury:
                tags |= more
                if self.asked.flare_up and f"nothing that aggravates your {word}" not in self.changes:
                    self.changes.append(f"nothing that aggravates your {word}")
        return frozenset(tags)

    def exercises_per_day(self) -> int:
        count = {"novice": 4, "intermediate": 5, "advanced": 6}[self.level]
        minutes = self.asked.minutes
        if minutes:
            count = int(np.clip(minutes // 10, 3, count))
            self.changes.append(f"{count} exercises a day to stay under {minutes} minutes")
        return count


def plan_for(user_message: str, seed: int) -> dict[str, Any]:
    """The mock teacher's answer to one user message, as a plan_response object."""
    asked = read_message(user_message)
    coach = Coach(asked, seed)
    scheme = coach.scheme()
    days_per_week = coach.days_per_week()
    gear, avoid = coach.equipment(), coach.avoided()
    allowed = [
        e
        for e in EXERCISES
        if not (e.tags & avoid) and (gear is None or set(e.equipment) <= gear) and e.pattern != "conditioning"
    ]
    swap_out = {asked.stalled, *asked.bored} - {None}
    keep = (
        [n for n in coach.facts.get("plan_exercises", []) if n not in swap_out] if asked.task != "plan_creation" else []
    )
    per_day = coach.exercises_per_day()
    lifts = {lift["exercise"]: lift for lift in coach.facts.get("top_lifts", [])}
    days = []
    used: set[str] = set(swap_out)  # a swapped lift returns only when nothing else fits its pattern
    for d, (focus, patterns) in enumerate(DAY_FOCUS[days_per_week]):
        chosen = _choose(coach, allowed, patterns, per_day, keep, used, full_gym=gear is None)
        finisher = _finisher(coach, avoid, gear)
        items = [_prescribe(coach, e, scheme, lifts) for e in chosen]
        if finisher:
            items.append(finisher)
        days.append({"day": WEEKDAYS[TRAINING_DAYS[days_per_week][d]], "focus": focus, "exercises": items})
    replaced = sorted(n for n in swap_out if n)
    if replaced:
        coach.changes.append("swapped " + " and ".join(replaced) + " for fresh variations")
    unsafe_now = [n for n in coach.facts.get("plan_exercises", []) if _tags(n) & avoid]
    plan = {
        "summary": _summary(coach, days_per_week, scheme, days),
        "days_per_week": days_per_week,
        "days": days,
        "progression": _progression(coach, scheme),
        "safety_notes": [{"constraint_id": c, "note": _safety_note(coach, c)} for c in asked.constraints],
        "explanation": _explanation(coach, scheme, days_per_week, unsafe_now),
    }
    return {"answer": _first_sentence(plan["explanation"]), **plan}  # schema v3: the direct reply comes first


def _first_sentence(text: str) -> str:
    """The explanation's opening line, which introduces the plan (schema v3's ``answer``)."""
    match = re.match(r"(.+?[.!?])(?:\s|$)", text)
    return (match.group(1) if match else text)[:800]


def _tags(name: str) -> frozenset[str]:
    exercise = EXERCISES_BY_NAME.get(name)
    return exercise.tags if exercise else frozenset()


MAIN_PATTERNS = frozenset({"squat", "hinge", "push_h", "push_v", "pull_h", "pull_v", "lunge"})
_LEVEL_RANK = {"beginner": 0, "intermediate": 1, "advanced": 2}


def _choose(
    coach: Coach,
    allowed: list[Exercise],
    patterns: tuple[str, ...],
    count: int,
    keep: list[str],
    used: set[str],
    full_gym: bool,
) -> list[Exercise]:
    """Up to ``count`` exercises, one per pattern in order: the user's current one where allowed, else the
    best fit for their level (and loaded main lifts in a gym); a random pick among equally good ones."""
    ceiling = _LEVELS.index(coach.level)

    def fit(e: Exercise) -> int:
        gap = _LEVEL_RANK[e.level] - ceiling
        score = 0 if -1 <= gap <= 0 else 1 if gap < -1 else 3
        score += full_gym and e.pattern in MAIN_PATTERNS and e.load in ("bodyweight", "band")
        return score - 2 * (e.name in keep)

    chosen: list[Exercise] = []
    for pattern in patterns:
        if len(chosen) == count:
            break
        fitting = [e for e in allowed if e.pattern == pattern and e not in chosen]
        options = [e for e in fitting if e.name not in used] or fitting  # repeat a lift rather than skip a pattern
        if not options:
            continue
        best = min(fit(e) for e in options)
        pool = [e for e in options if fit(e) == best]
        exercise = pool[int(coach.rng.integers(len(pool)))]
        used.add(exercise.name)
        chosen.append(exercise)
    if not chosen and allowed:  # equipment and health rule out every planned pattern: body-weight basics
        chosen = [allowed[int(i)] for i in coach.rng.choice(len(allowed), size=min(3, len(allowed)), replace=False)]
    return chosen


def _finisher(coach: Coach, avoid: frozenset[str], gear: frozenset[str] | None) -> dict[str, Any] | None:
    """Short low-impact conditioning for endurance and fat-loss goals, when nothing rules it out."""
    if coach.goal not in ("endurance", "weight_loss") or coach.asked.minutes:
        return None  # a finisher is for goals that need it, and only when time allows
    options = [
        e
        for e in EXERCISES
        if e.pattern == "conditioning" and not (e.tags & avoid) and (gear is None or set(e.equipment) <= gear)
    ]
    if not options:
        return None
    exercise = options[int(coach.rng.integers(len(options)))]
    return {
        "name": exercise.name,
        "sets": 6,
        "reps": None,
        "seconds": 30,  # schema v3: interval work is timed
        "rir": None,
        "rest_seconds": 60,
        "load_kg": None,
        "notes": "Intervals: each set is 30 seconds hard, 60 seconds easy; effort about 7 out of 10 (RPE).",
    }


def _prescribe(coach: Coach, exercise: Exercise, scheme: Scheme, lifts: dict[str, Any]) -> dict[str, Any]:
    reps, rir = scheme.reps, scheme.rir
    load, note = _load(coach, exercise, reps, rir, lifts.get(exercise.name))
    return {
        "name": exercise.name,
        "sets": scheme.sets,
        "reps": None if exercise.timed else reps,  # schema v3: holds and carries in seconds, without RIR
        "seconds": reps if exercise.timed else None,
        "rir": None if exercise.timed else rir,
        "rest_seconds": scheme.rest_s if exercise.pattern not in ("isolation", "core") else min(scheme.rest_s, 60),
        "load_kg": load,
        "notes": note,
    }


def _load(
    coach: Coach, exercise: Exercise, reps: int, rir: int, lift: dict[str, Any] | None
) -> tuple[float | None, str]:
    step = 1.0 if exercise.load in ("dumbbell", "kettlebell") else 2.5
    cues = (
        "Controlled tempo, full range of motion.",
        "Smooth reps; stop with the prescribed reps in reserve.",
        "Own the lowering phase, then drive up.",
        "Keep the form crisp; quality over load.",
    )
    if exercise.load in ("bodyweight", "band", "cardio"):
        return None, coach.pick(cues)
    if lift:
        one_rm = float(lift["estimated_1rm_kg"])
        change = lift.get("change_kg")
        factor = 1.0
        if change is not None and change <= 0.5:
            factor = 0.9  # stalled: deload and build back
        elif coach.asked.task == "progress_adaptation" and (coach.facts.get("adherence_rate") or 0) >= 0.8:
            factor = 1.025
        load = max(round(epley_load(one_rm, reps + rir) * factor / step) * step, step)
        percent = round(100 * load / one_rm)
        if factor < 1:
            return load, f"Deload to {load:g} kg (~{percent}% of your {one_rm:g} kg estimate) and build back up."
        return load, f"Start at {load:g} kg, about {percent}% of your estimated max of {one_rm:g} kg."
    weight = coach.facts.get("weight_kg")
    if not weight or exercise.strength_ratio <= 0:
        return None, "Pick a load you could lift for " + f"{reps + rir} reps; " + coach.pick(cues).lower()
    sex = WOMEN_RELATIVE_STRENGTH if coach.facts.get("sex") == "female" else 1.0
    level = {"novice": 0.7, "intermediate": 1.0, "advanced": 1.25}[coach.level]
    one_rm = exercise.strength_ratio * float(weight) * sex * level * 0.85  # conservative first guess
    load = max(round(epley_load(one_rm, reps + rir) / step) * step, step)
    return load, f"Suggested start: {load:g} kg; adjust so that {rir} reps stay in reserve."


# ---------------------------------------------------------------- the words


def _summary(coach: Coach, days: int, scheme: Scheme, plan_days: list[dict[str, Any]]) -> str:
    focuses = ", ".join(d["focus"].lower() for d in plan_days)
    return (
        f"{days}-day {GOAL_WORDS[coach.goal]} plan ({focuses}): {scheme.sets} sets of {scheme.reps} "
        f"with {scheme.rir} reps in reserve."
    )


def _progression(coach: Coach, scheme: Scheme) -> str:
    top = scheme.reps + 2
    base = coach.pick(
        (
            f"Double progression: when you reach {top} reps on every set with {scheme.rir} in reserve, add "
            f"2.5-5% load and drop back to {scheme.reps} reps.",
            f"Once all {scheme.sets} sets reach {top} reps at the same effort, raise the load by 2.5-5% "
            f"(2-10% per ACSM) and start again at {scheme.reps}.",
            f"Add a rep per set each week up to {top}; then add the smallest load step and go back to "
            f"{scheme.reps} reps.",
        )
    )
    extra = []
    if coach.level == "novice":
        extra.append("Expect to add load most weeks at first.")
    if coach.facts.get("avg_sleep_h") is not None and coach.facts["avg_sleep_h"] < 6.5:
        extra.append("Hold the load on days after a short night.")
    extra.append(
        coach.pick(("Every 5th week, cut the sets in half to recover.", "Plan an easier week every 4-6 weeks."))
    )
    return " ".join([base, *extra])


SAFETY_NOTES: dict[str, tuple[str, ...]] = {
    "avoid_valsalva": (
        "Exhale on every effort and never hold your breath; no maximal singles, every set stops short of failure.",
        "Breathe out as you push and keep breathing rhythmically - no breath-holding (Valsalva) and no max attempts.",
    ),
    "rpe_not_heart_rate": (
        "Your beta-blocker lowers your heart rate, so judge effort by RPE (how hard it feels, 6-7 out of 10) rather "
        "than heart-rate zones.",
        "Heart rate is not a reliable guide on your medication: use perceived exertion (RPE 6-7 of 10) and reps in "
        "reserve instead of heart-rate zones.",
    ),
    "low_impact_knee": (
        "Everything here is low-impact for your knee: no jumping or running drills, and squats stay pain-free.",
        "I kept the plan low impact to protect your knee - no jumps, and knee-friendly ranges of motion.",
    ),
    "protect_lower_back": (
        "To protect your back there is no heavy loaded spinal flexion; add load gradually and keep a neutral spine.",
        "Your lower back is protected: no loaded spinal flexion, braced neutral spine, and slow load increases.",
    ),
    "nonconsecutive_resistance_days": (
        "Resistance sessions fall on non-consecutive days, with a rest day between sessions.",
        "There is always a rest day between sessions, so no two resistance days are consecutive (non-consecutive "
        "days help glucose control).",
    ),
    "hypoglycaemia_watch": (
        "Check your glucose before and after sessions and keep fast carbohydrate at hand.",
        "Because of your medication, test your glucose around training and carry fast carbohydrate "
        "(glucose tablets or juice).",
    ),
    "asthma_warmup_inhaler": (
        "Warm up gradually for 10 minutes and keep your reliever inhaler at hand.",
        "Start every session with a gradual 10-minute warm-up and have your inhaler within reach.",
    ),
}


def _safety_note(coach: Coach, constraint_id: str) -> str:
    notes = SAFETY_NOTES.get(constraint_id)
    if notes:
        return coach.pick(notes)
    known = SAFETY_CONSTRAINTS.get(constraint_id)
    return f"Handled conservatively: {known.text}" if known else "Handled conservatively."


OPENINGS = {
    "plan_creation": (
        "Here's a plan built around what you told me.",
        "Great goal - here's how I'd set up your week.",
        "Let's get you started with a plan you can stick to.",
        "Here's a week that fits your schedule and your goal.",
    ),
    "plan_modification": (
        "I've reworked your plan around what's changed.",
        "Good call asking - here's the adjusted plan.",
        "Here's your updated plan, keeping what works.",
        "I've changed the plan so it fits you better.",
    ),
    "safety_adjustment": (
        "Training is still great for you; this version is built around your health.",
        "Here's a safer version of your training that still moves you forward.",
        "You can keep training - these are the changes I'd make for your health.",
        "Good that you asked: here's a plan that respects your conditions.",
    ),
    "progress_adaptation": (
        "Nice work so far - here's your next block.",
        "Here's how I'd build on what you've done.",
        "Based on your last few weeks, this is the next step.",
        "Your progress tells me what to adjust; here's the plan.",
    ),
}
WHY = {
    "strength": (
        "Sets of about 5 with long rests build strength while leaving reps in reserve.",
        "Heavier, lower-rep work with full recovery between sets drives strength.",
    ),
    "muscle_gain": (
        "Around 10 reps with 60-120 s rests is the sweet spot for building muscle.",
        "Moderate loads for 8-12 reps and plenty of weekly sets grow muscle best.",
    ),
    "weight_loss": (
        "Keeping strength work in your week protects muscle while you eat a little less.",
        "Lifting while in a small calorie deficit makes sure the weight you lose is mostly fat.",
    ),
    "endurance": (
        "Lighter loads for higher reps with short rests build muscular endurance.",
        "Higher reps and short rests train your muscles to keep going for longer.",
    ),
    "general_fitness": (
        "A balanced mix of movement patterns keeps every major muscle group working.",
        "Covering squat, hinge, push, pull and core keeps you fit all round.",
    ),
}


def _explanation(coach: Coach, scheme: Scheme, days: int, unsafe_now: list[str]) -> str:
    f = coach.facts
    parts = [coach.pick(OPENINGS[coach.asked.task]), coach.pick(WHY[coach.goal])]
    adherence = f.get("adherence_rate")
    if adherence is not None and coach.asked.task in ("progress_adaptation", "plan_modification"):
        pct = round(100 * adherence)
        parts.append(
            coach.pick((f"You've completed about {pct}% of your sessions.", f"Your consistency is around {pct}%."))
        )
    change = f.get("weight_change_kg")
    if change is not None and coach.asked.task == "progress_adaptation" and abs(change) >= 0.5:
        direction = "down" if change < 0 else "up"
        parts.append(f"You're {direction} {abs(change):g} kg over the last {f.get('window_days', 84) // 7} weeks.")
    if coach.asked.task == "safety_adjustment":
        left_out = [AVOIDED_WORDS[t] for t in sorted(coach.avoided()) if t in AVOIDED_WORDS]
        if unsafe_now:
            parts.append(f"I took out {' and '.join(unsafe_now[:2])} because of your {_condition_words(f)}.")
        if left_out:
            parts.append(coach.pick(("Avoid ", "Leave out ", "Steer clear of ")) + " and ".join(left_out) + ".")
    if coach.changes:
        parts.append(
            coach.pick(("What changed: ", "Changes: ", "I made these changes: ")) + "; ".join(coach.changes[:3]) + "."
        )
    parts.append(
        coach.pick(
            (
                f"Train {days} days a week and leave {scheme.rir} reps in the tank on each set.",
                f"{days} sessions a week, each set stopping {scheme.rir} reps short of failure.",
                "Log your sets so we can adjust next time.",
                "Tell me how the first two weeks feel and we'll fine-tune it.",
            )
        )
    )
    return " ".join(parts)


AVOIDED_WORDS = {
    HIGH_IMPACT: "jumping and other high-impact drills",
    DEEP_LOADED_KNEE_FLEXION: "deep loaded knee bends",
    HEAVY_SPINAL_LOADING: "heavy bar-on-back loading",
    LOADED_SPINAL_FLEXION: "loaded sit-ups and crunches",
    MAXIMAL_VALSALVA: "maximal, breath-holding lifts",
    HEART_RATE_ZONES: "heart-rate-zone intervals",
}


def _condition_words(facts: ContextSummary) -> str:
    names = [c.replace("_", " ") for c in facts.get("conditions", [])]
    return " and ".join(names) or "health"
