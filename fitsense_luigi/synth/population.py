"""Latent attributes of the synthetic population, drawn once per user chunk.

Both generators (profiles and workouts) call :func:`draw_people` for the same
chunk and get the same people, so the workout stage knows each person's body
weight, goal and conditions without re-reading the profile tables, and no
table can disagree with another about who a person is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from fitsense_luigi import catalog, ids
from fitsense_luigi.rng import stage_rng

SEXES = np.array(["female", "male"])
ACTIVITY_LEVELS = np.array(["sedentary", "lightly_active", "moderately_active", "very_active", "extra_active"])
ACTIVITY_FACTORS = np.array([1.2, 1.375, 1.55, 1.725, 1.9])
EXPERIENCE = np.array(["novice", "intermediate", "advanced"])
GOAL_NAMES = np.array(list(catalog.GOALS))
CONDITION_NAMES = tuple(catalog.CONDITIONS)
SETTINGS = np.array(["home", "gym"])


@dataclass
class People:
    """Column arrays for one chunk of users; index i is the same person everywhere."""

    index: np.ndarray  # global user number
    user_id: np.ndarray  # (n, 16) uuid bytes
    sex: np.ndarray  # 0 female, 1 male
    age: np.ndarray  # whole years at as_of_date
    birth_date: np.ndarray  # datetime64[D]
    height_cm: np.ndarray
    weight_kg: np.ndarray  # at the start of the look-back window
    activity: np.ndarray  # index into ACTIVITY_LEVELS
    goal: np.ndarray  # index into GOAL_NAMES (primary goal)
    experience: np.ndarray  # index into EXPERIENCE
    setting: np.ndarray  # index into SETTINGS
    conditions: np.ndarray  # (n, len(CONDITION_NAMES)) bool
    adherence: np.ndarray  # share of scheduled sessions done
    sleep_mean_h: np.ndarray
    created_days_ago: np.ndarray

    def __len__(self) -> int:
        return int(self.index.shape[0])

    @property
    def bmi(self) -> np.ndarray:
        return self.weight_kg / (self.height_cm / 100) ** 2

    def bmr(self) -> np.ndarray:
        """Mifflin-St Jeor resting energy (kcal/day)."""
        base = 10 * self.weight_kg + 6.25 * self.height_cm - 5 * self.age
        return base + np.where(self.sex == 1, 5, -161)

    def maintenance_kcal(self) -> np.ndarray:
        return self.bmr() * ACTIVITY_FACTORS[self.activity]


def blocks(users: int) -> list[tuple[int, int]]:
    """(first user, end user) of each fixed block: the unit of generation and of memory."""
    return [(start, min(start + BLOCK, users)) for start in range(0, users, BLOCK)]


# Published prevalence by age band (18-39, 40-59, 60+), see shared/reference/realism.md.
_AGE_EDGES = np.array([40, 60])
_PREVALENCE = {
    "hypertension": np.array([0.234, 0.525, 0.716]),
    "type_2_diabetes": np.array([0.022, 0.10, 0.205]),
    "asthma": np.array([0.08, 0.08, 0.08]),
    "knee_osteoarthritis": np.array([0.20, 0.35, 0.45]),
    "lower_back_pain": np.array([0.33, 0.42, 0.44]),
}


BLOCK = 1000  # users per random block: draws are keyed by block, so chunk size never changes the data


def draw_people(seed: int, start: int, stop: int, as_of: dt.date) -> People:
    """Users ``start..stop-1``, assembled from the fixed blocks that cover them."""
    parts = [
        _draw_block(seed, b, max(start, b * BLOCK), min(stop, (b + 1) * BLOCK), as_of)
        for b in range(start // BLOCK, (stop - 1) // BLOCK + 1)
    ]
    return _concat(parts)


def _draw_block(seed: int, block: int, start: int, stop: int, as_of: dt.date) -> People:
    rng = stage_rng(seed, "population", block)
    n_block = BLOCK
    index = np.arange(block * BLOCK, block * BLOCK + n_block)
    sex = (rng.random(n_block) < 0.5).astype(np.int8)
    age = np.clip(18 + rng.gamma(2.2, 8.6, n_block), 18, 80).astype(np.int32)
    height = np.where(sex == 1, rng.normal(175.5, 7.4, n_block), rng.normal(161.6, 7.0, n_block))
    bmi = np.exp(rng.normal(3.31, 0.24, n_block)) + 0.03 * (age - 37)
    bmi = np.clip(bmi, 16.5, 60)
    weight = bmi * (height / 100) ** 2
    activity = rng.choice(5, n_block, p=[0.15, 0.3, 0.33, 0.17, 0.05])
    goal_weights = np.where((bmi >= 30)[:, None], [[0.55, 0.1, 0.1, 0.1, 0.15]], [[0.25, 0.25, 0.2, 0.1, 0.2]])
    goal = _choose_rows(rng, goal_weights)
    experience = rng.choice(3, n_block, p=[0.5, 0.35, 0.15])
    setting = (rng.random(n_block) < 0.6).astype(np.int8)
    band = np.searchsorted(_AGE_EDGES, age, side="right")
    bmi_factor = np.where(bmi >= 30, 1.35, 0.85)
    conditions = np.zeros((n_block, len(CONDITION_NAMES)), dtype=bool)
    for j, name in enumerate(CONDITION_NAMES):
        p = _PREVALENCE[name][band] * (bmi_factor if name != "asthma" else 1.0)
        conditions[:, j] = rng.random(n_block) < np.clip(p, 0, 0.95)
    adherence = np.clip(rng.beta(8, 2.2, n_block), 0.3, 0.99)
    sleep = np.clip(rng.normal(7.1, 0.7, n_block), 4.5, 10)
    created = rng.integers(90, 3 * 365, n_block)
    birth = np.datetime64(as_of) - (age * 365.25 + rng.integers(0, 365, n_block)).astype("timedelta64[D]")
    people = People(
        index,
        ids.uuid_bytes(seed, "users", index),
        sex,
        age,
        birth,
        height,
        weight,
        activity,
        goal,
        experience,
        setting,
        conditions,
        adherence,
        sleep,
        created,
    )
    lo, hi = start - block * BLOCK, stop - block * BLOCK
    return _slice(people, lo, hi)


def _choose_rows(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    cumulative = np.cumsum(weights, axis=1)
    cumulative /= cumulative[:, -1:]
    return (rng.random((weights.shape[0], 1)) > cumulative).sum(axis=1)


def _slice(people: People, lo: int, hi: int) -> People:
    return People(**{k: v[lo:hi] for k, v in vars(people).items()})


def _concat(parts: list[People]) -> People:
    if len(parts) == 1:
        return parts[0]
    return People(**{k: np.concatenate([vars(p)[k] for p in parts]) for k in vars(parts[0])})
