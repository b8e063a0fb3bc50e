"""Published figures the generator never reads: the held-out half of the realism report.

Everything in ``synth/published.py`` is a *calibration target*: a generator reads
it and aims at it, so a world that matches it proves only that the aim was
good. The figures here are kept apart on purpose: no generator module imports
this one (``tests/synth/test_synth_realism.py`` asserts it), so a world can match
them only if its mechanisms behave like the real world, e.g. diabetes and BMI
linked at the right strength although only odds ratios were given, or weight
outcomes as spread as in trials although only a diet model was given.

Each figure carries a ``model_error``: how far an honest app world may sit from
the published population figure (app users are not a survey sample; definitions
differ). Tolerance = model_error + Z standard errors of the observed estimate,
so it tightens towards model_error as users grow.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HeldOut:
    value: float | tuple[float, float]  # a figure, or a published (low, high) range
    model_error: float
    source: str
    basis: str = "published"  # published | derived (computed from published figures; the source says how)


DIABETICS_OBESE = HeldOut(
    (0.62, 0.66),
    0.05,
    "CDC National Diabetes Statistics Report; NCHS QuickStats (NHANES 2009-12): 62-66% of adults with diagnosed "
    "diabetes are obese",
)
DIABETICS_NORMAL_WEIGHT = HeldOut(
    (0.09, 0.10),
    0.04,
    "NCHS QuickStats (NHANES 2009-12): ~9-10% of adults with diagnosed diabetes are of normal weight",
)
# "Tried to lose weight in the past 12 months" (NCHS Data Brief 313, NHANES 2013-16) against "weight loss is one
# of the user's goals": app goals are not the survey question, hence the wide model error.
WEIGHT_LOSS_WISH_OBESE = HeldOut(0.667, 0.12, "NCHS Data Brief 313: 66.7% of adults with obesity tried to lose weight")
WEIGHT_LOSS_WISH_OVERWEIGHT = HeldOut(0.49, 0.12, "NCHS Data Brief 313: ~49% of overweight adults tried to lose weight")
WEIGHT_LOSS_WISH_SEX_GAP = HeldOut(
    0.147, 0.08, "NCHS Data Brief 313: women 56.4% vs men 41.7% tried to lose weight (gap 14.7 points)", "derived"
)
INACTIVE_28_DAYS = HeldOut(
    (0.15, 0.60),
    0.0,
    "Dishman 1988 / ACSM: about half of starters stop within 6 months, many return later; over a user base "
    "that signed up across years, 15-60% without a workout in the last 28 days (issue 15)",
    "derived",
)
DIETERS_LOSING = HeldOut(
    (0.50, 0.90),
    0.0,
    "Wadden 2011 (Look AHEAD year 1: about a third lose under 5%) and reviews: weight-loss outcomes vary widely, "
    "with non-responders and regain; 50-90% of weight-loss users lose weight over the window (issue 15)",
    "derived",
)
UNDER_REPORTING_GRADIENT = HeldOut(
    (0.08, 0.35),
    0.0,
    "Lichtman 1992 (obese dieters under-reported by ~47%) and doubly-labelled-water studies (normal-weight adults "
    "~10-20%): logged/implied intake is lower with obesity; difference normal weight minus obese",
    "derived",
)
SEDENTARY_SESSIONS_PER_WEEK = HeldOut(
    (0.0, 1.0),
    0.0,
    "Standard activity-factor definitions (Harris-Benedict/Mifflin multipliers): sedentary = little or no exercise",
    "derived",
)
