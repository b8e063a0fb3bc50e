"""Engagement over a user's whole history: training spells, lapses, returns and for-good dropout.

A user's training history is a run of *spells*. The first starts a few days after
sign-up; each lasts a Weibull time with shape < 1, so the hazard of stopping is
highest in the first weeks and falls the longer someone keeps going, scaled so
that about half of starters stop within six months (Dishman 1988; ACSM: "about
half of people who start an exercise programme stop within 6 months"). After a
spell ends the user comes back with probability :data:`RETURN_CHANCE` after a
break (median six weeks) and starts a new spell, or is gone for good.

The app's user base grows: recent sign-ups outnumber old ones (assumption,
:data:`SIGNUP_SKEW`), which with the dropout above puts roughly two users in
five without a workout in the last 28 days. Everything is in whole days
relative to the first day of the look-back window (negative = before it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fitsense_luigi.synth import published as pub

SPELLS = 8  # spells drawn per person; after 8 lapses nobody is left training in a 3-year history
WEIBULL_SHAPE = 0.7  # < 1: the hazard of stopping falls with time in the programme
# Scale that puts the six-month dropout at the published share: P(T < 182 d) = 1 - exp(-(182/scale)^shape)
SPELL_SCALE_DAYS = 182.0 / (-np.log(1 - float(pub.DROPOUT_BY_6_MONTHS.value))) ** (1 / WEIBULL_SHAPE)
RETURN_CHANCE = 0.6  # a lapsed exerciser restarts (assumption; "relapse and return" is the common course)
BREAK_MEDIAN_DAYS = 42.0  # a lapse lasts weeks to months
BREAK_SIGMA = 0.7
MIN_BREAK_DAYS = 10
SIGNUP_YEARS = 3
SIGNUP_SKEW = 1.6  # days before the window ~ u ** skew: a growing app has more recent users


@dataclass
class Career:
    """(n, SPELLS) spell starts and ends in days from the window start; a spell is [start, end)."""

    start: np.ndarray
    end: np.ndarray

    def active(self, days: int) -> np.ndarray:
        """(n, days) True on the days of the window that fall inside a spell."""
        t = np.arange(days)[None, :]
        out = np.zeros((self.start.shape[0], days), dtype=bool)
        for k in range(self.start.shape[1]):
            out |= (t >= self.start[:, k : k + 1]) & (t < self.end[:, k : k + 1])
        return out

    def spell_start_before(self, day: int) -> np.ndarray:
        """Start of the latest spell that began on or before ``day`` (the first spell if none did)."""
        began = self.start <= day
        latest = np.where(began, self.start, np.iinfo(np.int64).min).max(axis=1)
        return np.where(began.any(axis=1), latest, self.start[:, 0])

    def training_on(self, day: int) -> np.ndarray:
        """Inside a spell on ``day``."""
        return ((self.start <= day) & (self.end > day)).any(axis=1)


def signup_days_before_window(rng: np.random.Generator, n: int) -> np.ndarray:
    """Days between sign-up and the window's first day: at least 45, up to about three years."""
    return 45 + np.floor(SIGNUP_YEARS * 365 * rng.random(n) ** SIGNUP_SKEW).astype(np.int64)


def draw_career(rng: np.random.Generator, signup_days: np.ndarray) -> Career:
    n = signup_days.size
    first = -signup_days + rng.integers(1, 15, n)  # the first plan follows sign-up within two weeks
    length = np.maximum(np.round(SPELL_SCALE_DAYS * rng.weibull(WEIBULL_SHAPE, (n, SPELLS))), 7).astype(np.int64)
    pause = MIN_BREAK_DAYS + np.round(np.exp(rng.normal(np.log(BREAK_MEDIAN_DAYS), BREAK_SIGMA, (n, SPELLS))))
    comes_back = rng.random((n, SPELLS)) < RETURN_CHANCE
    start = np.empty((n, SPELLS), dtype=np.int64)
    end = np.empty((n, SPELLS), dtype=np.int64)
    never = np.iinfo(np.int32).max  # a spell that never starts: after a for-good dropout
    start[:, 0] = first
    for k in range(SPELLS):
        end[:, k] = np.where(start[:, k] >= never, never, start[:, k] + length[:, k])
        if k + 1 < SPELLS:
            back = comes_back[:, k] & (start[:, k] < never)
            start[:, k + 1] = np.where(back, end[:, k] + pause[:, k].astype(np.int64), never)
    end = np.where(start >= never, never, end)
    return Career(start, end)
