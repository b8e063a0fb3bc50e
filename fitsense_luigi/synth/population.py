"""Latent attributes of the synthetic population, drawn once per fixed block of users.

Both generators (profiles and workouts) call :func:`draw_people` for the same
block and get the same people, so the workout stage knows each person's body,
goals, experience, conditions and medications without re-reading the profile
tables, and no table can disagree with another about who a person is.

Every block draws a full :data:`BLOCK` of people from named random streams
(``population.demography``, ``population.health``, ``population.lifestyle``)
keyed by (seed, block), so neither the number of users nor a new attribute in
one stream changes anybody's draws in another.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields

import numpy as np

from fitsense_luigi import ids
from fitsense_luigi.reference.equipment import EQUIPMENT
from fitsense_luigi.reference.goals import GOALS
from fitsense_luigi.rng import stage_rng
from fitsense_luigi.synth import calendar, demography, engagement, health
from fitsense_luigi.synth import published as pub

BLOCK = 1000  # users per random block: draws are keyed by block, so chunk size never changes the data

SEXES = demography.SEXES
ACTIVITY_LEVELS = np.array(["sedentary", "lightly_active", "moderately_active", "very_active", "extra_active"])
ACTIVITY_FACTORS = np.array([1.2, 1.375, 1.55, 1.725, 1.9])
EXPERIENCE = np.array(["novice", "intermediate", "advanced"])
SETTINGS = np.array(["home", "gym"])
GOAL_NAMES = np.array(list(GOALS))
CONDITION_NAMES = health.CONDITION_NAMES
MEDICATION_NAMES = health.MEDICATION_NAMES
EQUIPMENT_NAMES = np.array(list(EQUIPMENT))

# Home gyms: chance that a home trainer owns each item (assumption); a gym has everything.
HOME_EQUIPMENT_ODDS = {
    "dumbbells": 0.85,
    "exercise_mat": 0.90,
    "resistance_band": 0.70,
    "kettlebell": 0.35,
    "pull_up_bar": 0.35,
    "bench": 0.35,
}
# Energy targets by primary goal: a moderate surplus for size or strength; for weight loss the AHA/ACC/TOS 2013
# guideline (Jensen et al.): a 500-750 kcal/day deficit, and never below 1,200 kcal/day for women or 1,500 for men.
GOAL_SURPLUS = np.array([{"muscle_gain": 0.10, "strength": 0.05}.get(g, 0.0) for g in GOAL_NAMES])
WEIGHT_LOSS = int(np.flatnonzero(GOAL_NAMES == "weight_loss")[0])
DEFICIT_KCAL = (500.0, 750.0)  # AHA/ACC/TOS 2013
DEFICIT_SHARE = 0.20  # of maintenance, kept inside DEFICIT_KCAL
ENERGY_FLOOR_KCAL = np.array([1200.0, 1500.0])  # women, men: AHA/ACC/TOS 2013 lower ends of the diet ranges
# Nobody below this is given weight loss as a goal (BMI < 18.5 is underweight, WHO): one BMI unit above the
# issue's bound of 20 leaves room for scale noise and day-to-day water.
WEIGHT_LOSS_MIN_BMI = 21.0
HOME_DUMBBELL_MAX_KG = np.array([20.0, 24.0, 32.0])  # heaviest dumbbell per hand at home

# Primary-goal logits (weight_loss, muscle_gain, strength, endurance, general_fitness) and their shifts; the
# wish to lose weight rises smoothly with BMI and is never given below WEIGHT_LOSS_MIN_BMI.
_GOAL_BASE = np.array([0.2, 0.1, -0.5, -0.7, 0.1])
_GOAL_PER_BMI = np.array([0.20, -0.06, -0.03, -0.03, 0.0])  # per BMI unit above 25, BMI clipped to 17-35
_GOAL_MALE = np.array([-0.6, 0.6, 0.5, 0.0, -0.2])
_GOAL_OVER_50 = np.array([-0.1, -0.6, -0.2, 0.0, 0.7])
_GOAL_ADVANCED = np.array([-0.4, 0.3, 0.8, 0.1, -0.5])

# Everyday activity outside training (sedentary .. extra active): thresholds on latent fitness plus noise.
_LIFESTYLE_EDGES = [-0.35, 0.75, 1.65, 2.35]


@dataclass
class People:
    """Column arrays for one block of users; row i is the same person in every array."""

    index: np.ndarray  # global user number
    user_id: np.ndarray  # (n, 16) uuid bytes
    sex: np.ndarray  # 0 female, 1 male
    birth_date: np.ndarray  # datetime64[D]
    age: np.ndarray  # exact years at the as-of date
    band: np.ndarray  # 0, 1, 2 = 18-39, 40-59, 60+
    height_cm: np.ndarray
    bmi: np.ndarray  # at the start of the look-back window
    fitness: np.ndarray  # latent z-score: experience, activity and strength lean on it
    activity: np.ndarray  # index into ACTIVITY_LEVELS
    goal_rank: np.ndarray  # (n, goals) 0 = primary, 1, 2 = further goals, -1 = not a goal
    experience: np.ndarray  # index into EXPERIENCE
    setting: np.ndarray  # index into SETTINGS
    equipment: np.ndarray  # (n, equipment) bool: what the person can train with
    dumbbell_max_kg: np.ndarray  # heaviest dumbbell per hand (inf in a gym)
    conditions: np.ndarray  # (n, conditions) bool
    severity: np.ndarray  # (n, conditions) index into health.SEVERITIES, -1 without the condition
    medications: np.ndarray  # (n, medications) bool
    sleep_mean_h: np.ndarray  # habitual sleep averaged over the week
    signup_days_before_window: np.ndarray  # the account was made this many days before the window opened
    zone: np.ndarray  # index into calendar.ZONES
    days_per_week: np.ndarray  # training days a week the person plans for
    spell_start: np.ndarray  # (n, spells) training spells, days from the window start (engagement.Career)
    spell_end: np.ndarray

    def __len__(self) -> int:
        return int(self.index.shape[0])

    @property
    def weight_kg(self) -> np.ndarray:
        """Body weight at the start of the look-back window."""
        return self.bmi * (self.height_cm / 100) ** 2

    @property
    def goal(self) -> np.ndarray:
        """Index of the primary goal."""
        return np.argmax(self.goal_rank == 0, axis=1)

    def has(self, condition: str) -> np.ndarray:
        return self.conditions[:, CONDITION_NAMES.index(condition)]

    def takes(self, medication: str) -> np.ndarray:
        return self.medications[:, MEDICATION_NAMES.index(medication)]

    def bmr(self, weight_kg: np.ndarray | None = None) -> np.ndarray:
        """Mifflin-St Jeor resting energy (kcal/day)."""
        weight = self.weight_kg if weight_kg is None else weight_kg
        base = 10 * weight + 6.25 * self.height_cm - 5 * np.floor(self.age)
        return base + np.where(self.sex == 1, 5, -161)

    @property
    def career(self) -> engagement.Career:
        return engagement.Career(self.spell_start, self.spell_end)

    def maintenance_kcal(self) -> np.ndarray:
        """Resting energy times the activity factor (kcal/day)."""
        return self.bmr() * ACTIVITY_FACTORS[self.activity]

    def target_kcal(self) -> np.ndarray:
        """Maintenance adjusted for the primary goal (kcal/day), never below the AHA/ACC/TOS floor when dieting."""
        return energy_target(self.maintenance_kcal(), self.goal, self.sex)


def energy_target(maintenance: np.ndarray, goal: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """Daily target: maintenance plus the goal's surplus; for weight loss a 500-750 kcal deficit, floored by sex."""
    deficit = np.clip(DEFICIT_SHARE * maintenance, *DEFICIT_KCAL)
    diet = np.minimum(np.maximum(maintenance - deficit, ENERGY_FLOOR_KCAL[sex]), maintenance)
    return np.where(goal == WEIGHT_LOSS, diet, maintenance * (1 + GOAL_SURPLUS[goal]))


def blocks(users: int) -> list[tuple[int, int]]:
    """(first user, end user) of each fixed block: the unit of generation and of memory."""
    return [(start, min(start + BLOCK, users)) for start in range(0, users, BLOCK)]


def draw_people(seed: int, start: int, stop: int, as_of: dt.date) -> People:
    """Users ``start..stop-1``, assembled from the fixed blocks that cover them."""
    parts = [
        _slice(_draw_block(seed, b, as_of), max(start, b * BLOCK) - b * BLOCK, min(stop, (b + 1) * BLOCK) - b * BLOCK)
        for b in range(start // BLOCK, (stop - 1) // BLOCK + 1)
    ]
    return parts[0] if len(parts) == 1 else concat(parts)


def _stream(seed: int, block: int, name: str) -> np.random.Generator:
    return stage_rng(seed, f"population.{name}", block)


def _draw_block(seed: int, block: int, as_of: dt.date) -> People:
    n = BLOCK
    index = np.arange(block * BLOCK, (block + 1) * BLOCK)

    body = _stream(seed, block, "demography")
    sex = (body.random(n) < 1 - pub.APP_SHARE_WOMEN.value).astype(np.int8)
    birth = demography.adult_birth_dates(demography.draw_birth_dates(body, n), as_of)
    age = demography.age_on(birth, as_of)
    band = demography.age_band(age)
    height = demography.draw_heights(body, sex)
    bmi = demography.draw_bmi(body, band, sex)

    care = _stream(seed, block, "health")
    conditions = health.draw_conditions(care, age, band, sex, bmi)
    medications = health.draw_medications(care, conditions, band, age)
    severity = health.draw_severity(care, conditions, medications, age)

    life = _stream(seed, block, "lifestyle")
    bmi_z = (np.log(bmi - demography.BMI_SHIFT) - demography.BMI_MU_BY_BAND[band]) / demography.BMI_SIGMA
    fitness = 0.87 * life.standard_normal(n) - 0.5 * bmi_z
    lifestyle = np.digitize(fitness + life.normal(0, 0.8, n), _LIFESTYLE_EDGES)
    experience_score = fitness + 0.35 * sex - 0.012 * (age - 37) + life.normal(0, 0.7, n)
    experience = np.digitize(experience_score, [0.05, 1.15])
    setting = (life.random(n) < np.array([0.55, 0.62, 0.75])[experience]).astype(np.int8)
    equipment = _equipment(life, setting)
    dumbbell_max = np.where(setting == 1, np.inf, HOME_DUMBBELL_MAX_KG[life.integers(0, 3, n)])
    goal_rank = _goals(life, bmi, sex, age, experience)
    sleep_mean = _sleep_habit(life, n)
    signup = engagement.signup_days_before_window(life, n)  # leaves room for a plan made before the window
    days = _days_per_week(life, experience, conditions[:, CONDITION_NAMES.index("type_2_diabetes")], age)
    career = engagement.draw_career(life, signup)
    activity = declared_activity(lifestyle, days, career.training_on(0))
    zone = calendar.draw_zones(life, n)

    return People(
        index=index,
        user_id=ids.uuid_bytes(seed, "users", index),
        sex=sex,
        birth_date=birth,
        age=age,
        band=band,
        height_cm=height,
        bmi=bmi,
        fitness=fitness,
        activity=activity,
        goal_rank=goal_rank,
        experience=experience,
        setting=setting,
        equipment=equipment,
        dumbbell_max_kg=dumbbell_max,
        conditions=conditions,
        severity=severity,
        medications=medications,
        sleep_mean_h=sleep_mean,
        signup_days_before_window=signup,
        zone=zone,
        days_per_week=days,
        spell_start=career.start,
        spell_end=career.end,
    )


def _days_per_week(rng: np.random.Generator, experience: np.ndarray, diabetes: np.ndarray, age: np.ndarray):
    """ACSM 2009: novices 2-3, intermediate 3-4, advanced 4-5 days; diabetes or 65+: at most 3 (ADA 2016)."""
    low = np.array([2, 3, 4])[experience]
    days = low + (rng.random(experience.size) < np.array([0.6, 0.45, 0.4])[experience])
    return np.where(diabetes | (age >= 65), np.minimum(days, 3), days).astype(np.int64)


def declared_activity(lifestyle: np.ndarray, days: np.ndarray, training: np.ndarray) -> np.ndarray:
    """The activity level a user states: everyday activity, raised by the training they do when they set it up.

    Standard definitions: lightly active = exercise 1-3 days a week, moderately active = 3-5 days, very active =
    hard exercise most days or an active job plus training; someone who has stopped training states only their
    everyday activity.
    """
    from_training = np.where(days >= 4, 2, 1)
    raised = np.where(lifestyle >= 2, np.minimum(lifestyle + 1, 4), np.maximum(lifestyle, from_training))
    return np.where(training, raised, lifestyle).astype(np.int64)


def _equipment(rng: np.random.Generator, setting: np.ndarray) -> np.ndarray:
    odds = np.array([HOME_EQUIPMENT_ODDS.get(name, 0.0) for name in EQUIPMENT_NAMES])
    home = rng.random((setting.size, odds.size)) < odds[None, :]
    return np.where(setting[:, None] == 1, True, home)


def _goals(rng: np.random.Generator, bmi: np.ndarray, sex: np.ndarray, age: np.ndarray, experience: np.ndarray):
    """Goal ranks by the Gumbel top-k trick: a weighted draw without replacement for every user at once."""
    logits = (
        _GOAL_BASE[None, :]
        + (np.clip(bmi, 17.0, 35.0) - 25.0)[:, None] * _GOAL_PER_BMI
        + sex[:, None] * _GOAL_MALE
        + (age >= 50)[:, None] * _GOAL_OVER_50
        + (experience == 2)[:, None] * _GOAL_ADVANCED
    )
    logits[:, WEIGHT_LOSS] = np.where(bmi < WEIGHT_LOSS_MIN_BMI, -np.inf, logits[:, WEIGHT_LOSS])
    keys = logits + rng.gumbel(size=logits.shape)
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    count = 1 + (rng.random(bmi.size) < 0.55) + (rng.random(bmi.size) < 0.22)
    return np.where(rank < count[:, None], rank, -1).astype(np.int8)


def _sleep_habit(rng: np.random.Generator, n: int) -> np.ndarray:
    """Habitual sleep: most people near 7.2 h, a small long-sleeper group (BRFSS ~2% >= 10 h)."""
    core = rng.normal(7.25, 0.55, n)  # logged nights average ~0.08 h less: 5% short nights
    long_sleeper = rng.random(n) < 0.02
    return np.clip(np.where(long_sleeper, rng.normal(10.3, 0.35, n), core), 4.5, 11.5)


def take(people: People, rows: np.ndarray) -> People:
    """The people at ``rows`` (local positions), in that order."""
    return People(**{f.name: getattr(people, f.name)[rows] for f in fields(People)})


def _slice(people: People, lo: int, hi: int) -> People:
    return People(**{f.name: getattr(people, f.name)[lo:hi] for f in fields(People)})


def concat(parts: list[People]) -> People:
    return People(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(People)})
