"""How many training days a week a plan may ask of a user, from what they have been doing: one formula, three readers.

Two pieces of guidance, read together:

- **A floor of two days.** Muscle-strengthening work on 2 or more days a week
  is the public-health minimum for adults (ACSM/AHA 2007, Haskell et al.,
  MSSE 39:1423-1434; WHO 2020 guidelines; Physical Activity Guidelines for
  Americans 2018) and for older adults (ACSM/AHA 2007, Nelson et al., MSSE
  39:1435-1445); ACSM's position stands put resistance training on 2-3 days a
  week (Garber et al. 2011, MSSE 43:1334-1359) and novices, "untrained
  individuals with no RT experience or who have not trained for several
  years", on 2-3 days (Ratamess et al. 2009, MSSE 41:687-708).
- **Progress gradually.** ACSM (Guidelines for Exercise Testing and
  Prescription, 11th ed., 2021; Garber et al. 2011: "gradual progression of
  exercise intensity and volume may reduce the risks of exercise") advises
  against jumps in volume; a jump also costs adherence (a plan the user cannot
  keep is not followed). The smallest step in frequency is one day a week, so a
  plan asks at most one day more than the user has been training lately: the
  sessions a week of the look-back window, rounded to whole days.

So a user who has averaged 1 session a week is planned at most 2 days, one at
3.4 a week at most 4, one with nothing logged 2 (the floor). The floor is a
ceiling's lower bound, not a prescription: a user who says they have one day
gets one. The mock coach plans within it (``teacher.coach.planning``), the
post-checks hold every teacher to it (``teacher.coaching_checks``,
rule ``gradual_frequency_progression``) and the bias report measures volume
against it (``quality.bias.slicing``: relative volume).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MIN_DAYS = 2  # ACSM/AHA 2007, WHO 2020, PAG 2018: muscle-strengthening on 2 or more days a week
STEP_DAYS = 1  # the smallest increase in training frequency: one day a week


def done_per_week(facts: Mapping[str, Any]) -> float | None:
    """Sessions a week the user completed in the look-back window; None when the facts hold no window."""
    sessions, window = facts.get("sessions_last_window"), facts.get("window_days")
    if sessions is None or not window:
        return None
    return float(sessions) / (float(window) / 7)


def whole_days(per_week: float) -> int:
    """Sessions a week as whole training days, halves rounded up (1.5 a week is 2 days, 1.4 is 1)."""
    return math.floor(per_week + 0.5)


def most_days(facts: Mapping[str, Any]) -> int | None:
    """The most training days a week a plan may ask: what the user did lately plus one step, never under the floor."""
    done = done_per_week(facts)
    if done is None:
        return None
    return max(MIN_DAYS, whole_days(done) + STEP_DAYS)


def volume_baseline(facts: Mapping[str, Any]) -> float | None:
    """The sessions a week a prescription is measured against: what the user did, or the floor when they did less.

    Below the floor every plan that keeps the guidance asks for the floor, so
    dividing by what the user did would measure their inactivity, not the
    coach: 2 days for someone at 0.5 a week is not four times "too much".
    """
    done = done_per_week(facts)
    return None if done is None else max(done, float(MIN_DAYS))
