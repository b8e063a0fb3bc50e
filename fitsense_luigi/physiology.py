"""Strength physiology every stage shares: Epley's 1RM estimate and how sex and age scale strength.

One home for these formulas, so that the synthetic world (which simulates
lifters), the queries stage (which estimates their maxes from logged sets), the
mock coach (which prescribes loads) and the realism checks all mean the same
thing by "estimated 1RM".

- Epley: a set of ``reps`` at ``load`` estimates a one-repetition maximum of
  ``load * (1 + reps / 30)`` (shared/reference/realism.md, "1RM estimate").
  Counting the reps left in reserve as reps done gives the RIR-adjusted
  estimate the pipeline uses everywhere; inverting it gives the load for a
  target of reps (plus reserve) or the reps to failure at a load.
- Women's strength relative to men's: as a norm for judging a user's level,
  0.62 of a man's relative strength (Cooper Institute norms); in the synthetic
  world, by body region (about 60% of men's upper-body, 72% of lower-body
  strength) and, without load, much less for push-ups and pull-ups.
- Age: strength holds until 35, then falls about 0.9% a year, to no less than
  60% of the peak.

All functions work elementwise on numpy arrays, pandas Series and plain floats.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

Number = TypeVar("Number")  # float, numpy array or pandas Series

EPLEY_REPS = 30.0  # Epley's constant: each rep done counts 1/30 of the load towards the 1RM

# Cooper Institute norms: women's relative strength (1RM / body weight) vs men's
WOMEN_RELATIVE_STRENGTH = 0.62
# Synthetic lifters: women's loaded strength vs men's by region, and body-weight capacity (reps to failure)
WOMEN_UPPER_BODY_STRENGTH = 0.60
WOMEN_LOWER_BODY_STRENGTH = 0.72
WOMEN_CORE_STRENGTH = 0.80
WOMEN_UPPER_BODY_CAPACITY = 0.45  # push-ups, pull-ups: the sex gap is wide without load
WOMEN_OTHER_CAPACITY = 0.85  # legs, core and conditioning: small

AGE_OF_PEAK_STRENGTH = 35
STRENGTH_LOSS_PER_YEAR = 0.009
LOWEST_AGE_FACTOR = 0.6


def epley_1rm(load: Number, reps: Number) -> Number:
    """Estimated 1RM from a set of ``reps`` (plus reps in reserve, when known) at ``load``."""
    return load * (1 + reps / EPLEY_REPS)


def epley_load(one_rm: Number, reps: Number) -> Number:
    """The load a lifter with this 1RM manages for exactly ``reps`` (add the reps to keep in reserve)."""
    return one_rm / (1.0 + reps / EPLEY_REPS)


def epley_reps(one_rm: Number, load: Number) -> Number:
    """Reps to failure at ``load`` for a lifter with this 1RM."""
    return EPLEY_REPS * (one_rm / load - 1.0)


def age_strength_factor(age: np.ndarray) -> np.ndarray:
    """Share of peak strength kept at ``age``: 1 until 35, then 0.9% less a year, never below 0.6."""
    return np.clip(1 - STRENGTH_LOSS_PER_YEAR * np.maximum(age - AGE_OF_PEAK_STRENGTH, 0), LOWEST_AGE_FACTOR, 1.0)
