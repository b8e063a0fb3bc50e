"""Conditions, their severity and the medications that treat them.

Each condition's probability is logistic in age (inside the band) and BMI:

    logit p = alpha[band, sex] + per_year * (age - band mean age) + per_bmi * (BMI - 27)

The intercepts are solved at import, by bisection over a quadrature of the
app's own age mix and the band's BMI distribution, so that the expected rate in
every band and sex is exactly the published one while prevalence still rises
smoothly with age and BMI inside a band. Medications follow conditions only:
a beta-blocker is never drawn for anyone without hypertension.
"""

from __future__ import annotations

import numpy as np

from fitsense_luigi.reference.conditions import CONDITIONS
from fitsense_luigi.reference.medications import MEDICATIONS
from fitsense_luigi.synth import demography
from fitsense_luigi.synth import published as pub

CONDITION_NAMES: tuple[str, ...] = tuple(CONDITIONS)
MEDICATION_NAMES: tuple[str, ...] = tuple(m.name for m in MEDICATIONS)
SEVERITIES = np.array(["mild", "moderate", "severe"])
BMI_PIVOT = 27.0

_NODES, _NODE_WEIGHTS = np.polynomial.hermite_e.hermegauss(40)
_NODE_WEIGHTS = _NODE_WEIGHTS / _NODE_WEIGHTS.sum()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _band_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ages, age weights (padded to one width) and the weighted mean age of each band."""
    parts = demography.age_weights_by_band()
    width = max(a.size for a, _ in parts)
    ages = np.zeros((3, width))
    weights = np.zeros((3, width))
    for b, (a, w) in enumerate(parts):
        ages[b, : a.size], weights[b, : a.size] = a, w
    return ages, weights, (ages * weights).sum(axis=1)


_AGES, _AGE_W, BAND_MEAN_AGE = _band_grid()


def _bmi_nodes() -> np.ndarray:
    """(band, sex, node) BMI values of the quadrature."""
    mu = demography.BMI_MU_BY_BAND[:, None, None] + demography.BMI_SEX_SHIFT[None, :, None]
    return demography.shape_bmi(np.exp(mu + demography.BMI_SIGMA * _NODES[None, None, :]))


_BMI = _bmi_nodes()


def _expected_rate(alpha: np.ndarray, per_year: np.ndarray, per_bmi: np.ndarray, where: np.ndarray | None = None):
    """E[p] over age and BMI for (condition, band, sex); ``where`` masks BMI nodes (e.g. BMI >= 30)."""
    age_term = per_year[:, None, None, None, None] * (_AGES - BAND_MEAN_AGE[:, None])[None, :, None, :, None]
    bmi_term = per_bmi[:, None, None, None, None] * (_BMI - BMI_PIVOT)[None, :, :, None, :]
    p = _sigmoid(alpha[:, :, :, None, None] + age_term + bmi_term)
    node_w = _NODE_WEIGHTS if where is None else _NODE_WEIGHTS * where
    return np.einsum("cbsaz,ba,bsz->cbs", p, _AGE_W, np.broadcast_to(node_w, _BMI.shape))


def calibrate(figures: dict[str, pub.ConditionFigures]) -> np.ndarray:
    """(condition, band, sex) intercepts that reproduce each band's published rate."""
    names = list(figures)
    target = np.array([[[f.target(b, s) for s in (0, 1)] for b in range(3)] for f in figures.values()])
    per_year = np.array([figures[n].per_year for n in names])
    per_bmi = np.array([figures[n].per_bmi for n in names])
    lo, hi = np.full(target.shape, -20.0), np.full(target.shape, 20.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        low = _expected_rate(mid, per_year, per_bmi) < target
        lo, hi = np.where(low, mid, lo), np.where(low, hi, mid)
    return (lo + hi) / 2


INTERCEPTS = calibrate(pub.CONDITIONS)
_PER_YEAR = np.array([pub.CONDITIONS[n].per_year for n in CONDITION_NAMES])
_PER_BMI = np.array([pub.CONDITIONS[n].per_bmi for n in CONDITION_NAMES])


def draw_conditions(
    rng: np.random.Generator, age: np.ndarray, band: np.ndarray, sex: np.ndarray, bmi: np.ndarray
) -> np.ndarray:
    """(n, conditions) bool."""
    logit = (
        INTERCEPTS[:, band, sex].T
        + _PER_YEAR[None, :] * (age - BAND_MEAN_AGE[band])[:, None]
        + _PER_BMI[None, :] * (bmi - BMI_PIVOT)[:, None]
    )
    return rng.random(logit.shape) < _sigmoid(logit)


def _col(name: str) -> int:
    return MEDICATION_NAMES.index(name)


def draw_medications(rng: np.random.Generator, conditions: np.ndarray, band: np.ndarray, age: np.ndarray) -> np.ndarray:
    """(n, medications) bool; every drug is tied to a condition the person has."""
    n = conditions.shape[0]
    has = {name: conditions[:, j] for j, name in enumerate(CONDITION_NAMES)}
    meds = np.zeros((n, len(MEDICATION_NAMES)), dtype=bool)
    u = rng.random((n, 12))

    # hypertension: about half treated (more with age); first drug by class share, 30% add a second
    treated = has["hypertension"] & (u[:, 0] < np.array(pub.HYPERTENSION_TREATED_BY_BAND)[band])
    first = np.searchsorted(np.cumsum([0.40, 0.35, 0.25]), u[:, 1], side="right").clip(0, 2)
    second = (first + 1 + (u[:, 2] < 0.5)) % 3
    two = treated & (u[:, 3] < 0.30)
    for k, name in enumerate(("lisinopril", "amlodipine", "metoprolol succinate")):
        meds[:, _col(name)] = treated & (first == k) | two & (second == k)

    # type 2 diabetes: most treated; metformin first line, a sulfonylurea or basal insulin when it is not enough
    diabetic = has["type_2_diabetes"] & (u[:, 4] < 0.87)
    metformin = diabetic & (u[:, 5] < 0.85)
    insulin = diabetic & (u[:, 6] < 0.10)
    glipizide = diabetic & ~insulin & ((~metformin) | (u[:, 7] < 0.15))
    meds[:, _col("metformin")] = metformin
    meds[:, _col("insulin glargine")] = insulin
    meds[:, _col("glipizide")] = glipizide
    meds[:, _col("atorvastatin")] = has["type_2_diabetes"] & (age >= 40) & (u[:, 8] < 0.55)

    # asthma: nearly everyone has a reliever, a minority a controller; joint pain: painkillers as needed
    meds[:, _col("albuterol inhaler")] = has["asthma"] & (u[:, 9] < 0.85)
    meds[:, _col("fluticasone inhaler")] = has["asthma"] & (u[:, 10] < 0.40)
    pain = u[:, 11]
    meds[:, _col("naproxen")] = has["knee_osteoarthritis"] & (pain < 0.30)
    meds[:, _col("acetaminophen")] = has["lower_back_pain"] & (pain > 0.75)
    return meds


def draw_severity(rng: np.random.Generator, conditions: np.ndarray, meds: np.ndarray, age: np.ndarray) -> np.ndarray:
    """(n, conditions) index into SEVERITIES, consistent with treatment (insulin, two drugs, a controller)."""
    score = rng.normal(0.0, 1.0, conditions.shape) + 0.015 * (age - 40)[:, None]
    on = {name: meds[:, j] for j, name in enumerate(MEDICATION_NAMES)}
    htn_drugs = on["lisinopril"].astype(int) + on["amlodipine"] + on["metoprolol succinate"]
    bumps = {
        "hypertension": 0.9 * htn_drugs,
        "type_2_diabetes": 0.8 * (on["metformin"] | on["glipizide"])
        + 1.2 * on["glipizide"]
        + 2.0 * on["insulin glargine"],
        "asthma": 1.4 * on["fluticasone inhaler"] + 0.3 * on["albuterol inhaler"],
        "knee_osteoarthritis": 0.8 * on["naproxen"] + 0.02 * np.maximum(age - 50, 0),
        "lower_back_pain": 0.8 * on["acetaminophen"],
    }
    for j, name in enumerate(CONDITION_NAMES):
        score[:, j] += bumps[name]
    severity = np.digitize(score, [0.7, 1.9]).astype(np.int8)
    return np.where(conditions, severity, -1).astype(np.int8)
