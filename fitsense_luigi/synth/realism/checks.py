"""One realism check: an observed figure beside its published value, with a tolerance that knows the sample size.

Tolerance = the model error stated for the figure + Z standard errors of the
observed estimate: the sampling part shrinks as 1/sqrt(n), so a 100k-user run is
held to little more than the model error. The model error is the honest
distance between an app world and a population survey (app users are not a
survey sample; definitions differ); it is stated beside every figure. For a
share the standard error is taken under the
published value (the hypothesis being checked) as well as under the observed
one, whichever is larger, so a small run that happens to see no long sleepers
is not failed for it. A small run therefore gets honest, wide tolerances; a
100k-user run gets tight ones, and a systematic bias shows up as a failure
there. Whole-population figures are compared after direct age standardisation
(:func:`standardise`) to the US adult age structure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fitsense_luigi.synth import published as pub

Z = 4.0  # standard errors of sampling noise a check tolerates (a false alarm is ~1 in 15,000 per check)
MIN_GROUP = 5  # fewer observations than this: the check is reported but not judged
US_WEIGHTS = np.array(pub.US_AGE_WEIGHTS)


@dataclass(frozen=True)
class Estimate:
    value: float | None
    se: float  # standard error under the observed value
    n: int  # observations behind it
    share_n: float | None = None  # for shares: effective sample size, to also take the error under the expectation

    def error(self, expected: float) -> float:
        if self.share_n is None or self.share_n <= 0:
            return self.se
        return max(self.se, float(np.sqrt(max(expected * (1 - expected), 0.0) / self.share_n)))


NOTHING = Estimate(None, 0.0, 0)


Expected = float | tuple[float, float]


def judge(
    name: str,
    estimate: Estimate,
    expected: Expected,
    floor: float,
    source: str,
    *,
    basis: str = "published",
    note: str | None = None,
    kind: str = "calibration",
) -> dict[str, Any]:
    """The check as written to realism.json; ``expected`` is a value or a published (low, high) range.

    ``kind``: calibration (a figure the generator aims at), held_out (a figure it never reads) or rule
    (a guideline or a consistency rule every row must keep). Passed when the observed value is within
    ``tolerance`` of the value, or of the range.
    """
    value, n = estimate.value, estimate.n
    judged = value is not None and bool(np.isfinite(value)) and n >= MIN_GROUP
    low, high = (expected, expected) if isinstance(expected, int | float) else expected
    tolerance = floor + Z * estimate.error((low + high) / 2)
    if judged:
        outside = max(low - float(value), 0.0) + max(float(value) - high, 0.0)
    out: dict[str, Any] = {
        "name": name,
        "observed": round(float(value), 4) if judged else None,
        "expected": round(float(low), 4) if low == high else [round(float(low), 4), round(float(high), 4)],
        "tolerance": round(float(tolerance), 4),
        "passed": bool(not judged or outside <= tolerance + 1e-12),
        "source": source,
        "basis": basis,
        "kind": kind,
        "n": int(n),
    }
    if not judged:
        out["note"] = f"not judged: {n} observations (fewer than {MIN_GROUP})"
    elif note:
        out["note"] = note
    return out


def against(name: str, estimate: Estimate, figure: pub.Figure, floor: float, **kw: Any) -> dict[str, Any]:
    """A check against a calibration figure of ``published.py`` (its value, source and basis)."""
    return judge(name, estimate, figure.value, floor, figure.source, basis=figure.basis, **kw)


def held_out(name: str, estimate: Estimate, figure: Any, **kw: Any) -> dict[str, Any]:
    """A check against a figure of ``held_out.py``, which no generator reads."""
    return judge(
        name, estimate, figure.value, figure.model_error, figure.source, basis=figure.basis, kind="held_out", **kw
    )


def count(name: str, bad: np.ndarray, source: str, n: int | None = None, **kw: Any) -> dict[str, Any]:
    """A rule every row keeps: the number of rows breaking it must be zero (no sampling tolerance).

    ``n`` is the number of rows examined when ``bad`` flags something else (e.g. histogram bins)."""
    examined = int(bad.size if n is None else n)
    return judge(name, Estimate(float(bad.sum()), 0.0, examined), 0.0, 0.0, source, kind="rule", **kw)


def proportion(hits: np.ndarray) -> Estimate:
    """Share of a boolean sample."""
    n = int(hits.size)
    if n == 0:
        return NOTHING
    p = float(hits.mean())
    return Estimate(p, float(np.sqrt(p * (1 - p) / n)), n, share_n=n)


def _spread(values: np.ndarray, scale: float) -> Estimate:
    values = values[np.isfinite(values)]
    n = int(values.size)
    if n == 0:
        return NOTHING
    sd = float(values.std(ddof=1)) if n > 1 else 0.0
    return Estimate(float("nan"), scale * sd / np.sqrt(n), n)


def mean(values: np.ndarray) -> Estimate:
    spread = _spread(values, 1.0)
    if spread.n == 0:
        return spread
    return Estimate(float(np.nanmean(values[np.isfinite(values)])), spread.se, spread.n)


def median(values: np.ndarray) -> Estimate:
    """Median with the large-sample standard error 1.2533 sd / sqrt(n)."""
    spread = _spread(values, 1.2533)
    if spread.n == 0:
        return spread
    return Estimate(float(np.median(values[np.isfinite(values)])), spread.se, spread.n)


def standardise(
    values: np.ndarray, band: np.ndarray, kind: str = "share", weights_by_band: np.ndarray | None = None
) -> Estimate:
    """Direct age standardisation: the band means weighted by the US adult age structure.

    ``kind`` is "share" or "mean". For a figure about a subgroup (e.g. "treated, among people
    with hypertension") pass the subgroup's US age structure as ``weights_by_band``. A band
    without observations drops out and the remaining weights are renormalised; a band with
    fewer than MIN_GROUP makes the estimate unjudgeable (n is then that band's size).
    """
    standard = US_WEIGHTS if weights_by_band is None else np.asarray(weights_by_band)
    finite = values[np.isfinite(values)]
    pooled = float(finite.var(ddof=1)) if finite.size > 1 else 0.0  # a handful of people in a band say little
    means, variances, weights, sizes = [], [], [], []
    for b in range(len(standard)):
        x = values[(band == b) & np.isfinite(values)]
        if x.size == 0:
            continue
        m = float(x.mean())
        var = m * (1 - m) if kind == "share" else max(float(x.var(ddof=1)) if x.size > 1 else 0.0, pooled)
        means.append(m)
        variances.append(var / x.size)
        weights.append(standard[b])
        sizes.append(x.size)
    if not weights or min(sizes) < MIN_GROUP:  # one person standing for a third of the US says nothing
        return Estimate(None, 0.0, min(sizes, default=0))
    w = np.array(weights) / sum(weights)
    n = int(sum(sizes))
    effective = 1.0 / float(((w**2) / np.array(sizes)).sum())  # Kish: the n a simple sample would need
    share_n = effective if kind == "share" else None
    return Estimate(float(w @ np.array(means)), float(np.sqrt((w**2) @ np.array(variances))), n, share_n)
