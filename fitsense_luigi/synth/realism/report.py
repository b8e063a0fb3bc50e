"""The realism checks, in three kinds kept apart in ``realism.json``.

- ``calibration``: a marginal the generator aims at (``published.py``) beside that figure. It shows the aim
  was good; it is a unit test of the generator, not evidence that the world is realistic.
- ``held_out``: a figure the generator never reads (``held_out.py``): joint distributions (diabetes by BMI
  class, weight-loss wishes by BMI class and sex), behaviour over time (inactivity, diet outcomes) and
  implied shares (under-reporting by BMI, training of the "sedentary"). These are the evidence.
- ``rule``: guidelines and consistency rules every row keeps (energy floors, no weight-loss goal below a
  healthy BMI, no clipping spikes), judged as counts of offending rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fitsense_luigi.synth import published as pub
from fitsense_luigi.synth.realism import held_out as outside
from fitsense_luigi.synth.realism.checks import (
    MIN_GROUP,
    US_WEIGHTS,
    Estimate,
    Z,
    against,
    count,
    held_out,
    judge,
    mean,
    median,
    proportion,
    standardise,
)
from fitsense_luigi.synth.realism.observe import Observer

METHOD = (
    "Figures within an age band or sex apply to app users unchanged and are compared directly; "
    "whole-population figures are compared after direct age standardisation of the app's band rates to the "
    f"US adult age structure ({pub.US_AGE_SOURCE}), because app users are younger than US adults. "
    f"Tolerance = the figure's model error + {Z:g} standard errors of the observed estimate (for shares the error "
    f"under the published value if larger), so it tightens towards the model error as users grow; kind: held_out "
    "= a figure the generator never reads (the evidence), calibration = a figure it aims at (a unit test), rule = "
    "a guideline or consistency rule every row keeps; "
    f"groups under {MIN_GROUP} observations are reported but not judged. basis: published = as printed in the "
    "source, derived = computed from published figures, assumption = a modelling choice without a published anchor."
)
BANDS = pub.AGE_BANDS
SEXES = (("women", 0, "female"), ("men", 1, "male"))


KINDS = ("held_out", "calibration", "rule")
SEASONS = "model error includes the seasons: December and summer attendance runs ~8% below January's"


def build(obs: Observer) -> dict[str, Any]:
    every = (
        held_out_checks(obs)
        + rule_checks(obs)
        + people_checks(obs)
        + condition_checks(obs)
        + habit_checks(obs)
        + training_checks(obs)
    )
    checks = [c for c in every if c["observed"] is not None]
    return {
        "passed": all(c["passed"] for c in checks),
        "users": obs.n,
        "lookback_days": obs.lookback,
        "as_of_date": obs.as_of.isoformat(),
        "method": METHOD,
        "summary": {
            kind: {
                "checks": sum(c["kind"] == kind for c in checks),
                "failed": sum(c["kind"] == kind and not c["passed"] for c in checks),
            }
            for kind in KINDS
        },
        "checks": checks,
        "unjudged": [c for c in every if c["observed"] is None],  # too few people in the group to say anything
        "session_start_hours_utc": [int(v) for v in obs.start_hour_utc],
    }


BMI_CLASSES = ((0.0, 18.5, "underweight"), (18.5, 25.0, "normal"), (25.0, 30.0, "overweight"), (30.0, 1e9, "obese"))


def _bmi_class(bmi: np.ndarray, name: str) -> np.ndarray:
    low, high = next((lo, hi) for lo, hi, label in BMI_CLASSES if label == name)
    return np.isfinite(bmi) & (bmi >= low) & (bmi < high)


def held_out_checks(obs: Observer) -> list[dict[str, Any]]:
    """Figures the generator never reads: joint distributions and behaviour over time."""
    bmi = _bmi(obs)
    diabetic = obs.conditions["type_2_diabetes"] & np.isfinite(bmi)
    out = [
        held_out(
            "obese share of users with diagnosed diabetes", proportion(bmi[diabetic] >= 30), outside.DIABETICS_OBESE
        ),
        held_out(
            "normal-weight share of users with diagnosed diabetes",
            proportion(_bmi_class(bmi, "normal")[diabetic]),
            outside.DIABETICS_NORMAL_WEIGHT,
        ),
        held_out(
            "weight loss among the goals of users with obesity",
            proportion(obs.wants_loss[_bmi_class(bmi, "obese")]),
            outside.WEIGHT_LOSS_WISH_OBESE,
        ),
        held_out(
            "weight loss among the goals of overweight users",
            proportion(obs.wants_loss[_bmi_class(bmi, "overweight")]),
            outside.WEIGHT_LOSS_WISH_OVERWEIGHT,
        ),
        held_out(
            "weight loss among goals, women minus men",
            _difference(obs.wants_loss[obs.sex == 0], obs.wants_loss[obs.sex == 1]),
            outside.WEIGHT_LOSS_WISH_SEX_GAP,
        ),
    ]
    if obs.lookback >= 28:
        out.append(
            held_out(
                "users without a workout in the last 28 days",
                proportion(obs.workouts["recent28"] == 0),
                outside.INACTIVE_28_DAYS,
            )
        )
    spread = obs.weight["last_t"] - obs.weight["first_t"]
    followed = (obs.goal == "weight_loss") & (spread >= 28)
    change = obs.weight["last_w"] - obs.weight["first_w"]
    out.append(
        held_out(
            f"weight-loss users lighter at their last weigh-in (first {obs.horizon_days} days, >= 4 weeks apart)",
            proportion(change[followed] < 0),
            outside.DIETERS_LOSING,
        )
    )
    under = _under_reporting(obs)
    normal, obese = under[_bmi_class(bmi, "normal")], under[_bmi_class(bmi, "obese")]
    out.append(
        held_out(
            "logged / implied intake, median: normal weight minus obese",
            _median_difference(normal, obese),
            outside.UNDER_REPORTING_GRADIENT,
        )
    )
    weeks = min(obs.lookback, 28) / 7
    out.append(
        held_out(
            "sessions a week in the last 28 days of users who state 'sedentary', mean",
            mean(obs.workouts["recent28"][obs.activity == "sedentary"] / weeks),
            outside.SEDENTARY_SESSIONS_PER_WEEK,
        )
    )
    return out


def _difference(a: np.ndarray, b: np.ndarray) -> Estimate:
    """Difference of two independent shares."""
    pa_, pb = proportion(a), proportion(b)
    if pa_.value is None or pb.value is None:
        return Estimate(None, 0.0, min(pa_.n, pb.n))
    return Estimate(pa_.value - pb.value, float(np.hypot(pa_.se, pb.se)), min(pa_.n, pb.n))


def _median_difference(a: np.ndarray, b: np.ndarray) -> Estimate:
    ma, mb = median(a), median(b)
    if ma.value is None or mb.value is None:
        return Estimate(None, 0.0, min(ma.n, mb.n))
    return Estimate(ma.value - mb.value, float(np.hypot(ma.se, mb.se)), min(ma.n, mb.n))


def rule_checks(obs: Observer) -> list[dict[str, Any]]:
    """Guidelines and consistency rules: every offending row counts."""
    bmi = _bmi(obs)
    lightest_bmi = obs.lightest / (obs.height / 100) ** 2
    floor = np.where(obs.sex == 1, 1500.0, 1200.0)
    dieting = obs.goal == "weight_loss"
    hours = obs.start_hour_utc
    sessions = float(hours.sum())
    evening = float(hours[list(range(21, 24)) + list(range(0, 5))].sum())
    return [
        count(
            "users below BMI 20 with weight loss as their first goal",
            (obs.goal == "weight_loss") & (bmi < 20),
            "WHO: BMI < 18.5 is underweight; nobody near it is put on a diet (issue 15: none below 20)",
        ),
        count(
            "weight-loss energy targets below 1,200 kcal (women) / 1,500 kcal (men), or below maintenance when that is",
            dieting & (obs.target_kcal < np.minimum(floor, obs.maintenance)),
            "AHA/ACC/TOS 2013 (Jensen et al.): diets of 1,200-1,500 kcal/day for women, 1,500-1,800 for men; "
            "someone who maintains on less is not put on a deficit",
        ),
        count(
            "users whose lightest weigh-in is below BMI 15",
            np.isfinite(lightest_bmi) & (lightest_bmi < 15),
            "WHO: BMI < 16 is severe thinness; a coaching app never drives anyone there",
        ),
        count(
            "height values piled up at one 0.1 cm step (clipping spikes)",
            _spikes(obs.height[np.isfinite(obs.height)], 0.1),
            "a continuous measurement has no spike at a limit (issue 15: 95 women at exactly 145.0 cm)",
            n=int(np.isfinite(obs.height).sum()),
        ),
        count(
            "body-fat values piled up at one 0.1% step (clipping spikes)",
            _spikes_from_histogram(obs.body_fat_hist),
            "a continuous measurement has no spike at a limit (issue 15: body fat capped at 60.0%)",
            n=int(obs.body_fat_hist.sum()),
        ),
        count(
            "logged RIR values above their lower neighbour's count (a spike at the top of the scale)",
            _top_spike(obs.rir_values.sum(axis=0)),
            "Zourdos 2016, Hackett 2017: misjudged RIR spreads smoothly; a pile at the top is a clip (issue 15)",
            n=int(obs.rir_values.sum()),
        ),
        judge(
            "session starts between 21:00 and 05:00 UTC (share)",
            Estimate(evening / sessions if sessions else None, 0.0, int(sessions)),
            (0.25, 0.60),
            0.0,
            "US evening training (17:00-20:00 local, the busiest gym hours) falls at 21:00-04:00 UTC in every US "
            "zone (calendar.ZONES: Eastern 47%, Central 29%, Mountain 7%, Pacific 17%); local times stored as UTC "
            "would leave this window empty (issue 15)",
            basis="derived",
            kind="rule",
        ),
    ]


def _spikes(values: np.ndarray, step: float) -> np.ndarray:
    if values.size == 0:
        return np.zeros(0, bool)
    steps = np.round(values / step).astype(np.int64)
    return _spikes_from_histogram(np.bincount(steps - steps.min()))


def _spikes_from_histogram(counts: np.ndarray) -> np.ndarray:
    """Bins holding more than 3x their busiest neighbour plus Poisson slack: a pile-up, not a density."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.size < 3:
        return np.zeros(0, bool)
    padded = np.r_[0.0, 0.0, counts, 0.0, 0.0]
    near = np.max([padded[:-4], padded[1:-3], padded[3:-1], padded[4:]], axis=0)  # two bins either side
    return counts > 3 * near + 10 + 3 * np.sqrt(near)


def _top_spike(counts: np.ndarray) -> np.ndarray:
    """The highest logged RIR value holding more sets than the value below it."""
    used = np.flatnonzero(counts)
    if used.size < 2:
        return np.zeros(0, bool)
    top = used[-1]
    return np.array([counts[top] > counts[top - 1] + 3 * np.sqrt(counts[top - 1]) + 10])


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
    under = np.where(measured, bmi < 18.5, np.nan)
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
    out.append(
        against("underweight (BMI < 18.5), age-standardised", standardise(under, obs.band), pub.UNDERWEIGHT, 0.01)
    )
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

    hypertension = pub.CONDITIONS["hypertension"]
    young = measured & (obs.band == 0)
    for sex, code, _ in SEXES:
        out.append(
            judge(
                f"hypertension prevalence in {sex}, age 18-39",
                proportion(obs.conditions["hypertension"][young & (obs.sex == code)]),
                hypertension.target(0, code),
                0.03,
                hypertension.source,
                basis="derived",
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
    out.append(
        count(
            "beta-blocker users without hypertension (count)",
            obs.medications["metoprolol succinate"] & ~hypertensive,
            "rule: a beta-blocker is prescribed only for a condition that warrants it",
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
    _, pct_week = weight_trend(obs)
    under = _under_reporting(obs)
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
            kind="rule",
        ),
        against(
            "weekly weight change of muscle-gain users (%), median",
            median(pct_week[obs.goal == "muscle_gain"]),
            pub.BULK_GAIN_PCT_WEEK,
            0.05,
        ),
    ]


def _under_reporting(obs: Observer) -> np.ndarray:
    """Per user: mean logged intake / intake implied by maintenance and the weight slope (NaN when unknown)."""
    k = obs.kcal
    mean_kcal = _per(k["sum"], k["n"], 14)
    slope, _ = weight_trend(obs)
    implied = obs.maintenance + pub.KCAL_PER_KG.value * slope
    return np.where(implied > 800, mean_kcal / implied, np.nan)


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
    stayed = (obs.fortnights > 0).all(axis=1)  # trained in every fortnight: in the programme throughout
    adherence = np.where((planned > 0) & stayed, np.minimum(obs.workouts["count"] / planned, 1.0), np.nan)
    out = [
        against(
            f"adherence (sessions done / scheduled) over the first {weeks:g} weeks of users who stayed, mean",
            mean(adherence),
            pub.ADHERENCE,
            0.05,
            note="the published figure is for people who stayed in a programme; dropout is judged separately",
        )
    ]
    first, last = obs.workouts["first4"][stayed].sum(), obs.workouts["last4"][stayed].sum()
    if obs.horizon_days >= 56 and first > 0:
        se = np.sqrt(1 / max(last, 1) + 1 / first) * last / first
        estimate = Estimate(last / first, float(se), int(first + last))
        name = f"sessions in weeks {weeks - 3:g}-{weeks:g} / weeks 1-4"
        out.append(against(name, estimate, pub.ADHERENCE_FADE, 0.15, note=SEASONS))
    days_ok = _days_within_acsm(obs)
    out.append(
        judge(
            "plans with days/week inside the ACSM range for the experience level (share)",
            Estimate(float(days_ok.mean()) if days_ok.size else None, 0.0, int(days_ok.size)),
            1.0,
            0.0,
            "ACSM 2009: novices 2-3, intermediate 3-4, advanced 4-5 days/week (diabetes or 65+: at most 3, ADA 2016)",
            kind="rule",
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
            kind="rule",
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
