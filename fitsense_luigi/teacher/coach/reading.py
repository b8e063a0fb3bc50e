"""What a user message says, read the way a teacher reads it: from the words, the facts JSON and the rules listed.

The coach gets no structured hints: the request is plain text, so it reads
the task line, the facts, the safety rules by id and the wishes in the words
(days, time, effort, a stalled or boring lift, a new setting, a flare-up, a
yes/no question, "push harder or back off?"); the days include the week a
new plan's request says the user has ("I can train 4 days a week"). Where the
request says two different day counts, both are kept, so the answer can point
it out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from fitsense_luigi.contracts.rows import ContextSummary
from fitsense_luigi.queries import student
from fitsense_luigi.queries.prompts import CONSTRAINTS_HEADER, FACTS_PREFIX, TASK_LINE_PREFIX, TASK_LINES
from fitsense_luigi.reference.catalogue import EXERCISES
from fitsense_luigi.reference.equipment import GYM_EQUIPMENT

_CONSTRAINT_LINE = re.compile(r"^- ([a-z_0-9]+): ", re.MULTILINE)
_TASK_BY_LINE = {line: task for task, line in TASK_LINES.items()}
_QUESTION = re.compile(r"[^.?!]*\?")
_YES_NO = re.compile(
    r"(?:^|[:,-]\s*)(?:is|are|should|do|does)\s", re.IGNORECASE
)  # not "Can you ...?" (a request), not "Am I on track?" (progress)
_PLAN_WORDS = re.compile(r"\b(what|how|which|where|can you|could you)\b", re.IGNORECASE)
# "I'll be training at home for a while with only dumbbells and a band"
_LONGEST_FIRST = sorted(EXERCISES, key=lambda e: -len(e.name))
HOME_FOR_A_WHILE = frozenset({"dumbbells", "resistance_band"})
_SCHEDULE = re.compile(r"i can train (\d) days a week|(\d) sessions a week is realistic|i've got (\d) days a week")


@dataclass(frozen=True)
class Asked:
    """What the message says: the task, the user's facts, the rules listed and the request's wishes."""

    task: str
    request: str
    facts: ContextSummary  # as the message's facts line carries it; empty when a message has none
    constraints: tuple[str, ...]  # safety rule ids listed in the message
    days: int | None = None  # days a week the request asks for
    conflicting_days: tuple[int, ...] = ()  # two different day counts in one request
    minutes: int | None = None  # session length the request asks for
    harder: bool = False
    easier: bool = False
    stalled: str | None = None  # catalogue name of a lift said to be stuck
    bored: tuple[str, ...] = ()
    equipment: frozenset[str] | None = None  # a new setting's equipment (joined a gym, home for a while)
    missing_sessions: bool = False
    flare_up: bool = False
    question: str | None = None  # yes_no | push_or_back_off
    about: str | None = None  # catalogue name a yes/no question asks about
    wants_plan: bool = True


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
    return replace(asked, **_wishes(asked), **_question(request))


def _wishes(asked: Asked) -> dict[str, Any]:
    text = asked.request.lower()
    wishes: dict[str, Any] = {}
    said = []
    if m := re.search(r"only make (\d) days", text):
        said.append(int(m.group(1)))
    if m := re.search(r"time for (\d) days", text):
        said.append(int(m.group(1)))
    elif "extra day" in text and (now := _days_now(text, asked.facts)):
        said.append(now + 1)
    if m := _SCHEDULE.search(text):  # a new plan's request says the week the user has
        said.append(int(next(g for g in m.groups() if g)))
    if len(set(said)) > 1:
        wishes["conflicting_days"] = tuple(sorted(set(said)))
        wishes["days"] = min(said)  # plan for the tighter week, and say so
    elif said:
        wishes["days"] = said[0]
    if m := re.search(r"(?:under|only have) (\d+)(?: minutes)?", text):
        wishes["minutes"] = int(m.group(1))
    wishes["harder"] = "too easy" in text or "plenty left" in text
    wishes["easier"] = any(w in text for w in ("too hard", "grinding", "close to failure"))
    wishes["stalled"] = next(  # the longest name first: "dumbbell Romanian deadlift", not "Romanian deadlift"
        (
            e.name
            for e in _LONGEST_FIRST
            if f"{e.name.lower()} has been stuck" in text or f"{e.name.lower()} is stuck" in text
        ),
        None,
    )
    if m := re.search(r"bored of doing (.+?) and (.+?) every week", text):
        wishes["bored"] = tuple(n for n in (_exercise_named(m.group(1)), _exercise_named(m.group(2))) if n)
    if "joined a gym" in text or "gym access" in text:
        wishes["equipment"] = GYM_EQUIPMENT
    elif "training at home for a while" in text:
        wishes["equipment"] = HOME_FOR_A_WHILE
    wishes["missing_sessions"] = "missing sessions" in text
    wishes["flare_up"] = "flares up" in text
    return wishes


def _days_now(text: str, facts: ContextSummary) -> int | None:
    """Days a week the user trains now: as the request says it ("a 3-day plan", "training 3 days a week"), else
    the facts."""
    if m := re.search(r"\b(\d)-day plan|training (\d) days a week", text):
        return int(m.group(1) or m.group(2))
    return int(facts["days_per_week"]) if facts.get("days_per_week") else None


def _question(request: str) -> dict[str, Any]:
    """A yes/no question (and what it names), or "push harder or back off?"; a plan is wanted unless the only
    thing asked is a yes/no question."""
    if "push harder or back off" in request.lower():
        return {"question": "push_or_back_off"}
    questions = [q.strip() for q in _QUESTION.findall(request)]
    yes_no = [q for q in questions if _YES_NO.match(q) or _YES_NO.search(q[:30])]
    if not yes_no:
        return {}
    about = next((e.name for e in _LONGEST_FIRST if e.name.lower() in yes_no[0].lower()), None)
    # "Is my plan safe? If not, what would you change?", "Am I on track, and what should I adjust?" ask for more
    asks_more = len(questions) > len(yes_no) or bool(_PLAN_WORDS.search(yes_no[0]))
    return {"question": "yes_no", "about": about, "wants_plan": asks_more}


def _exercise_named(words: str) -> str | None:
    words = words.strip().lower()
    return next((e.name for e in EXERCISES if e.name.lower() == words), None)
