"""Sets, rep ranges or seconds, reps in reserve, rest and loads, and notes that fit each exercise.

Rep work follows the goal (ACSM 2009 position stand: strength 1-6 RM with
3-5 min rest, hypertrophy 6-12 RM with 1-2 min, endurance 15-25 reps with
30-60 s; novices 8-12 RM), eased for novices, short sleep or "too hard",
pushed for "too easy", and kept inside the listed rules' rep and
reps-in-reserve floors. Holds, carries and intervals are prescribed in
seconds with no reps in reserve (a plank of 20-60 s). Loads come from the
user's own estimated maxes (RIR-adjusted Epley inverted), deloaded for a
stalled lift that stays, nudged up after a block of good attendance. Notes say
what matters for that exercise: the load and why for a lift, a movement cue
for body-weight work, time and breathing for a hold, never a repetition cue
on timed work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fitsense_luigi.physiology import WOMEN_RELATIVE_STRENGTH, epley_load
from fitsense_luigi.reference.catalogue import Exercise
from fitsense_luigi.teacher.coach.planning import Change, Coach


@dataclass(frozen=True)
class Scheme:
    """Rep work for one plan: a rep range, reps in reserve, rest (s) and sets per exercise."""

    low: int
    high: int
    rir: int
    rest_s: int
    sets: int

    @property
    def reps(self) -> int | str:
        return f"{self.low}-{self.high}" if self.low < self.high else self.low


GOAL_SCHEMES = {
    "strength": Scheme(4, 6, 2, 180, 4),
    "muscle_gain": Scheme(8, 12, 2, 90, 3),
    "weight_loss": Scheme(10, 15, 2, 60, 3),
    "endurance": Scheme(15, 20, 3, 45, 3),
    "general_fitness": Scheme(8, 12, 3, 75, 3),
}
HOLD_SECONDS = {"novice": 25, "intermediate": 40, "advanced": 50}  # planks: typically 20-60 s
CARRY_SECONDS = {"novice": 30, "intermediate": 40, "advanced": 45}
INTERVALS = {"novice": (6, 30, 90), "intermediate": (8, 40, 75), "advanced": (8, 45, 60)}  # rounds, work s, rest s
LEVEL_STRENGTH = {"novice": 0.7, "intermediate": 1.0, "advanced": 1.25}  # vs the catalogue's intermediate ratio
ONE_WEIGHT = frozenset({"Goblet Squat", "One-Arm Dumbbell Row", "Weighted Sit-Up", "Kettlebell Swing"})  # not a pair


def scheme(coach: Coach) -> Scheme:
    base = GOAL_SCHEMES.get(coach.goal, GOAL_SCHEMES["general_fitness"])
    low, high = (6, 8) if coach.goal == "strength" and coach.level == "novice" else (base.low, base.high)
    sets = (
        base.sets
        - (coach.level == "novice")
        + (coach.level == "advanced" and coach.goal in ("strength", "muscle_gain"))
    )
    rir = base.rir + (coach.level == "novice")
    sleep = coach.facts.get("avg_sleep_h")
    if sleep is not None and sleep < 6.5:
        sets, rir = sets - 1, rir + 1
        coach.changes.append(Change("short_sleep", {"hours": sleep}))
    if coach.asked.easier:
        sets, rir = sets - 1, rir + 1
        coach.changes.append(Change("easier", {"rir": coach.facts.get("avg_working_set_rir")}))
    if coach.asked.harder:
        sets, rir = sets + 1, rir - 1
        coach.changes.append(Change("harder", {"rir": coach.facts.get("avg_working_set_rir")}))
    if coach.asked.task == "safety_adjustment":
        rir = max(rir, 2)
    floor = coach.limits.min_reps
    if floor is not None and low < floor:
        coach.changes.append(Change("rep_floor", {"was": f"{low}-{high}", "floor": floor}))
        low, high = floor, max(high, floor + 2)
    rir = int(np.clip(max(rir, coach.limits.min_rir or 0), 1, 4))
    return Scheme(low, high, rir, base.rest_s, int(np.clip(sets, 2, 5)))


def prescribe(coach: Coach, exercise: Exercise, plan: Scheme, lifts: dict[str, Any]) -> dict[str, Any]:
    """One exercise of the plan as schema v3 writes it."""
    if exercise.work == "hold":
        return _timed(coach, exercise, 2 if coach.level == "novice" else 3, _hold_seconds(coach, exercise), 45)
    if exercise.work == "carry":
        return _carry(coach, exercise)
    if exercise.work == "interval":
        rounds, work, rest = INTERVALS[coach.level]
        return _timed(coach, exercise, rounds, work, rest)
    if exercise.pattern == "conditioning":  # jump or calisthenic drills: counted, paced by feel
        reps = "20-30" if exercise.name == "Jumping Jacks" else "8-10"
        return _item(exercise, 3, reps, None, None, 60, None, coach.pick(_CUES["jump"]))
    load, note = _load(coach, exercise, plan, lifts.get(exercise.name))
    rest = plan.rest_s if exercise.pattern not in ("isolation", "core") else min(plan.rest_s, 60)
    return _item(exercise, plan.sets, plan.reps, None, plan.rir, rest, load, note)


def _item(exercise: Exercise, sets: int, reps: Any, seconds: int | None, rir: int | None, rest: int,
          load: float | None, notes: str) -> dict[str, Any]:  # fmt: skip
    return {
        "name": exercise.name,
        "sets": sets,
        "reps": reps,
        "seconds": seconds,
        "rir": rir,
        "rest_seconds": rest,
        "load_kg": load,
        "notes": notes,
    }


def _hold_seconds(coach: Coach, exercise: Exercise) -> int:
    seconds = HOLD_SECONDS[coach.level] + 5 * int(coach.rng.integers(-1, 2))
    if exercise.name == "Side Plank":
        seconds -= 10  # per side
    if exercise.name == "Wall Sit":
        seconds += 10
    return max(seconds, 20)


def _timed(coach: Coach, exercise: Exercise, sets: int, seconds: int, rest: int) -> dict[str, Any]:
    key = exercise.work if exercise.work == "interval" else exercise.name
    note = coach.pick(_TIMED_NOTES.get(key, _TIMED_NOTES["hold"])).format(s=seconds, rest=rest, sets=sets)
    return _item(exercise, sets, None, seconds, None, rest, None, note)


def _carry(coach: Coach, exercise: Exercise) -> dict[str, Any]:
    seconds = CARRY_SECONDS[coach.level]
    load = _first_guess(coach, exercise, reps=12)  # a load you could hold for a long set
    hands = f"{load:g} kg in each hand" if load else "a pair of heavy dumbbells"
    note = coach.pick(_TIMED_NOTES["carry"]).format(s=seconds, hands=hands)
    return _item(exercise, 3, None, seconds, None, 75, load, note)


def _first_guess(coach: Coach, exercise: Exercise, reps: int) -> float | None:
    """A conservative starting load from body weight, sex and level, for a lift the user has not logged."""
    weight = coach.facts.get("weight_kg")
    if not weight or exercise.strength_ratio <= 0:
        return None
    sex = WOMEN_RELATIVE_STRENGTH if coach.facts.get("sex") == "female" else 1.0
    one_rm = exercise.strength_ratio * float(weight) * sex * LEVEL_STRENGTH[coach.level] * 0.85
    step = _step(exercise)
    return max(round(epley_load(one_rm, reps) / step) * step, step)


def _step(exercise: Exercise) -> float:
    return 1.0 if exercise.load in ("dumbbell", "kettlebell") else 2.5


def _load(coach: Coach, exercise: Exercise, plan: Scheme, lift: dict[str, Any] | None) -> tuple[float | None, str]:
    cue = coach.pick(_CUES.get(exercise.pattern, _CUES["isolation"]))
    if exercise.load in ("bodyweight", "band", "cardio"):
        return None, f"{cue} {coach.pick(_RESERVE).format(rir=plan.rir)}"
    step = _step(exercise)
    hand = " per hand" if exercise.load == "dumbbell" and exercise.name not in ONE_WEIGHT else ""
    if lift:
        one_rm = float(lift["estimated_1rm_kg"])
        change = lift.get("change_kg")
        factor = 1.0
        if change is not None and change <= 0.5:
            factor = 0.9  # stalled and kept: deload and build back
        elif coach.asked.task == "progress_adaptation" and (coach.facts.get("adherence_rate") or 0) >= 0.8:
            factor = 1.025
        load = max(round(epley_load(one_rm, plan.low + plan.rir) * factor / step) * step, step)
        slots = {"load": f"{load:g}", "pct": round(100 * load / one_rm), "max": f"{one_rm:g}", "hand": hand}
        bank = _DELOAD if factor < 1 else _FROM_MAX
        return load, coach.pick(bank).format(**slots)
    load = _first_guess(coach, exercise, plan.low + plan.rir)
    if load is None:
        return None, f"{cue} {coach.pick(_RESERVE).format(rir=plan.rir)}"
    return load, coach.pick(_FIRST_GUESS).format(load=f"{load:g}", hand=hand, rir=plan.rir, cue=cue.lower())


_FROM_MAX = (
    "Start at {load} kg{hand}, about {pct}% of your estimated {max} kg max.",
    "{load} kg{hand} to begin: roughly {pct}% of the {max} kg max your logs point to.",
    "Work sets at {load} kg{hand} ({pct}% of your {max} kg estimate).",
    "Your logs put your max near {max} kg, so {load} kg{hand} (~{pct}%) is the working weight.",
)
_DELOAD = (
    "Drop to {load} kg{hand} (~{pct}% of your {max} kg estimate) for two weeks, then build back up.",
    "Reset to {load} kg{hand}, about {pct}% of {max} kg, and climb again from there.",
    "Back off to {load} kg{hand} ({pct}% of your {max} kg max) to get it moving again.",
)
_FIRST_GUESS = (
    "Try {load} kg{hand} on the first set and adjust so {rir} reps stay in reserve; {cue}",
    "A first guess is {load} kg{hand}: if more than {rir} reps are left at the end of a set, go heavier; {cue}",
    "Start near {load} kg{hand} and settle on a weight that leaves {rir} reps in the tank; {cue}",
)
_RESERVE = (
    "Stop each set with {rir} good reps left.",
    "End every set {rir} reps short of failure.",
    "Leave {rir} reps in reserve on each set.",
    "Finish each set knowing you had {rir} more in you.",
)
_CUES = {
    "squat": (
        "Sit down between your heels and keep your chest tall.",
        "Knees track over the toes all the way down.",
        "Brace before you descend and stand up through the whole foot.",
    ),
    "hinge": (
        "Push the hips back and keep the spine long.",
        "Hinge until you feel the hamstrings, then drive the hips through.",
        "Keep the weight close to your legs the whole way.",
    ),
    "lunge": (
        "Take a long stride and keep the front knee over the foot.",
        "Lower under control and push up through the front heel.",
        "Stay tall through the trunk; a short pause at the bottom helps balance.",
    ),
    "push_h": (
        "Shoulder blades back and down, elbows at about 45 degrees.",
        "Lower with control and press without bouncing.",
        "Keep your whole body in one line.",
    ),
    "push_v": (
        "Squeeze glutes and abs so the lower back does not arch.",
        "Press straight up and finish with the biceps by the ears.",
        "Keep the ribs down as you press.",
    ),
    "pull_h": (
        "Lead with the elbows and squeeze the shoulder blades together.",
        "Pull to the lower ribs and pause for a second.",
        "Keep the torso still; no swinging.",
    ),
    "pull_v": (
        "Start each rep by pulling the shoulders down.",
        "Pull the elbows to your sides and control the way up.",
        "Full hang at the bottom, chest up at the top.",
    ),
    "core": (
        "Ribs down and the lower back quiet on the floor.",
        "Move slowly and breathe out as you reach.",
        "Keep the trunk still while the limbs move.",
    ),
    "isolation": (
        "Slow and controlled, no swinging.",
        "Squeeze at the top and take two seconds on the way down.",
        "Move only at the working joint.",
    ),
    "jump": (
        "Land softly and quietly, knees in line with the toes; reset between reps.",
        "Quality over speed: stop the set when landings get loud.",
        "Stick each landing before the next rep; effort about 7 out of 10.",
    ),
}
_TIMED_NOTES = {
    "Plank": (
        "Hold {s} s with a straight line from head to heels, breathing steadily.",
        "{s} s per set: elbows under shoulders, glutes tight, keep breathing.",
        "Brace as if bracing for a nudge and hold {s} s; breathe normally throughout.",
    ),
    "Side Plank": (
        "Hold {s} s on each side, hips high and stacked, breathing steadily.",
        "{s} s per side: elbow under the shoulder, body in one line.",
        "Each side {s} s; if the hips sag, drop to the knees and keep the time.",
    ),
    "Wall Sit": (
        "Hold {s} s with thighs near parallel and the back flat on the wall; breathe steadily.",
        "{s} s per set, knees over the ankles; slide higher if the knees complain.",
    ),
    "hold": ("Hold {s} s per set, breathing steadily.",),
    "carry": (
        "Walk tall for {s} s with {hands}; shoulders down, short steady steps.",
        "{s} s walks with {hands}: stand tall, grip hard, no leaning.",
        "Carry {hands} for {s} s, breathing steadily; set them down before your grip fails.",
    ),
    "interval": (
        "{sets} rounds of {s} s hard (effort 7-8 out of 10, RPE) and {rest} s easy.",
        "Work {s} s at an effort of 7-8 out of 10, then {rest} s easy; {sets} rounds.",
        "{sets} x {s} s strong, {rest} s easy between: judge it by feel (RPE 7-8), not by a watch.",
    ),
}
