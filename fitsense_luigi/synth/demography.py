"""Who the app users are: birth dates, sex, height and BMI.

Birth dates are drawn against a fixed epoch, not the run's as-of date, so that
a daily run observes the same people one day older (see ``identity.py``). BMI
is lognormal with the published shape; its location differs by age band so
that the share with BMI >= 30 in each band is the published one, which is what
lets obesity (and through it, conditions) rise with age as in the population.
"""

from __future__ import annotations

import datetime as dt
from math import erf, log, sqrt

import numpy as np

from fitsense_luigi.synth import published as pub

EPOCH = np.datetime64("2026-01-01", "D")
DAYS_PER_YEAR = 365.2425

# Age at the epoch: (first age, first age of the next bucket, share). An assumption shaped like gym
# membership (IHRSA: mean 37, few members past 65); see published.APP_MEAN_AGE.
AGE_BUCKETS = (
    (18, 25, 0.185),
    (25, 30, 0.175),
    (30, 35, 0.15),
    (35, 40, 0.13),
    (40, 45, 0.105),
    (45, 50, 0.085),
    (50, 55, 0.065),
    (55, 60, 0.05),
    (60, 65, 0.03),
    (65, 70, 0.015),
    (70, 75, 0.007),
    (75, 81, 0.003),
)
_SHARES = np.array([b[2] for b in AGE_BUCKETS]) / sum(b[2] for b in AGE_BUCKETS)
_LO = np.array([b[0] for b in AGE_BUCKETS], dtype=np.float64)
_HI = np.array([b[1] for b in AGE_BUCKETS], dtype=np.float64)

SEXES = np.array(["female", "male"])  # index 0 female, 1 male


def _inverse_normal_cdf(p: float) -> float:
    """Bisection on erf: called a handful of times at import, so clarity beats speed."""
    lo, hi = -10.0, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if 0.5 * (1 + erf(mid / sqrt(2))) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


BMI_SIGMA = float(pub.BMI_SIGMA.value)
# log-BMI location per band such that P(BMI >= 30) is the published band share
BMI_MU_BY_BAND = np.array(
    [log(30.0) - BMI_SIGMA * _inverse_normal_cdf(1 - share) for share in pub.OBESITY_BY_BAND.value]
)
# women's BMI runs ~1.7% higher than men's (29.6 vs 29.1): half of the log-ratio each way
BMI_SEX_SHIFT = np.array([+0.5, -0.5]) * log(pub.BMI_MEAN["female"].value / pub.BMI_MEAN["male"].value)
BMI_LIMITS = (16.0, 67.0)
UNDERWEIGHT = 18.5


def age_band(age: np.ndarray) -> np.ndarray:
    """0, 1, 2 for 18-39, 40-59, 60+."""
    return np.searchsorted(np.array(pub.AGE_BAND_EDGES), age, side="right")


def draw_birth_dates(rng: np.random.Generator, n: int) -> np.ndarray:
    bucket = rng.choice(len(AGE_BUCKETS), n, p=_SHARES)
    age_at_epoch = _LO[bucket] + rng.random(n) * (_HI[bucket] - _LO[bucket])
    return EPOCH - np.round(age_at_epoch * DAYS_PER_YEAR).astype("timedelta64[D]")


def adult_birth_dates(birth: np.ndarray, as_of: dt.date) -> np.ndarray:
    """Runs dated before the epoch would make the youngest users minors: keep everyone 18 or older."""
    latest = np.datetime64(as_of, "D") - np.timedelta64(int(np.ceil(18 * DAYS_PER_YEAR)), "D")
    return np.minimum(birth, latest)


def age_on(birth: np.ndarray, day: dt.date) -> np.ndarray:
    """Exact age in (fractional) years."""
    return (np.datetime64(day, "D") - birth).astype(np.int64) / DAYS_PER_YEAR


def draw_heights(rng: np.random.Generator, sex: np.ndarray) -> np.ndarray:
    mean = np.where(sex == 1, pub.HEIGHT_CM["male"].value, pub.HEIGHT_CM["female"].value)
    sd = np.where(sex == 1, pub.HEIGHT_SD_CM["male"], pub.HEIGHT_SD_CM["female"])
    return np.clip(rng.normal(mean, sd), 145.0, 210.0)


def draw_bmi(rng: np.random.Generator, band: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """Lognormal as published; its thin tail is halved below 18.5, where the lognormal runs longer than life
    (a BMI of 15 in a 145 cm woman would be 31 kg). Quantiles from the 10th up are untouched."""
    return shape_bmi(np.exp(rng.normal(BMI_MU_BY_BAND[band] + BMI_SEX_SHIFT[sex], BMI_SIGMA)))


def shape_bmi(lognormal: np.ndarray) -> np.ndarray:
    """Lognormal draws to BMI: the tail below 18.5 halved, then the limits (used for calibration too)."""
    bmi = np.where(lognormal < UNDERWEIGHT, UNDERWEIGHT - 0.5 * (UNDERWEIGHT - lognormal), lognormal)
    return np.clip(bmi, *BMI_LIMITS)


def age_weights_by_band() -> list[tuple[np.ndarray, np.ndarray]]:
    """(ages, weights) on a half-year grid inside each band: the app's own age mix, for calibration."""
    grid = np.arange(18.25, 81.0, 0.5)
    bucket = np.searchsorted(_HI, grid, side="right")
    density = _SHARES[bucket] / (_HI[bucket] - _LO[bucket])
    band = age_band(grid)
    return [(grid[band == b], density[band == b] / density[band == b].sum()) for b in range(3)]
