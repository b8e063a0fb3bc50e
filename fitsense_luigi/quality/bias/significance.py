"""The statistics behind bias slicing: bootstrap intervals, rank and contingency tests, FDR control.

Kept apart from the slicing so each piece can be checked against scipy's
reference implementation on its own. Everything is vectorised: a slice test
costs a masked sum over precomputed ranks, a bootstrap at most a few matrix
draws, so hundreds of slices stay cheap at 100k records.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

RESAMPLE_BUDGET = 4_000_000  # values drawn per bootstrap batch: bounds memory at any slice size


def bootstrap_mean_interval(
    values: np.ndarray, rng: np.random.Generator, resamples: int, confidence: float
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean.

    When the values take few distinct levels (lengths, ratios on a grid) a
    resample is a multinomial draw of counts per level, which is exact and costs
    O(levels) instead of O(n) per resample.
    """
    n = values.size
    levels, counts = np.unique(values, return_counts=True)
    if levels.size * 4 <= n:
        draws = rng.multinomial(n, counts / n, size=resamples)
        means = draws @ levels / n
    else:
        means = np.empty(resamples)
        batch = max(1, RESAMPLE_BUDGET // n)
        for start in range(0, resamples, batch):
            stop = min(resamples, start + batch)
            means[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def bootstrap_rate_interval(
    events: int, n: int, rng: np.random.Generator, resamples: int, confidence: float
) -> tuple[float, float]:
    """Percentile bootstrap interval of a proportion (resampling 0/1 outcomes is a binomial draw)."""
    rates = rng.binomial(n, events / n, size=resamples) / n
    tail = (1 - confidence) / 2
    low, high = np.quantile(rates, [tail, 1 - tail])
    return float(low), float(high)


class RankedSample:
    """Average ranks of one pooled sample, reused for every 'slice vs the rest' Kruskal-Wallis test."""

    def __init__(self, values: np.ndarray) -> None:
        self.n = values.size
        self.ranks = stats.rankdata(values)
        _, ties = np.unique(values, return_counts=True)
        n = float(self.n)
        self.tie_correction = 1.0 - float((ties.astype(float) ** 3 - ties).sum()) / (n**3 - n) if n > 1 else 0.0

    def slice_vs_rest(self, mask: np.ndarray) -> tuple[float, float]:
        """(H, p) of Kruskal-Wallis with two groups: ``mask`` and the rest of the sample."""
        n1 = int(mask.sum())
        n2 = self.n - n1
        if n1 == 0 or n2 == 0 or self.tie_correction <= 0:
            return 0.0, 1.0
        n = float(self.n)
        r1 = float(self.ranks[mask].sum())
        r2 = n * (n + 1) / 2 - r1
        h = (12.0 / (n * (n + 1)) * (r1 * r1 / n1 + r2 * r2 / n2) - 3 * (n + 1)) / self.tie_correction
        h = max(h, 0.0)
        return h, float(stats.chi2.sf(h, 1))


def kruskal_groups(groups: Sequence[np.ndarray]) -> tuple[float, float]:
    """Kruskal-Wallis across several groups; identical values everywhere means no evidence (p = 1)."""
    if len(groups) < 2:
        return 0.0, 1.0
    try:
        result = stats.kruskal(*groups)
    except ValueError:
        return 0.0, 1.0
    if not np.isfinite(result.pvalue):
        return 0.0, 1.0
    return float(result.statistic), float(result.pvalue)


def chi_square(table: np.ndarray) -> tuple[float, float]:
    """Pearson chi-square of independence (Yates-corrected for 2x2); an empty row or column means p = 1."""
    table = np.asarray(table, dtype=float)
    if table.shape[0] < 2 or (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    result = stats.chi2_contingency(table)
    return float(result.statistic), float(result.pvalue)


# How big a difference is, beside how sure we are of it (a p-value shrinks with n; these do not).
EPSILON_SQUARED = "epsilon-squared"
CRAMERS_V = "cramers-v"


def epsilon_squared(h: float, n: int) -> float:
    """Effect size of a Kruskal-Wallis test: epsilon-squared = H / ((n^2 - 1) / (n + 1)) = H / (n - 1), the share
    of the variance of the (mid)ranks that lies between the groups, 0 (none) to 1 (groups fully apart)
    (Kelley 1935; recommended for Kruskal-Wallis by Tomczak & Tomczak 2014, Trends Sport Sci 21(1):19-25)."""
    return max(0.0, h / (n - 1)) if n > 1 else 0.0


def cramers_v(table: np.ndarray) -> float:
    """Effect size of a chi-square test of independence: Cramer's V = sqrt(chi2 / (n (min(rows, cols) - 1))), from
    the uncorrected chi2 (Cramer 1946, Mathematical Methods of Statistics, 21.9), 0 (independent) to 1; for a
    2 x 2 table it is Cohen's w (0.1 small, 0.3 medium, 0.5 large: Cohen 1988, ch. 7)."""
    table = np.asarray(table, dtype=float)
    n, k = table.sum(), min(table.shape) - 1
    if k < 1 or n == 0 or (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
        return 0.0
    chi2 = stats.chi2_contingency(table, correction=False).statistic
    return float(np.sqrt(chi2 / (n * k)))


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """q-values controlling the false discovery rate over one family of tests."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p
    return stats.false_discovery_control(p, method="bh")
