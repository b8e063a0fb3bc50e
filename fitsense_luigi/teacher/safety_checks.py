"""Does a plan keep the safety rules its user's query carries? One flag per broken rule and place.

The rules are the ones the query lists (``expected_safety_constraints``: the
ids of ``reference.safety`` rules that apply to the user, derived from their
facts on the as-of date), so the checks, the prompt the teacher read and the
mock coach's plan all follow the same rules. A rule is broken when the plan
prescribes an exercise it rules out (a tag, a plyometric drill, a skill level
above the user's) or steps over one of its limits (days a week,
back-to-back days, heart-rate zones, rep and reps-in-reserve floors). A
constraint counts as addressed when the plan keeps the rule and a safety note
with its id says how: a keyword somewhere in the text is not enough.

Flags read ``<rule_id>:<what and where>``, e.g.
``low_impact_older_adult:Box Jump (tag high_impact)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fitsense_luigi.reference.catalogue import EXERCISES, Exercise
from fitsense_luigi.reference.safety import excluded_by, known

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
HEART_RATE_ZONES = re.compile(
    r"heart[- ]rate zone|\bhr zone|zone [1-5]\b|% of (?:your )?max(?:imum)? heart rate|\b220 ?- ?age"
    r"|\bmax hr\b|\bbpm\b",
    re.IGNORECASE,
)
MIN_NOTE_WORDS = 5  # a safety note that says how in fewer words does not say how
_BY_LOWER_NAME = {e.name.lower(): e for e in EXERCISES}


def catalogue_entry(name: str) -> Exercise | None:
    return _BY_LOWER_NAME.get(name.strip().lower())


def prescribed(plan: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any], Exercise | None]]:
    """(day, prescription, catalogue exercise or None) for every exercise of the plan."""
    for day in plan["days"]:
        for item in day["exercises"]:
            yield day, item, catalogue_entry(item["name"])


def low_reps(reps: int | str | None) -> int | None:
    """The fewest reps a prescription asks for: 8 for 8, 8 for "8-12", None for timed work."""
    if reps is None:
        return None
    return int(str(reps).split("-")[0])


def flags(plan: dict[str, Any], expected: list[str]) -> list[str]:
    """``<rule_id>:<detail>`` for every way the plan breaks a rule the query lists."""
    out: list[str] = []
    for _, _item, exercise in prescribed(plan):
        if exercise is not None:
            out.extend(f"{rule_id}:{exercise.name} ({why})" for rule_id, why in excluded_by(exercise, expected))
    for rule in known(expected):
        out.extend(f"{rule.rule_id}:{detail}" for detail in _over_limits(plan, rule.limits))
    return out


def _over_limits(plan: dict[str, Any], limits: Any) -> list[str]:
    found = []
    if limits.max_days is not None and plan["days_per_week"] > limits.max_days:
        found.append(f"{plan['days_per_week']} days a week, at most {limits.max_days}")
    if limits.nonconsecutive_days:
        found.extend(back_to_back(plan))
    if limits.effort_by_rpe:
        said = [plan.get("progression", "")] + [
            f"{d.get('focus', '')} {i.get('notes', '')}" for d, i, _ in prescribed(plan)
        ]
        match = HEART_RATE_ZONES.search(" ".join(said))  # safety notes may rightly say "RPE, not heart-rate zones"
        if match:
            found.append(f"heart-rate zones prescribed ({match.group(0).lower()})")
    for _, item, exercise in prescribed(plan):
        name = exercise.name if exercise else item["name"]
        reps = low_reps(item["reps"])
        if limits.min_reps is not None and reps is not None and reps < limits.min_reps:
            found.append(f"{name} sets of {item['reps']} reps, at least {limits.min_reps}")
        if limits.min_rir is not None and item["rir"] is not None and item["rir"] < limits.min_rir:
            found.append(f"{name} {item['rir']} reps in reserve, at least {limits.min_rir}")
    return found


def back_to_back(plan: dict[str, Any]) -> list[str]:
    """Training days in a row (Sunday to Monday included); a day of only cardio intervals is not a training day
    of resistance work. Days that are not weekday names cannot be spread, so they are named as the problem."""
    resistance = [
        d
        for d in plan["days"]
        if any((e := catalogue_entry(i["name"])) is None or e.pattern != "conditioning" for i in d["exercises"])
    ]
    unnamed = [d["day"] for d in resistance if d["day"].strip().lower() not in WEEKDAYS]
    if unnamed:
        return [f"days not named as weekdays ({', '.join(unnamed)})"]
    days = sorted({WEEKDAYS.index(d["day"].strip().lower()) for d in resistance})
    pairs = list(zip(days, [*days[1:], days[0] + 7], strict=True)) if len(days) > 1 else []
    return [f"{WEEKDAYS[a]}-{WEEKDAYS[b % 7]} back to back" for a, b in pairs if b - a == 1]


def addressed(plan: dict[str, Any], expected: list[str], found: list[str]) -> list[str]:
    """The expected constraints the plan keeps and a safety note with the constraint's id explains."""
    broken = {flag.split(":", 1)[0] for flag in found}
    noted = {
        note.get("constraint_id")
        for note in plan.get("safety_notes", [])
        if len(str(note.get("note", "")).split()) >= MIN_NOTE_WORDS
    }
    return [c for c in expected if c in noted and c not in broken]
