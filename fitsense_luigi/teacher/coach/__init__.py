"""A rule-based strength coach: the mock teacher's brain.

It reads what a real teacher reads (the user message: the request in words,
the task line, the facts JSON and the safety rules listed by id) and answers
with a plan_response (schema v3):

- :mod:`.reading`: what the words ask (a yes/no question and about what,
  push or back off, days, time, effort, a stalled or boring lift, a new
  setting, a flare-up) and which safety rules the message lists;
- :mod:`.planning`: what the plan may hold (the listed rules of
  ``reference.safety`` decide what is ruled out and the limits; the equipment
  at hand; the days the user has) and which exercises it holds;
- :mod:`.prescribing`: sets, rep ranges or seconds, reps in reserve, rest and
  loads from the user's own estimated maxes (ACSM 2009), notes that fit the
  exercise;
- :mod:`.wording`: the direct answer first, then the summary, progression,
  one safety note per rule and the explanation, worded from the user's own
  situation.

Every choice is a pure function of the message and the request seed (drawn
through ``stage_rng``), so the same input always gives the same answer.
"""

from __future__ import annotations

from typing import Any

from fitsense_luigi.teacher.coach.planning import WEEKDAYS, Coach
from fitsense_luigi.teacher.coach.reading import Asked, read_message
from fitsense_luigi.teacher.coach.wording import answer_of

__all__ = ["WEEKDAYS", "Asked", "plan_for", "read_message"]


def plan_for(user_message: str, seed: int) -> dict[str, Any]:
    """The mock teacher's answer to one user message, as a plan_response object."""
    return answer_of(Coach(read_message(user_message), seed))
