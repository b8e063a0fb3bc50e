"""The realism checks: every generated marginal beside its published figure (see ``published.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fitsense_luigi.synth import published as pub
from fitsense_luigi.synth.realism.checks import (
    MIN_GROUP,
    US_WEIGHTS,
    Z,
    check,
    figure_check,
    mean,
    median,
    proportion,
    standardise,
    standardised_quantile,
)
from fitsense_luigi.synth.realism.observe import Observer

METHOD = (
    "Figures within an age band or sex apply to app users unchanged and are compared directly; "
    "whole-population figures are compared after direct age standardisation of the app's band rates to the "
    f"US adult age structure ({pub.US_AGE_SOURCE}), because app users are younger than US adults. "
    f"Tolerance = max(the stated model tolerance, {Z:g} standard errors of the observed estimate), so small "
    f"runs get wide tolerances and large runs tight ones; groups under {MIN_GROUP} observations are reported "
    "but not judged. basis: published = as printed in the source, derived = computed from published figures, "
    "assumption = a modelling choice without a published anchor."
)
BANDS = pub.AGE_BANDS


def build(obs: Observer) -> dict[str, Any]:
    checks = people_checks(obs) + condition_checks(obs) + habit_checks(obs) + training_checks(obs)
    return {
        "passed": all(c["passed"] for c in checks),
        "users": obs.n,
        "lookback_days": obs.lookback,
        "as_of_date": obs.as_of.isoformat(),
        "method": METHOD,
        "checks": checks,
    }


def _bmi(obs: Observer) -> np.ndarray:
    return obs.weight["first_w"] / (obs.height / 100) ** 2


def people_checks(obs: Observer) -> list[dict[str, Any]]:
    out = [
        figure_check("mean age of app users (years)", *(mean(obs.age)), pub.APP_MEAN_AGE, 2.0),
        figure_check("share of women", *(proportion(obs.sex[obs.sex >= 0] == 0)), pub.APP_SHARE_WOMEN, 0.03),
    ]
    for sex, code in (("men", 1), ("women", 0)):
        label = "male" if code else "female"
        out.append(
            figure_check(f"mean height of {sex} (cm)", *(mean(obs.height[obs.sex == code])), pub.HEIGHT_CM[label], 1.0)
        )
    bmi = _bmi(obs)
    measured = np.isfinite(bmi)
    obese = np.where(measured, bmi >= 30, np.nan)
    for b, band in enumerate(BANDS):
        share, se, n = proportion(bmi[measured & (obs.band == b)] >= 30)
        out.append(
            check(
                f"obesity (BMI >= 30), age {band}",
                share,
                pub.OBESITY_BY_BAND.value[b],
                max(0.03, Z * se),
                pub.OBESITY_BY_BAND.source,
                n=n,
            )
        )
    out.append(
        figure_check("obesity (BMI >= 30), age-standardised", *(standardise(obese, obs.band)), pub.OBESITY, 0.03)
    )
    severe = np.where(measured, bmi >= 40, np.nan)
    out.append(figure_check("BMI >= 40, age-standardised", *(standardise(severe, obs.band)), pub.SEVERE_OBESITY, 0.02))
    for sex, code in (("men", 1), ("women", 0)):
        mine = np.where(obs.sex == code, bmi, np.nan)
        label = "male" if code else "female"
        out.append(
            figure_check(
                f"mean BMI of {sex}, age-standardised",
                *(standardise(mine, obs.band, "mean")),
                pub.BMI_MEAN[label],
                0.7,
            )
        )
    sigma = float(pub.BMI_SIGMA.value)
    for q, z in ((0.1, -1.2816), (0.5, 0.0), (0.9, 1.2816)):
        expected = float(np.exp(3.34 + z * sigma))
        value, se, n = standardised_quantile(bmi, obs.band, q)
        out.append(
            check(
                f"BMI {int(q * 100)}th percentile, age-standardised",
                value,
                expected,
                max(1.2, Z * se),
                "NCHS Data Brief 508: lognormal(mu 3.34, sigma 0.27)",
                basis="derived",
                n=n,
            )
        )
    return out


def condition_checks(obs: Observer) -> list[dict[str, Any]]:
    out = []
    measured = np.isfinite(obs.age)
    for name, fig in pub.CONDITIONS.items():
        has = np.where(measured, obs.conditions[name], np.nan)
        for b, band in enumerate(BANDS):
            share, se, n = proportion(obs.conditions[name][measured & (obs.band == b)])
            basis = "derived" if name in ("knee_osteoarthritis", "lower_back_pain") else fig.basis
            if name == "type_2_diabetes" and b != 1:
                basis = "published"
            out.append(
                check(
                    f"{name} prevalence, age {band}",
                    share,
                    fig.by_band[b],
                    max(0.03, Z * se),
                    fig.source,
                    basis=basis,
                    n=n,
                )
            )
        value, se, n = standardise(has, obs.band)
        out.append(
            check(
                f"{name} prevalence, age-standardised",
                value,
                fig.overall,
                max(0.02, Z * se),
                fig.source,
                basis=fig.basis,
                n=n,
            )
        )
        if fig.by_sex:
            for sex, code in (("women", 0), ("men", 1)):
                value, se, n = standardise(np.where(obs.sex == code, has, np.nan), obs.band)
                out.append(
                    check(
                        f"{name} prevalence in {sex}, age-standardised",
                        value,
                        fig.by_sex[code],
                        max(0.025, Z * se),
                        fig.source,
                        n=n,
                    )
                )
    bmi = _bmi(obs)
    diabetic_obese = np.where(np.isfinite(bmi) & (bmi >= 30), obs.conditions["type_2_diabetes"], np.nan)
    out.append(
        figure_check(
            "type_2_diabetes among BMI >= 30, age-standardised",
            *(standardise(diabetic_obese, obs.band, weights_by_band=US_WEIGHTS * pub.OBESITY_BY_BAND.value)),
            pub.DIABETES_AMONG_OBESE,
            0.04,
        )
    )
    hypertensive = obs.conditions["hypertension"]
    treated = obs.medications["lisinopril"] | obs.medications["amlodipine"] | obs.medications["metoprolol succinate"]
    out.append(
        figure_check(
            "hypertension treated with medication, age-standardised",
            *(
                standardise(
                    np.where(hypertensive, treated, np.nan),
                    obs.band,
                    weights_by_band=US_WEIGHTS * pub.CONDITIONS["hypertension"].by_band,
                )
            ),
            pub.HYPERTENSION_TREATED,
            0.05,
        )
    )
    stray = obs.medications["metoprolol succinate"] & ~hypertensive
    out.append(
        check(
            "beta-blocker users without hypertension (count)",
            float(stray.sum()),
            0.0,
            0.0,
            "rule: a beta-blocker is prescribed only for a condition that warrants it",
            basis="assumption",
            n=obs.n,
        )
    )
    out.append(figure_check("food allergy (any)", *(proportion(obs.food_allergy)), pub.FOOD_ALLERGY, 0.02))
    out.append(figure_check("penicillin allergy label", *(proportion(obs.penicillin)), pub.PENICILLIN_LABEL, 0.02))
    food_rows = sum(obs.food_allergens.values())
    prevalence = pub.FOOD_ALLERGEN_PREVALENCE
    expected = prevalence["shellfish"] / sum(prevalence.values())
    share = obs.food_allergens.get("shellfish", 0) / food_rows if food_rows else None
    se = np.sqrt(expected * (1 - expected) / max(food_rows, 1))
    out.append(
        check(
            "shellfish share of food allergies (the most common)",
            share,
            expected,
            max(0.04, Z * se),
            "Gupta 2019: shellfish 2.9% of adults, the most common food allergy",
            basis="derived",
            n=food_rows,
        )
    )
    return out


def habit_checks(obs: Observer) -> list[dict[str, Any]]:
    out = []
    s = obs.sleep
    logged = s["n"] >= 7
    avg_sleep = np.where(logged, s["sum"] / np.maximum(s["n"], 1), np.nan)
    out.append(figure_check("mean logged sleep (h)", *(mean(avg_sleep)), pub.SLEEP_MEAN_H, 0.25))
    out.append(
        figure_check(
            "share of users averaging < 7 h sleep", *(proportion(avg_sleep[logged] < 7)), pub.SLEEP_SHORT, 0.05
        )
    )
    out.append(
        figure_check(
            "share of users averaging >= 10 h sleep", *(proportion(avg_sleep[logged] >= 10)), pub.SLEEP_LONG, 0.015
        )
    )
    both = (s["weekend_n"] >= 2) & (s["weekday_n"] >= 4)
    shift = np.where(
        both,
        s["weekend_sum"] / np.maximum(s["weekend_n"], 1) - s["weekday_sum"] / np.maximum(s["weekday_n"], 1),
        np.nan,
    )
    out.append(
        figure_check("weekend minus weekday sleep (h), median", *(median(shift)), pub.SLEEP_WEEKEND_SHIFT_H, 0.3)
    )

    k = obs.kcal
    enough = k["n"] >= 14
    mean_kcal = np.where(enough, k["sum"] / np.maximum(k["n"], 1), np.nan)
    var = np.maximum(k["sumsq"] / np.maximum(k["n"], 1) - mean_kcal**2, 0) * k["n"] / np.maximum(k["n"] - 1, 1)
    cv = np.sqrt(var) / mean_kcal
    out.append(figure_check("within-person CV of logged intake, median", *(median(cv)), pub.INTAKE_CV, 0.05))
    ratio = np.where(
        (k["weekend_n"] >= 2) & (k["weekday_n"] >= 4),
        (k["weekend_sum"] / np.maximum(k["weekend_n"], 1)) / (k["weekday_sum"] / np.maximum(k["weekday_n"], 1)),
        np.nan,
    )
    out.append(
        figure_check("weekend / Mon-Thu logged intake, median", *(median(ratio)), pub.WEEKEND_INTAKE_RATIO, 0.06)
    )

    slope, pct_week = weight_trend(obs)
    implied = obs.maintenance + pub.KCAL_PER_KG.value * slope
    under = np.where(enough & (implied > 800), mean_kcal / implied, np.nan)
    out.append(
        figure_check(
            "logged intake / intake implied by weight change and maintenance, median",
            *(median(under)),
            pub.UNDER_REPORTING,
            0.06,
            note="implied intake = maintenance_calories + 7700 kcal/kg x weight slope",
        )
    )
    diet = pct_week[obs.goal == "weight_loss"]
    value, se, n = median(diet)
    ceiling = float(pub.DIET_CEILING_PCT_WEEK.value)
    out.append(
        check(
            "weekly weight change of weight-loss users (% of body weight), median",
            value,
            -ceiling / 2,
            ceiling / 2 + Z * se,
            pub.DIET_CEILING_PCT_WEEK.source + " (a realistic dieter loses between 0 and 1% a week)",
            n=n,
        )
    )
    fast = np.isfinite(pct_week)
    out.append(
        check(
            "share of users losing more than 1% of body weight a week",
            float((pct_week[fast] < -ceiling).mean()) if fast.any() else None,
            0.0,
            0.02,
            pub.DIET_CEILING_PCT_WEEK.source,
            n=int(fast.sum()),
        )
    )
    bulk = pct_week[obs.goal == "muscle_gain"]
    out.append(
        figure_check(
            "weekly weight change of muscle-gain users (%), median", *(median(bulk)), pub.BULK_GAIN_PCT_WEEK, 0.15
        )
    )
    return out


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
    out = []
    planned = obs.plan_days * obs.lookback / 7
    adherence = np.where(planned > 0, np.minimum(obs.workouts["count"] / planned, 1.0), np.nan)
    out.append(figure_check("adherence (sessions done / scheduled), mean", *(mean(adherence)), pub.ADHERENCE, 0.07))
    first, last = obs.workouts["first4"].sum(), obs.workouts["last4"].sum()
    if obs.lookback >= 56 and first > 0:
        se = np.sqrt(1 / max(last, 1) + 1 / first) * last / first
        out.append(
            figure_check(
                "sessions in the last 4 weeks / first 4 weeks",
                last / first,
                se,
                int(first + last),
                pub.ADHERENCE_FADE,
                0.08,
            )
        )
    days_ok = _days_within_acsm(obs)
    out.append(
        check(
            "plans with days/week inside the ACSM range for the experience level (share)",
            float(days_ok.mean()) if days_ok.size else None,
            1.0,
            0.0,
            "ACSM 2009: novices 2-3, intermediate 3-4, advanced 4-5 days/week (diabetes or 65+: at most 3, ADA 2016)",
            n=int(days_ok.size),
        )
    )
    total = obs.rep_range["total"]
    out.append(
        check(
            "compound plan sets with target reps inside the ACSM range for goal and level (share)",
            obs.rep_range["in_range"] / total if total else None,
            1.0,
            0.0,
            pub.REP_RANGES_SOURCE,
            n=total,
        )
    )
    steps = np.concatenate(obs.progression) if obs.progression else np.zeros(0)
    value, se, n = median(steps.astype(np.float64))
    out.append(
        check(
            "load increase after a session that beat the target (loads >= 10 plate steps), median",
            value,
            0.06,
            0.04 + Z * se,
            pub.PROGRESSION.source + " (2-10%)",
            n=n,
        )
    )
    for sex, code in (("men", 1), ("women", 0)):
        label = "male" if code else "female"
        twenties = (obs.sex == code) & (obs.age >= 20) & (obs.age < 30) & (obs.plan_experience == 1)
        ratio = (obs.bench_e1rm / obs.weight["first_w"])[twenties]
        value, se, n = median(ratio)
        figure = pub.BENCH_TO_BODY_WEIGHT_20S[label]
        out.append(
            check(
                f"bench press e1RM / body weight, intermediate {sex} 20-29, median",
                value,
                figure.value,
                pub.BENCH_FAIR_HALF_WIDTH[label] + Z * se,
                figure.source,
                n=n,
            )
        )
    minutes = obs.minutes
    count = int(minutes.sum())
    median_minutes = float(np.searchsorted(np.cumsum(minutes), count / 2)) if count else None
    out.append(
        figure_check("session duration (minutes), median", median_minutes, 0.0, count, pub.SESSION_MINUTES, 15.0)
    )
    return out


def _days_within_acsm(obs: Observer) -> np.ndarray:
    has_plan = obs.plan_experience >= 0
    level = obs.plan_experience[has_plan]
    days = obs.plan_days[has_plan]
    low = np.array([r[0] for r in pub.DAYS_PER_WEEK.values()])[level]
    high = np.array([r[1] for r in pub.DAYS_PER_WEEK.values()])[level]
    capped = (obs.conditions["type_2_diabetes"] | (obs.age >= 65))[has_plan]
    return np.where(capped, (days <= 3) & (days >= np.minimum(low, 2)), (days >= low) & (days <= high))
