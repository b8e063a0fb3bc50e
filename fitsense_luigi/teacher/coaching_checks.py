"""Does an answer keep the coaching rules (``reference/data/coaching_rules.csv``)? One flag per broken rule.

Two kinds, judged for any teacher:

- prescriptions that mean what they say: holds, carries and intervals in
  seconds, holds of 15 s or more, reps in reserve only on rep work, notes that
  fit the exercise, loads at most 10% above what the user's own estimated max
  supports, only equipment at hand, no more days than the user has, at most
  one day more than the user has trained lately (never capped below two:
  ``reference.frequency``);
- replies that answer the question asked (read from the query's ``asks``,
  what the request's words ask): a yes/no question answered "Yes" or "No"
  first, and "No" when the user's safety rules rule out what it asks about;
  "push harder or back off?" decided with a number; a stalled lift named;
  two different day counts pointed out; fewer days than the user has said
  so, naming the days they have; a plan when one is asked for.

Flags read ``<rule_id>:<what and where>`` like the safety rules' flags.
Without ``asks`` (an answer judged outside a query, e.g. a student's answer to
a test record) the reply rules and the equipment are not judged: the request
may name a new setting (joined a gym) that the user's facts do not list.
"""

from __future__ import annotations

import re
from typing import Any

from fitsense_luigi.physiology import epley_load
from fitsense_luigi.reference import frequency
from fitsense_luigi.reference.equipment import ALWAYS_AT_HAND
from fitsense_luigi.reference.safety import excluded_by
from fitsense_luigi.teacher.safety_checks import catalogue_entry, low_reps, prescribed

MIN_HOLD_SECONDS = 15
MAX_LOAD_STEP = 0.10  # ACSM 2009: load increases of 2-10%
LOAD_ROUNDING_KG = 2.5  # plates: a load rounded up to the next step is not a jump
REP_CUES = re.compile(r"lowering phase|reps? in reserve|\bfor \d+(?:-\d+)? reps\b|drive up|smooth reps", re.IGNORECASE)
YES_OR_NO = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)
DECISION = re.compile(r"\b(push|back off|ease off|ease back|hold|deload|keep|stay)\b", re.IGNORECASE)
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven")


def flags(plan: dict[str, Any], context: dict[str, Any], expected: list[str], asks: dict[str, Any] | None) -> list[str]:
    return prescription_flags(plan, context, asks) + (reply_flags(plan, context, expected, asks) if asks else [])


def prescription_flags(plan: dict[str, Any], context: dict[str, Any], asks: dict[str, Any] | None) -> list[str]:
    out = []
    lifts = {str(lift["exercise"]).lower(): lift for lift in context.get("top_lifts") or []}
    at_hand = None if asks is None else set(asks.get("equipment") or []) | ALWAYS_AT_HAND
    for _, item, exercise in prescribed(plan):
        if exercise is None:
            continue  # unknown names are listed by the checks, not judged here
        name, seconds = exercise.name, item["seconds"]
        if exercise.timed and seconds is None:
            out.append(f"timed_work_in_seconds:{name} as {item['reps']} reps")
        if exercise.work == "hold" and seconds is not None and seconds < MIN_HOLD_SECONDS:
            out.append(f"hold_at_least_15s:{name} {seconds} s")
        if (exercise.timed or seconds is not None) and item["rir"] is not None:
            out.append(f"reps_in_reserve_on_rep_work:{name} rir {item['rir']} on timed work")
        if exercise.timed and (cue := REP_CUES.search(item.get("notes") or "")):
            out.append(f"notes_fit_the_exercise:{name} '{cue.group(0)}'")
        missing = sorted(set(exercise.equipment) - at_hand) if at_hand is not None else []
        if missing:
            out.append(f"equipment_at_hand:{name} needs {', '.join(missing)}")
        lift = lifts.get(name.lower())
        reps = low_reps(item["reps"])
        if lift and item["load_kg"] is not None and reps is not None:
            allowed = epley_load(float(lift["estimated_1rm_kg"]), reps + (item["rir"] or 0)) * (1 + MAX_LOAD_STEP)
            if item["load_kg"] > allowed + LOAD_ROUNDING_KG:
                out.append(f"gradual_load_progression:{name} {item['load_kg']:g} kg, at most {allowed:.1f} kg")
    days = (asks or {}).get("days")
    if days is not None and plan["days_per_week"] > days:
        out.append(f"days_within_schedule:{plan['days_per_week']} days a week, the user has {days}")
    most = frequency.most_days(context)
    if most is not None and plan["days_per_week"] > most:
        done = frequency.done_per_week(context) or 0.0
        out.append(
            f"gradual_frequency_progression:{plan['days_per_week']} days a week after {done:.1f} sessions a week, "
            f"at most {most}"
        )
    return out


def reply_flags(plan: dict[str, Any], context: dict[str, Any], expected: list[str], asks: dict[str, Any]) -> list[str]:
    out = []
    answer = plan.get("answer", "")
    said = f"{answer} {plan.get('explanation', '')}"
    if asks.get("question") == "yes_no":
        verdict = YES_OR_NO.match(answer)
        unsafe = ruled_out_asked(context, expected, asks)
        if verdict is None:
            out.append(f"answers_yes_no:no yes or no first ({answer[:40]!r})")
        elif verdict.group(1).lower() == "yes" and unsafe:
            out.append(f"answers_yes_no:yes, but {unsafe[0]} is ruled out")
    if asks.get("question") == "push_or_back_off" and not (DECISION.search(answer) and re.search(r"\d", answer)):
        out.append(f"decides_push_or_back_off:no decision with a number ({answer[:40]!r})")
    lift = asks.get("stalled_lift")
    if lift and lift.lower() not in said.lower():
        out.append(f"names_the_stalled_lift:{lift} not named")
    for count in asks.get("conflicting_days") or []:
        if not _says_days(said, count):
            out.append(f"points_out_contradiction:{count} days not named")
    has = asks.get("days")
    if has and 0 < plan["days_per_week"] < has and not asks.get("conflicting_days") and not _says_days(said, has):
        out.append(f"explains_fewer_days:{plan['days_per_week']} days planned, the {has} the user has not named")
    if asks.get("wants_plan", True) and plan["days_per_week"] == 0:
        out.append("plan_when_asked:a plan was asked for, none given")
    return out


def ruled_out_asked(context: dict[str, Any], expected: list[str], asks: dict[str, Any]) -> list[str]:
    """What the question asks about that the user's rules rule out: the named exercise, else the current plan's."""
    names = [asks["about"]] if asks.get("about") else list(context.get("plan_exercises") or [])
    return [n for n in names if (e := catalogue_entry(n)) is not None and excluded_by(e, expected)]


def _says_days(text: str, count: int) -> bool:
    word = NUMBER_WORDS[count] if count < len(NUMBER_WORDS) else str(count)
    return re.search(rf"\b(?:{count}|{word})[- ](?:days?|sessions?)\b", text, re.IGNORECASE) is not None
