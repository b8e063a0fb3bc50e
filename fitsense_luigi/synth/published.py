"""The published figures the synthetic world is built to match, each with its source.

One table serves two readers: the generators take their targets from it and the
realism report puts every observed marginal beside the same number, so a figure
can never be tuned in one place and checked against another. ``basis`` says how
far to trust a figure: ``published`` (as printed in the source), ``derived``
(computed from published figures; the note says how) or ``assumption`` (no
published anchor; a modelling choice stated openly).

Figures come from ``shared/reference/realism.md`` unless the source says
otherwise. Age bands follow the published tables: 18-39, 40-59, 60+.

Which figures apply to app users: app users are US adults selected by age and
sex (gym members average 37 years, about half are women), so figures *within*
an age band and sex apply to them unchanged; whole-population figures do not,
because the app population is younger. The realism report therefore compares
per-band figures directly and compares whole-population figures after direct
age standardisation of the app's band rates to the US adult age structure
(:data:`US_AGE_WEIGHTS`). "Healthier than the population" is thus carried by
the younger age mix alone, not by an invented discount.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    value: float | tuple[float, ...]
    source: str
    basis: str = "published"  # published | derived | assumption


AGE_BANDS = ("18-39", "40-59", "60+")
AGE_BAND_EDGES = (40, 60)  # first age of the second and third band
# Share of US adults (18+) in each band, Census 2020; used for direct age standardisation.
US_AGE_WEIGHTS = (0.37, 0.32, 0.31)
US_AGE_SOURCE = "US Census 2020 adult age structure 18-39/40-59/60+ = 0.37/0.32/0.31"

# ------------------------------------------------------------------ who uses the app
APP_MEAN_AGE = Figure(37.0, "IHRSA: gym members average 37 years")
APP_SHARE_WOMEN = Figure(
    0.5,
    "IHRSA: about half of gym members are women (Pew 2019 tracker use, women 25% vs men 18%, would give 58%; "
    "the app is a gym-training app, so IHRSA applies)",
)
HEIGHT_CM = {  # mean adult height by sex (sd is an assumption); not in realism.md
    "male": Figure(175.4, "NHANES 2015-2018 (Fryar 2021), men"),
    "female": Figure(161.7, "NHANES 2015-2018 (Fryar 2021), women"),
}
HEIGHT_SD_CM = {"male": 7.4, "female": 7.0}

# ------------------------------------------------------------------------------- BMI
OBESITY_BY_BAND = Figure((0.355, 0.464, 0.389), "NCHS Data Brief 508 (2021-23), BMI >= 30 by age band")
OBESITY = Figure(0.403, "NCHS Data Brief 508 (2021-23), BMI >= 30")
UNDERWEIGHT = Figure(0.016, "NCHS Health E-Stat (NHANES 2017-18): 1.6% of adults have BMI < 18.5")
SEVERE_OBESITY = Figure(0.09, "NCHS Data Brief 508: lognormal(3.34, 0.27) gives ~9% with BMI >= 40", "derived")
BMI_SIGMA = Figure(0.27, "NCHS Data Brief 508: lognormal shape, sigma ~0.27", "derived")
BMI_MEAN = {
    "male": Figure(29.1, "NHANES 2015-16 (Fryar 2018), men"),
    "female": Figure(29.6, "NHANES 2015-16 (Fryar 2018), women"),
}

# ------------------------------------------------------------------------ conditions


@dataclass(frozen=True)
class ConditionFigures:
    """Prevalence by age band plus the shape of its rise with age and BMI within a band.

    ``sex_ratio`` multiplies the band rate for (female, male); it comes from
    published sex-specific totals where there are any. ``per_year`` and
    ``per_bmi`` are logit slopes inside a band (assumptions, except where the
    note says they were calibrated to a published figure).
    """

    by_band: tuple[float, float, float]
    overall: float
    sex_ratio: tuple[float, float]
    per_year: float
    per_bmi: float
    source: str
    basis: str = "published"
    by_sex: tuple[float, float] | None = None  # published female, male totals
    # (female, male) multipliers per band where the sex gap changes with age; overrides ``sex_ratio``
    sex_ratio_by_band: tuple[tuple[float, float], ...] | None = None

    def target(self, band: int, sex: int) -> float:
        """The rate the generator aims at for one band and sex (0 female, 1 male)."""
        ratio = self.sex_ratio_by_band[band] if self.sex_ratio_by_band else self.sex_ratio
        return self.by_band[band] * ratio[sex]


CONDITIONS: dict[str, ConditionFigures] = {
    "hypertension": ConditionFigures(
        (0.234, 0.525, 0.716),
        0.477,
        (0.446 / 0.477, 0.508 / 0.477),
        0.045,
        0.05,
        "NCHS 2024: 47.7% (men 50.8, women 44.6); 18-39/40-59/60+ = 23.4/52.5/71.6%; the sex gap by band: "
        "18-39 women/men = 13/31 (NCHS Data Brief 364, NHANES 2017-18), 40-59 men ~9 points above women, 60+ equal "
        "(women catch up after menopause; assumption)",
        by_sex=(0.446, 0.508),
        sex_ratio_by_band=((0.138 / 0.234, 0.330 / 0.234), (0.48 / 0.525, 0.57 / 0.525), (1.0, 1.0)),
    ),
    "type_2_diabetes": ConditionFigures(
        (0.022, 0.129, 0.205),
        0.113,
        (1.0, 1.0),
        0.05,
        0.10,
        "NCHS 2024: 11.3% diagnosed; 2.2% at 20-39, 20.5% at 60+; 40-59 = 12.9% derived from the total and "
        "the US age structure; BMI slope 0.10 per unit on the logit from the adjusted odds ratios of diagnosed "
        "diabetes by BMI class (Mokdad 2003, JAMA: 3.44 at BMI 30-39.9, 7.37 at >= 40, vs normal weight)",
        "derived",
    ),
    "asthma": ConditionFigures(
        (0.080, 0.080, 0.080),
        0.080,
        (0.097 / 0.080, 0.062 / 0.080),
        0.0,
        0.035,
        "NHIS 2021: current asthma 8.0% (men 6.2, women 9.7); no age gradient assumed",
        by_sex=(0.097, 0.062),
    ),
    "knee_osteoarthritis": ConditionFigures(
        (0.10, 0.19, 0.27),
        0.18,
        (1.0, 1.0),
        0.04,
        0.07,
        "derived: knee is about half of lower-limb pain (NCHS DB 415: 36.5%, 21% at 18-29); the rise with age "
        "follows arthritis (MMWR 2023: 21.2%, 88% of cases aged >= 45)",
        "derived",
    ),
    "lower_back_pain": ConditionFigures(
        (0.32, 0.44, 0.43),
        0.39,
        (0.406 / 0.390, 0.372 / 0.390),
        0.015,
        0.025,
        "NCHS Data Brief 415: back pain in the past 3 months 39.0% (women 40.6, men 37.2); band split derived "
        "from 18-29/30-44/45-64/65+ = 28.4/35.2/44.3/45.6%",
        "derived",
        by_sex=(0.406, 0.372),
    ),
}

HYPERTENSION_TREATED = Figure(0.512, "NCHS 2024: 51.2% of adults with hypertension take medication for it")
# Treated share by band: an age gradient (assumption) that reproduces the published 51.2% at US weights.
HYPERTENSION_TREATED_BY_BAND = (0.26, 0.49, 0.63)

# ------------------------------------------------------------------------- allergies
# Adult prevalence of convincing food allergy by allergen (Gupta 2019, JAMA Netw Open); drawn independently
# they give ~10.6% with any food allergy, against the published 10.8%.
FOOD_ALLERGY = Figure(0.108, "Gupta 2019: 10.8% of US adults have a convincing food allergy")
FOOD_ALLERGEN_PREVALENCE: dict[str, float] = {
    "shellfish": 0.029,
    "milk": 0.019,
    "peanut": 0.018,
    "tree nuts": 0.012,
    "fin fish": 0.009,
    "egg": 0.008,
    "wheat": 0.008,
    "soy": 0.006,
    "sesame": 0.002,
}
PENICILLIN_LABEL = Figure(0.10, "CDC: about 10% of people report a penicillin allergy")

# ----------------------------------------------------------------------------- sleep
SLEEP_MEAN_H = Figure(7.2, "NHIS 2012: self-reported sleep averages ~7.2 h (wearables measure ~6.5-6.8 h)")
SLEEP_SHORT = Figure(0.35, "BRFSS 2014: 35% of adults usually sleep < 7 h")
SLEEP_LONG = Figure(0.02, "BRFSS 2014: ~2% usually sleep >= 10 h")
SLEEP_WEEKEND_SHIFT_H = Figure((0.5, 1.0), "weekend catch-up sleep of about 0.5-1 h ('social jet lag')", "assumption")

# ------------------------------------------------------------------------ nutrition
ACTIVITY_FACTORS = (1.2, 1.375, 1.55, 1.725, 1.9)  # sedentary .. extra active (standard)
KCAL_PER_KG = Figure(7700.0, "7700 kcal ~ 1 kg of body weight")
INTAKE_CV = Figure((0.25, 0.30), "IOM DRI: within-person day-to-day CV of intake ~25-30%")
UNDER_REPORTING = Figure(0.80, "IOM DRI: adults under-report intake by ~20% (logged / true ~ 0.80)")
WEEKEND_INTAKE_RATIO = Figure((1.10, 1.15), "people eat more at weekends (Sat/Sun vs Mon-Thu ~ +10-15%)", "assumption")
DIET_CEILING_PCT_WEEK = Figure(1.0, "Garthe 2011: 0.5-1% of body weight per week is a realistic ceiling when dieting")
DIET_PCT_WEEK = Figure((-1.0, 0.0), "Garthe 2011: a realistic dieter loses between 0 and 1% of body weight a week")
BULK_GAIN_PCT_WEEK = Figure(
    (0.0, 0.25),
    "Garthe 2011 and reviews: ~0.25% of body weight per week when bulking as prescribed; app users keep to a "
    "surplus only in part, so their median lies between maintenance and that pace",
)

# -------------------------------------------------------------------------- training
ADHERENCE = Figure(
    (0.78, 0.87),
    "Martin & Sinden 2001: ~78% of prescribed sessions done, 87% for strength programmes",
)
DAYS_PER_WEEK = {  # ACSM 2009
    "novice": (2, 3),
    "intermediate": (3, 4),
    "advanced": (4, 5),
}
PROGRESSION = Figure((0.02, 0.10), "ACSM: add 2-10% load when the lifter beats the target by 1-2 reps")
BENCH_TO_BODY_WEIGHT_20S = {  # Cooper Institute, age 20-29, "fair" band
    "male": Figure((0.99, 1.13), "Cooper Institute: bench press / body weight, men 20-29, 'fair' 0.99-1.13"),
    "female": Figure((0.59, 0.69), "Cooper Institute: bench press / body weight, women 20-29, 'fair' 0.59-0.69"),
}
# Target reps on compound lifts by goal and experience (novice, intermediate, advanced), ACSM 2009:
# novices 8-12 RM; strength periodised 1-12 RM for the experienced; hypertrophy 6-12; endurance 10-25;
# general fitness and fat loss follow the general adult guidance (8-12, up to 15 for the deconditioned).
REP_RANGES = {
    "strength": ((8, 12), (1, 12), (1, 12)),
    "muscle_gain": ((8, 12), (6, 12), (6, 12)),
    "endurance": ((10, 25), (10, 25), (10, 25)),
    "weight_loss": ((8, 15), (8, 15), (8, 15)),
    "general_fitness": ((8, 15), (8, 15), (8, 15)),
}
REP_RANGES_SOURCE = "ACSM 2009 position stand: rep ranges by goal and training status"
SESSION_MINUTES = Figure((45.0, 75.0), "a typical resistance session lasts 45-75 minutes", "assumption")
DROPOUT_BY_6_MONTHS = Figure(
    0.5, "Dishman 1988; ACSM: about half of people who start an exercise programme stop within 6 months"
)
ADHERENCE_FADE = Figure(
    (0.85, 1.0),
    "sessions in the last 4 weeks vs the first 4 among users who stayed: adherence fades a little over a "
    "programme (stopping altogether is dropout, judged on its own)",
    "assumption",
)
