"""One realism check: an observed figure beside its published value, with a tolerance that knows the sample size.

Tolerance = max(the model tolerance stated for the figure, Z standard errors of
the observed estimate). A small run therefore gets honest, wide tolerances; a
100k-user run gets tight ones, and a systematic bias shows up as a failure
there. Whole-population figures are compared after direct age standardisation
(:func:`standardise`) to the US adult age structure.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fitsense_luigi.synth import published as pub

Z = 4.0  # standard errors of sampling noise a check tolerates (a false alarm is ~1 in 15,000 per check)
MIN_GROUP = 5  # fewer observations than this: the check is reported but not judged
US_WEIGHTS = np.array(pub.US_AGE_WEIGHTS)


def check(
    name: str,
    observed: float | None,
    expected: float,
    tolerance: float,
    source: str,
    *,
    basis: str = "published",
    n: int,
    note: str | None = None,
) -> dict[str, Any]:
    judged = observed is not None and np.isfinite(observed) and n >= MIN_GROUP
    out: dict[str, Any] = {
        "name": name,
        "observed": round(float(observed), 4) if judged else None,
        "expected": round(float(expected), 4),
        "tolerance": round(float(tolerance), 4),
        "passed": bool(not judged or abs(float(observed) - expected) <= tolerance + 1e-12),
        "source": source,
        "basis": basis,
        "n": int(n),
    }
    if not judged:
        out["note"] = f"not judged: {n} observations (fewer than {MIN_GROUP})"
    elif note:
        out["note"] = note
    return out


def figure_check(
    name: str, observed: float | None, se: float, n: int, figure: pub.Figure, floor: float, **kw: Any
) -> dict[str, Any]:
    """A check against a published figure; call as ``figure_check(name, *estimate, figure, floor)``."""
    return check(name, observed, float(figure.value), max(floor, Z * se), figure.source, basis=figure.basis, n=n, **kw)


def proportion(hits: np.ndarray) -> tuple[float | None, float, int]:
    """Share, its standard error and n for a boolean sample."""
    n = int(hits.size)
    if n == 0:
        return None, 0.0, 0
    p = float(hits.mean())
    return p, float(np.sqrt(max(p * (1 - p), 0.25 / n) / n)), n


def mean(values: np.ndarray) -> tuple[float | None, float, int]:
    values = values[np.isfinite(values)]
    n = int(values.size)
    if n == 0:
        return None, 0.0, 0
    sd = float(values.std(ddof=1)) if n > 1 else 0.0
    return float(values.mean()), sd / np.sqrt(n), n


def median(values: np.ndarray) -> tuple[float | None, float, int]:
    """Median with the large-sample standard error 1.2533 sd / sqrt(n)."""
    values = values[np.isfinite(values)]
    n = int(values.size)
    if n == 0:
        return None, 0.0, 0
    sd = float(values.std(ddof=1)) if n > 1 else 0.0
    return float(np.median(values)), 1.2533 * sd / np.sqrt(n), n


def standardise(
    values: np.ndarray, band: np.ndarray, kind: str = "share", weights_by_band: np.ndarray | None = None
) -> tuple[float | None, float, int]:
    """Direct age standardisation: the band means weighted by the US adult age structure.

    ``kind`` is "share" (binomial standard error) or "mean" (sample standard error).
    For a figure about a subgroup (e.g. "treated, among people with hypertension")
    pass the subgroup's US age structure as ``weights_by_band``. A band without
    observations drops out and the remaining weights are renormalised.
    """
    standard = US_WEIGHTS if weights_by_band is None else np.asarray(weights_by_band)
    estimates, variances, weights = [], [], []
    for b in range(len(US_WEIGHTS)):
        x = values[(band == b) & np.isfinite(values)]
        if x.size == 0:
            continue
        m = float(x.mean())
        var = m * (1 - m) / x.size if kind == "share" else (float(x.var(ddof=1)) if x.size > 1 else 0.0) / x.size
        if kind == "share":
            var = max(var, 0.25 / x.size**2)
        estimates.append(m)
        variances.append(var)
        weights.append(standard[b])
    if not weights:
        return None, 0.0, 0
    w = np.array(weights) / sum(weights)
    n = int(np.isfinite(values).sum())
    return float(w @ np.array(estimates)), float(np.sqrt((w**2) @ np.array(variances))), n


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, q * cumulative[-1])])


def standardised_quantile(values: np.ndarray, band: np.ndarray, q: float) -> tuple[float | None, float, int]:
    """A quantile of the age-standardised distribution (each person weighted by their band's US weight)."""
    ok = np.isfinite(values)
    values, band = values[ok], band[ok]
    if values.size == 0:
        return None, 0.0, 0
    counts = np.bincount(band, minlength=3).astype(np.float64)
    weights = US_WEIGHTS[band] / np.maximum(counts[band], 1)
    estimate = weighted_quantile(values, weights, q)
    # standard error of a quantile: sqrt(q(1-q)/n) / density, density estimated from the spread around q
    lo = weighted_quantile(values, weights, max(q - 0.05, 0.0))
    hi = weighted_quantile(values, weights, min(q + 0.05, 1.0))
    density = (min(q + 0.05, 1.0) - max(q - 0.05, 0.0)) / max(hi - lo, 1e-9)
    return estimate, float(np.sqrt(q * (1 - q) / values.size) / density), int(values.size)
