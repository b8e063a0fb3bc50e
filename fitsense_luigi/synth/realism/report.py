"""The realism checks: every generated marginal beside its published figure (see ``published.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fitsense_luigi.synth import published as pub
from fitsense_luigi.synth.realism.checks import (
    MIN_GROUP,
    US_WEIGHTS,
    Estimate,
    Z,
    against,
    judge,
    mean,
    median,
    proportion,
    standardise,
    standardised_lognormal_quantile,
)
from fitsense_luigi.synth.realism.observe import Observer

METHOD = (
    "Figures within an age band or sex apply to app users unchanged and are compared directly; "
    "whole-population figures are compared after direct age standardisation of the app's band rates to the "
    f"US adult age structure ({pub.US_AGE_SOURCE}), because app users are younger than US adults. "
    f"Tolerance = max(the stated model tolerance, {Z:g} standard errors of the observed estimate; for shares the "
    f"error under the published value if larger), so small runs get wide tolerances and large runs tight ones; "
    f"groups under {MIN_GROUP} observations are reported but not judged. basis: published = as printed in the "
    "source, derived = computed from published figures, assumption = a modelling choice without a published anchor."
)
BANDS = pub.AGE_BANDS
SEXES = (("women", 0, "female"), ("men", 1, "male"))


def build(obs: Observer) -> dict[str, Any]:
    every = people_checks(obs) + condition_checks(obs) + habit_checks(obs) + training_checks(obs)
    checks = [c for c in every if c["observed"] is not None]
    return {
        "passed": all(c["passed"] for c in checks),
        "users": obs.n,
        "lookback_days": obs.lookback,
        "as_of_date": obs.as_of.isoformat(),
        "method": METHOD,
        "checks": checks,
        "unjudged": [c for c in every if c["observed"] is None],  # too few people in the group to say anything
    }


def _bmi(obs: Observer) -> np.ndarray:
    return obs.weight["first_w"] / (obs.height / 100) ** 2


def _per(numerator: np.ndarray, count: np.ndarray, at_least: float) -> np.ndarray:
    """Per-user mean where the user has enough observations, NaN elsewhere."""
    return np.where(count >= at_least, numerator / np.maximum(count, 1), np.nan)


def people_checks(obs: Observer) -> list[dict[str, Any]]:
    out = [
        against("mean age of app users (years)", mean(obs.age), pub.APP_MEAN_AGE, 2.0),
        against("share of women", proportion(obs.sex[obs.sex >= 0] == 0), pub.APP_SHARE_WOMEN, 0.03),
    ]
    out += [
        against(f"mean height of {sex} (cm)", mean(obs.height[obs.sex == code]), pub.HEIGHT_CM[label], 1.0)
        for sex, code, label in SEXES
    ]
    bmi = _bmi(obs)
    measured = np.isfinite(bmi)
    out += [
        judge(
            f"obesity (BMI >= 30), age {band}",
            proportion(bmi[measured & (obs.band == b)] >= 30),
            pub.OBESITY_BY_BAND.value[b],
            0.03,
            pub.OBESITY_BY_BAND.source,
        )
        for b, band in enumerate(BANDS)
    ]
    obese, severe = np.where(measured, bmi >= 30, np.nan), np.where(measured, bmi >= 40, np.nan)
    out.append(against("obesity (BMI >= 30), age-standardised", standardise(obese, obs.band), pub.OBESITY, 0.03))
    out.append(against("BMI >= 40, age-standardised", standardise(severe, obs.band), pub.SEVERE_OBESITY, 0.02))
    out += [
        against(
            f"mean BMI of {sex}, age-standardised",
            standardise(np.where(obs.sex == code, bmi, np.nan), obs.band, "mean"),
            pub.BMI_MEAN[label],
            0.7,
        )
        for sex, code, label in SEXES
    ]
    sigma = float(pub.BMI_SIGMA.value)
    out += [
        judge(
            f"BMI {int(q * 100)}th percentile, age-standardised",
            standardised_lognormal_quantile(bmi, obs.band, q),
            float(np.exp(3.34 + z * sigma)),
            1.2,
            "NCHS Data Brief 508: lognormal(mu 3.34, sigma 0.27)",
            basis="derived",
        )
        for q, z in ((0.1, -1.2816), (0.5, 0.0), (0.9, 1.2816))
    ]
    return out


def condition_checks(obs: Observer) -> list[dict[str, Any]]:
    out = []
    measured = np.isfinite(obs.age)
    for name, fig in pub.CONDITIONS.items():
        has = np.where(measured, obs.conditions[name], np.nan)
        for b, band in enumerate(BANDS):
            # diabetes: the 40-59 band is derived, the other two are printed in the source
            basis = "published" if name == "type_2_diabetes" and b != 1 else fig.basis
            sample = obs.conditions[name][measured & (obs.band == b)]
            out.append(
                judge(
                    f"{name} prevalence, age {band}", proportion(sample), fig.by_band[b], 0.03, fig.source, basis=basis
                )
            )
        out.append(
            judge(
                f"{name} prevalence, age-standardised",
                standardise(has, obs.band),
                fig.overall,
                0.02,
                fig.source,
                basis=fig.basis,
            )
        )
        for sex, code, _ in SEXES if fig.by_sex else ():
            estimate = standardise(np.where(obs.sex == code, has, np.nan), obs.band)
            out.append(
                judge(f"{name} prevalence in {sex}, age-standardised", estimate, fig.by_sex[code], 0.025, fig.source)
            )

    bmi = _bmi(obs)
    diabetic_obese = np.where(np.isfinite(bmi) & (bmi >= 30), obs.conditions["type_2_diabetes"], np.nan)
    obese_weights = US_WEIGHTS * pub.OBESITY_BY_BAND.value
    out.append(
        against(
            "type_2_diabetes among BMI >= 30, age-standardised",
            standardise(diabetic_obese, obs.band, weights_by_band=obese_weights),
            pub.DIABETES_AMONG_OBESE,
            0.04,
        )
    )
    hypertensive = obs.conditions["hypertension"]
    treated = obs.medications["lisinopril"] | obs.medications["amlodipine"] | obs.medications["metoprolol succinate"]
    hypertensive_weights = US_WEIGHTS * pub.CONDITIONS["hypertension"].by_band
    out.append(
        against(
            "hypertension treated with medication, age-standardised",
            standardise(np.where(hypertensive, treated, np.nan), obs.band, weights_by_band=hypertensive_weights),
            pub.HYPERTENSION_TREATED,
            0.05,
        )
    )
    stray = obs.medications["metoprolol succinate"] & ~hypertensive
    out.append(
        judge(
            "beta-blocker users without hypertension (count)",
            Estimate(float(stray.sum()), 0.0, obs.n),
            0.0,
            0.0,
            "rule: a beta-blocker is prescribed only for a condition that warrants it",
            basis="assumption",
        )
    )
    out.append(against("food allergy (any)", proportion(obs.food_allergy), pub.FOOD_ALLERGY, 0.02))
    out.append(against("penicillin allergy label", proportion(obs.penicillin), pub.PENICILLIN_LABEL, 0.02))
    food_rows = sum(obs.food_allergens.values())
    shellfish = np.arange(food_rows) < obs.food_allergens.get("shellfish", 0)
    prevalence = pub.FOOD_ALLERGEN_PREVALENCE
    out.append(
        judge(
            "shellfish share of food allergies (the most common)",
            proportion(shellfish),
            prevalence["shellfish"] / sum(prevalence.values()),
            0.04,
            "Gupta 2019: shellfish 2.9% of adults, the most common food allergy",
            basis="derived",
        )
    )
    return out


def habit_checks(obs: Observer) -> list[dict[str, Any]]:
    s, k = obs.sleep, obs.kcal
    avg_sleep = _per(s["sum"], s["n"], 7)
    logged = np.isfinite(avg_sleep)
    shift = np.where(
        (s["weekend_n"] >= 2) & (s["weekday_n"] >= 4),
        _per(s["weekend_sum"], s["weekend_n"], 1) - _per(s["weekday_sum"], s["weekday_n"], 1),
        np.nan,
    )
    mean_kcal = _per(k["sum"], k["n"], 14)
    variance = np.maximum(k["sumsq"] / np.maximum(k["n"], 1) - mean_kcal**2, 0) * k["n"] / np.maximum(k["n"] - 1, 1)
    weekend_ratio = np.where(
        (k["weekend_n"] >= 2) & (k["weekday_n"] >= 4),
        _per(k["weekend_sum"], k["weekend_n"], 1) / _per(k["weekday_sum"], k["weekday_n"], 1),
        np.nan,
    )
    slope, pct_week = weight_trend(obs)
    implied = obs.maintenance + pub.KCAL_PER_KG.value * slope
    under = np.where(implied > 800, mean_kcal / implied, np.nan)
    ceiling = float(pub.DIET_CEILING_PCT_WEEK.value)
    trended = np.isfinite(pct_week)
    return [
        against("mean logged sleep (h)", mean(avg_sleep), pub.SLEEP_MEAN_H, 0.25),
        against("share of users averaging < 7 h sleep", proportion(avg_sleep[logged] < 7), pub.SLEEP_SHORT, 0.05),
        against("share of users averaging >= 10 h sleep", proportion(avg_sleep[logged] >= 10), pub.SLEEP_LONG, 0.015),
        against("weekend minus weekday sleep (h), median", median(shift), pub.SLEEP_WEEKEND_SHIFT_H, 0.1),
        against(
            "within-person CV of logged intake, median", median(np.sqrt(variance) / mean_kcal), pub.INTAKE_CV, 0.02
        ),
        against("weekend / Mon-Thu logged intake, median", median(weekend_ratio), pub.WEEKEND_INTAKE_RATIO, 0.03),
        against(
            "logged intake / intake implied by weight change and maintenance, median",
            median(under),
            pub.UNDER_REPORTING,
            0.06,
            note="implied intake = maintenance_calories + 7700 kcal/kg x weight slope",
        ),
        against(
            "weekly weight change of weight-loss users (% of body weight), median",
            median(pct_week[obs.goal == "weight_loss"]),
            pub.DIET_PCT_WEEK,
            0.1,
        ),
        judge(
            "share of users losing more than 1% of body weight a week",
            proportion(pct_week[trended] < -ceiling),
            0.0,
            0.02,
            pub.DIET_CEILING_PCT_WEEK.source,
        ),
        against(
            "weekly weight change of muscle-gain users (%), median",
            median(pct_week[obs.goal == "muscle_gain"]),
            pub.BULK_GAIN_PCT_WEEK,
            0.15,
        ),
    ]


def weight_trend(obs: Observer) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope of logged weight (kg/day) and as % of body weight per week, per user."""
    w = obs.weight
    n = w["n"]
    denominator = n * w["tt"] - w["t"] ** 2
    spread = denominator / np.maximum(n, 1) ** 2  # variance of the log days
    ok = (n >= 2) & (spread >= 14**2 / 4)
    slope = np.where(ok, (n * w["tw"] - w["t"] * w["w"]) / np.where(ok, denominator, 1), np.nan)
    return slope, slope * 7 / w["first_w"] * 100


def training_checks(obs: Observer) -> list[dict[str, Any]]:
    weeks = obs.horizon_days / 7
    planned = obs.plan_days * weeks
    adherence = np.where(planned > 0, np.minimum(obs.workouts["count"] / planned, 1.0), np.nan)
    out = [
        against(
            f"adherence (sessions done / scheduled) over the first {weeks:g} weeks, mean",
            mean(adherence),
            pub.ADHERENCE,
            0.05,
            note="app users train self-directed: aimed between the overall and the strength-programme figure",
        )
    ]
    first, last = obs.workouts["first4"].sum(), obs.workouts["last4"].sum()
    if obs.horizon_days >= 56 and first > 0:
        se = np.sqrt(1 / max(last, 1) + 1 / first) * last / first
        estimate = Estimate(last / first, float(se), int(first + last))
        name = f"sessions in weeks {weeks - 3:g}-{weeks:g} / weeks 1-4"
        out.append(against(name, estimate, pub.ADHERENCE_FADE, 0.08))
    days_ok = _days_within_acsm(obs)
    out.append(
        judge(
            "plans with days/week inside the ACSM range for the experience level (share)",
            Estimate(float(days_ok.mean()) if days_ok.size else None, 0.0, int(days_ok.size)),
            1.0,
            0.0,
            "ACSM 2009: novices 2-3, intermediate 3-4, advanced 4-5 days/week (diabetes or 65+: at most 3, ADA 2016)",
        )
    )
    total = obs.rep_range["total"]
    out.append(
        judge(
            "loaded compound plan sets with target reps inside the ACSM range for goal and level (share)",
            Estimate(obs.rep_range["in_range"] / total if total else None, 0.0, total),
            1.0,
            0.0,
            pub.REP_RANGES_SOURCE,
        )
    )
    steps = np.concatenate(obs.progression).astype(np.float64) if obs.progression else np.zeros(0)
    out.append(
        against(
            "load increase after a session that beat the target (loads >= 10 plate steps), median",
            median(steps),
            pub.PROGRESSION,
            0.01,
        )
    )
    for sex, code, label in SEXES:
        group = (obs.sex == code) & (obs.age >= 20) & (obs.age < 30) & (obs.plan_experience == 1)
        figure = pub.BENCH_TO_BODY_WEIGHT_20S[label]
        ratio = (_per(obs.bench["sum"], obs.bench["n"], 1) / obs.weight["first_w"])[group]
        out.append(
            against(
                f"bench press e1RM (Epley on reps + RIR, weeks 1-3) / body weight, intermediate {sex} 20-29, median",
                median(ratio),
                figure,
                0.03,
            )
        )
    count = int(obs.minutes.sum())
    minutes = float(np.searchsorted(np.cumsum(obs.minutes), count / 2)) if count else None
    out.append(against("session duration (minutes), median", Estimate(minutes, 0.0, count), pub.SESSION_MINUTES, 5.0))
    return out


def _days_within_acsm(obs: Observer) -> np.ndarray:
    has_plan = obs.plan_experience >= 0
    level = obs.plan_experience[has_plan]
    days = obs.plan_days[has_plan]
    low = np.array([r[0] for r in pub.DAYS_PER_WEEK.values()])[level]
    high = np.array([r[1] for r in pub.DAYS_PER_WEEK.values()])[level]
    capped = (obs.conditions["type_2_diabetes"] | (obs.age >= 65))[has_plan]
    return np.where(capped, (days <= 3) & (days >= np.minimum(low, 2)), (days >= low) & (days <= high))
