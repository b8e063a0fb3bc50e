"""What the plan may hold and what it holds: the listed safety rules, the equipment at hand, days, exercises.

The rules are the ones the message lists (``reference.safety``): each rules
exercises out and may limit the days or the reps. The equipment is the user's
list (or the new setting the request names) plus a mat. Days follow the
user's schedule, level (ACSM 2009: novices 2-3 days a week), wishes and the
rules' limits, spread so no two fall together when a rule asks for it. Each
day's exercises fill its movement patterns with the user's current lifts
where they are allowed, else the best fit for their level; a stalled lift or
one they are bored of is swapped out and never brought back.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from fitsense_luigi.queries import student
from fitsense_luigi.reference import frequency
from fitsense_luigi.reference.catalogue import EXERCISES, EXERCISES_BY_NAME, LEVELS, Exercise
from fitsense_luigi.reference.equipment import ALWAYS_AT_HAND
from fitsense_luigi.reference.safety import INJURY_REGIONS, RULES, Limits, SafetyRule, excluded_by, known, limits_of
from fitsense_luigi.rng import stage_rng
from fitsense_luigi.teacher.coach.reading import Asked

EXPERIENCE = ("novice", "intermediate", "advanced")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Which weekdays to train for n days: spread out, rest days between where the week allows (1-3 never back to back).
TRAINING_DAYS = {1: (2,), 2: (0, 3), 3: (0, 2, 4), 4: (0, 1, 3, 4), 5: (0, 1, 2, 4, 5)}
DAYS_BY_LEVEL = {"novice": 3, "intermediate": 4, "advanced": 5}  # ACSM 2009: 2-3, 3-4, 4-5 days a week
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
MAIN_PATTERNS = frozenset({"squat", "hinge", "push_h", "push_v", "pull_h", "pull_v", "lunge"})
_LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS)}


@dataclass(frozen=True)
class Session:
    day: str
    focus: str
    exercises: tuple[Exercise, ...]
    finisher: Exercise | None = None


@dataclass
class Change:
    """One thing adapted to the user, with the reason in their terms (the wording turns it into sentences)."""

    what: str  # fewer_days, more_days, level_days, capped_days, gradual_days, missing (days); shorter, easier,
    # harder, short_sleep, swapped, bored, setting, flare_up
    detail: dict = field(default_factory=dict)


class Coach:
    """Plans for one message; ``self.rng`` is the only source of variety."""

    def __init__(self, asked: Asked, seed: int) -> None:
        self.asked = asked
        self.facts = asked.facts
        # keyed on the facts the student's prompt keeps too, so the teacher's and the student's form plan alike
        facts = student.compact_context(asked.facts)
        digest = hashlib.sha256((asked.request + json.dumps(facts, sort_keys=True)).encode()).digest()
        self.rng = stage_rng(seed, "teacher:mock_coach", int.from_bytes(digest[:8], "little"))
        self.level = self.facts.get("experience") if self.facts.get("experience") in EXPERIENCE else "novice"
        self.goal = self.facts.get("goal") or "general_fitness"
        self.rules: list[SafetyRule] = known(asked.constraints)
        self.limits: Limits = limits_of(asked.constraints)
        self.changes: list[Change] = []

    def pick(self, options: tuple[str, ...] | list[str]) -> str:
        return options[int(self.rng.integers(len(options)))]

    # -- what is allowed
    @cached_property
    def at_hand(self) -> frozenset[str]:
        listed = (
            self.asked.equipment if self.asked.equipment is not None else frozenset(self.facts.get("equipment") or ())
        )
        if self.asked.equipment is not None:
            self.changes.append(Change("setting", {"equipment": sorted(listed)}))
        return frozenset(listed) | ALWAYS_AT_HAND

    def ruled_out(self, exercise: Exercise) -> list[tuple[str, str]]:
        """(rule id, reason) of the listed rules that leave ``exercise`` out, plus a flaring injury's region."""
        found = excluded_by(exercise, self.asked.constraints)
        if self.asked.flare_up:
            found += [(r, why) for r, why in excluded_by(exercise, self.flaring_rules) if r not in dict(found)]
        return found

    @cached_property
    def flaring_rules(self) -> tuple[str, ...]:
        """Rules of an injury the user says flares up, listed or not: a flare-up makes it current."""
        words = (self.facts.get("injury_details") or "").lower()
        regions = {r for r, names in INJURY_REGIONS.items() if any(n in words for n in names)}
        return tuple(
            rule.rule_id
            for rule in RULES.values()
            if any(f.field == "injury" and f.value in regions for f in rule.applies_when)
        )

    def fits_gear(self, exercise: Exercise) -> bool:
        return set(exercise.equipment) <= self.at_hand

    @cached_property
    def unsafe_now(self) -> list[str]:
        """Exercises of the user's current plan that a listed rule rules out."""
        return [
            n
            for n in self.facts.get("plan_exercises") or []
            if n in EXERCISES_BY_NAME and self.ruled_out(EXERCISES_BY_NAME[n])
        ]

    @cached_property
    def swap_out(self) -> frozenset[str]:
        """Lifts to leave out this block: the ones the user is bored of, and a stalled lift when the catalogue has
        another of its pattern the user may do."""
        out = set(self.asked.bored)
        stalled = EXERCISES_BY_NAME.get(self.asked.stalled or "")
        if stalled and any(e.pattern == stalled.pattern and e is not stalled for e in self.allowed(frozenset(out))):
            out.add(stalled.name)
        return frozenset(out)

    def allowed(self, leave_out: frozenset[str] | None = None) -> list[Exercise]:
        leave_out = self.swap_out if leave_out is None else leave_out
        return [
            e
            for e in EXERCISES
            if e.pattern != "conditioning" and self.fits_gear(e) and not self.ruled_out(e) and e.name not in leave_out
        ]

    def replacement_for(self, name: str) -> Exercise | None:
        """The allowed exercise closest to ``name``: same pattern, then same muscle, then the level that fits."""
        gone = EXERCISES_BY_NAME.get(name)
        if gone is None:
            return None
        options = [e for e in self.allowed() if e.pattern == gone.pattern and e.name != name]
        options.sort(key=lambda e: (e.primary_muscle != gone.primary_muscle, self._level_gap(e), e.name))
        return options[0] if options else None

    def _level_gap(self, exercise: Exercise) -> int:
        gap = _LEVEL_RANK[exercise.level] - EXPERIENCE.index(self.level)
        return 0 if -1 <= gap <= 0 else 1 if gap < -1 else 3

    # -- the week
    @cached_property
    def days_per_week(self) -> int:
        """Days a week: what the request asks (else the current plan's), then every limit in turn.

        A new plan within the level's range (ACSM 2009: novices 2-3, intermediate
        3-4, advanced 4-5), fewer days for missed sessions, at most one day more
        than the user has been training lately (``reference.frequency``: gradual
        progression, a floor of two), then the safety rules' caps. Only the limit
        that sets the final number is worded, with the days the request says the
        user has, so the answer never says "4 days, as you asked" over a 3-day plan.
        """
        current = int(self.facts.get("days_per_week") or 3)
        wanted = None if self.asked.conflicting_days else self.asked.days  # conflicting: the reply points it out
        days = start = min(self.asked.conflicting_days) if self.asked.conflicting_days else wanted or current
        limit: Change | None = None
        if self.asked.task == "plan_creation" and days > DAYS_BY_LEVEL[self.level]:  # a new plan: the level's range
            limit = Change("level_days", {"days": DAYS_BY_LEVEL[self.level]})
            days = DAYS_BY_LEVEL[self.level]
        adherence = self.facts.get("adherence_rate")
        low = adherence is not None and adherence < 0.7 and not wanted  # asked for days: they have them
        if (self.asked.missing_sessions or low) and days > 2:
            limit = Change("missing", {"adherence": adherence, "days": days - 1})
            days -= 1
        gradual = frequency.most_days(self.facts)
        if gradual is not None and days > gradual:
            limit = Change("gradual_days", {"days": gradual, "done": frequency.done_per_week(self.facts)})
            days = gradual
        ceiling = min(x for x in (self.limits.max_days, 3 if self.limits.nonconsecutive_days else None, 5) if x)
        if days > ceiling:
            limit = Change("capped_days", {"days": ceiling})
            days = ceiling
        days = int(np.clip(days, 1, 5))
        if wanted and days == wanted and wanted != current:
            self.changes.append(Change("fewer_days" if days < current else "more_days", {"days": days}))
        elif limit is not None:  # worded from where the week started, whatever limits came between
            limit.detail.update(asked=wanted, start=start)
            self.changes.append(limit)
        return days

    @cached_property
    def per_day(self) -> int:
        count = {"novice": 4, "intermediate": 5, "advanced": 6}[self.level]
        if self.asked.minutes:
            count = int(np.clip(self.asked.minutes // 10, 3, count))
            self.changes.append(Change("shorter", {"minutes": self.asked.minutes, "count": count}))
        return count

    @cached_property
    def sessions(self) -> list[Session]:
        if not self.asked.wants_plan:
            return []
        keep = (
            [n for n in self.facts.get("plan_exercises") or [] if n not in self.swap_out]
            if self.asked.task != "plan_creation"
            else []
        )
        used: set[str] = set()
        allowed = self.allowed()
        out = []
        for d, (focus, patterns) in enumerate(DAY_FOCUS[self.days_per_week]):
            chosen = self._choose(allowed, patterns, keep, used)
            out.append(Session(WEEKDAYS[TRAINING_DAYS[self.days_per_week][d]], focus, tuple(chosen), self._finisher()))
        for name in sorted(self.swap_out):
            self.changes.append(Change("swapped", {"old": name, "new": self.replacement_for(name)}))
        return out

    def _choose(
        self, allowed: list[Exercise], patterns: tuple[str, ...], keep: list[str], used: set[str]
    ) -> list[Exercise]:
        """Up to ``per_day`` exercises, one per pattern in order: the user's current one where allowed, else the
        best fit for their level (and loaded main lifts in a gym); a random pick among equally good ones."""
        gym = self.facts.get("training_setting") == "gym" or len(self.at_hand) > 8

        def fit(e: Exercise) -> int:
            score = self._level_gap(e) + (gym and e.pattern in MAIN_PATTERNS and e.load in ("bodyweight", "band"))
            return score - 2 * (e.name in keep)

        chosen: list[Exercise] = []
        for pattern in patterns:
            if len(chosen) == self.per_day:
                break
            fitting = [e for e in allowed if e.pattern == pattern and e not in chosen]
            options = [e for e in fitting if e.name not in used] or fitting  # repeat a lift rather than skip a pattern
            if not options:
                continue
            best = min(fit(e) for e in options)
            pool = [e for e in options if fit(e) == best]
            exercise = pool[int(self.rng.integers(len(pool)))]
            used.add(exercise.name)
            chosen.append(exercise)
        if not chosen and allowed:  # equipment and health rule out every planned pattern: what is left
            chosen = [allowed[int(i)] for i in self.rng.choice(len(allowed), size=min(3, len(allowed)), replace=False)]
        return chosen

    def _finisher(self) -> Exercise | None:
        """Short conditioning for endurance and fat-loss goals, when time allows and nothing rules it out."""
        if self.goal not in ("endurance", "weight_loss") or self.asked.minutes:
            return None
        options = [
            e
            for e in EXERCISES
            if e.pattern == "conditioning"
            and self.fits_gear(e)
            and not self.ruled_out(e)
            and e.name not in self.swap_out
        ]
        return options[int(self.rng.integers(len(options)))] if options else None
