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

# Age at the epoch: a continuous, piecewise-linear density through these (age, relative density) knots, so
# there are no steps at five-year edges. Shaped like gym membership: most members are young adults, few are
# past 75 (IHRSA); the knots put the mean at ~37.5 (published.APP_MEAN_AGE: IHRSA, members average 37).
AGE_KNOTS = np.array([18.0, 22.0, 28.0, 35.0, 45.0, 55.0, 65.0, 75.0, 85.0])
AGE_DENSITY = np.array([2.9, 3.3, 2.5, 1.4, 0.85, 0.75, 0.6, 0.25, 0.0])
_AGE_GRID = np.linspace(AGE_KNOTS[0], AGE_KNOTS[-1], 4097)
_AGE_PDF = np.interp(_AGE_GRID, AGE_KNOTS, AGE_DENSITY)
_AGE_CDF = np.concatenate([[0.0], np.cumsum(np.diff(_AGE_GRID) * (_AGE_PDF[1:] + _AGE_PDF[:-1]) / 2)])
_AGE_CDF = _AGE_CDF / _AGE_CDF[-1]

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


# BMI is a shifted lognormal, BMI = BMI_SHIFT + exp(N(mu, sigma)): a plain lognormal with the published shape
# puts ~8% of adults under 18.5, five times the NHANES figure, because real BMI has a much lighter left tail.
# The three parameters are solved (below) from three published shares of US adults: BMI >= 30 (40.3%),
# BMI >= 40 (~9%) and BMI < 18.5 (1.6%); the mean BMI (29.1 men, 29.6 women) is then implied, not aimed at.
def _solve_shape() -> tuple[float, float, float]:
    """(shift, mu, sigma) reproducing the three published shares (Newton on a 3x3 system, at import)."""
    from scipy import optimize, stats

    targets = (
        (30.0, pub.OBESITY.value, "sf"),
        (40.0, pub.SEVERE_OBESITY.value, "sf"),
        (UNDERWEIGHT, pub.UNDERWEIGHT.value, "cdf"),
    )

    def gap(p: np.ndarray) -> list[float]:
        c, m, s = p
        return [getattr(stats.norm, side)((log(edge - c) - m) / s) - share for edge, share, side in targets]

    c, m, s = optimize.fsolve(gap, [11.0, 2.85, 0.39], xtol=1e-12)
    return float(c), float(m), float(s)


UNDERWEIGHT = 18.5
BMI_SHIFT, _BMI_MU_ALL, BMI_SIGMA = _solve_shape()
# log-scale location per band such that P(BMI >= 30) is the published band share
BMI_MU_BY_BAND = np.array(
    [log(30.0 - BMI_SHIFT) - BMI_SIGMA * _inverse_normal_cdf(1 - share) for share in pub.OBESITY_BY_BAND.value]
)
# women's BMI runs ~1.7% higher than men's (29.6 vs 29.1): half of the log-ratio each way, on the lognormal part
BMI_SEX_SHIFT = np.array([+0.5, -0.5]) * log(
    (pub.BMI_MEAN["female"].value - BMI_SHIFT) / (pub.BMI_MEAN["male"].value - BMI_SHIFT)
)
# Adults below BMI 16 are severe thinness (WHO) and rare among people joining a gym; the distribution is truncated
# there (drawn inside the range, never clipped onto it), and above 70.
BMI_LIMITS = (16.0, 70.0)
HEIGHT_LIMITS_CM = (137.0, 213.0)  # NHANES adult extremes are a little wider; truncated smoothly, never clipped


def age_band(age: np.ndarray) -> np.ndarray:
    """0, 1, 2 for 18-39, 40-59, 60+."""
    return np.searchsorted(np.array(pub.AGE_BAND_EDGES), age, side="right")


def draw_birth_dates(rng: np.random.Generator, n: int) -> np.ndarray:
    age_at_epoch = np.interp(rng.random(n), _AGE_CDF, _AGE_GRID)
    return EPOCH - np.round(age_at_epoch * DAYS_PER_YEAR).astype("timedelta64[D]")


def adult_birth_dates(birth: np.ndarray, as_of: dt.date) -> np.ndarray:
    """Runs dated before the epoch would make the youngest users minors: keep everyone 18 or older."""
    latest = np.datetime64(as_of, "D") - np.timedelta64(int(np.ceil(18 * DAYS_PER_YEAR)), "D")
    return np.minimum(birth, latest)


def age_on(birth: np.ndarray, day: dt.date) -> np.ndarray:
    """Exact age in (fractional) years."""
    return (np.datetime64(day, "D") - birth).astype(np.int64) / DAYS_PER_YEAR


def truncated_normal(u: np.ndarray, mean: np.ndarray, sd: np.ndarray, low: float, high: float) -> np.ndarray:
    """Inverse-CDF draw from N(mean, sd) restricted to [low, high]: the tails are cut, nothing piles up at a limit."""
    from scipy.special import ndtr, ndtri

    a, b = ndtr((low - mean) / sd), ndtr((high - mean) / sd)
    return mean + sd * ndtri(a + u * (b - a))


def draw_heights(rng: np.random.Generator, sex: np.ndarray) -> np.ndarray:
    mean = np.where(sex == 1, pub.HEIGHT_CM["male"].value, pub.HEIGHT_CM["female"].value)
    sd = np.where(sex == 1, pub.HEIGHT_SD_CM["male"], pub.HEIGHT_SD_CM["female"])
    return truncated_normal(rng.random(sex.size), mean, sd, *HEIGHT_LIMITS_CM)


def draw_bmi(rng: np.random.Generator, band: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """Shifted lognormal (see BMI_SHIFT) inside BMI_LIMITS."""
    mu = BMI_MU_BY_BAND[band] + BMI_SEX_SHIFT[sex]
    low, high = (log(limit - BMI_SHIFT) for limit in BMI_LIMITS)
    return BMI_SHIFT + np.exp(truncated_normal(rng.random(band.size), mu, np.full(band.size, BMI_SIGMA), low, high))


def shape_bmi(lognormal_part: np.ndarray) -> np.ndarray:
    """exp(normal) draws to BMI (the calibration quadrature uses it): the shift, then the limits."""
    return np.clip(BMI_SHIFT + lognormal_part, *BMI_LIMITS)


def age_weights_by_band() -> list[tuple[np.ndarray, np.ndarray]]:
    """(ages, weights) on a half-year grid inside each band: the app's own age mix, for calibration."""
    grid = np.arange(18.25, 85.0, 0.5)
    density = np.interp(grid, AGE_KNOTS, AGE_DENSITY)
    band = age_band(grid)
    return [(grid[band == b], density[band == b] / density[band == b].sum()) for b in range(3)]
