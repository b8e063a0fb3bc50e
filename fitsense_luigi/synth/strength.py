"""How strong each person is at each exercise: a one-repetition maximum, or reps to failure without load.

The catalogue gives a 1RM/body-weight ratio for an intermediate man at about
80 kg. A person's 1RM scales that by body weight to the 2/3 power (strength
grows with muscle cross-section, not mass), by sex (women reach ~60% of men's
upper-body and ~72% of lower-body strength), experience, age (a slow decline
after 35) and an individual talent that leans on latent fitness; the sex and
age factors and Epley's formula live in :mod:`fitsense_luigi.physiology`. With the
catalogue's bench ratio this puts men in their twenties near the Cooper
Institute's "fair" 0.99-1.13 x body weight and women near 0.59-0.69.
"""

from __future__ import annotations

import numpy as np

from fitsense_luigi.physiology import (
    WOMEN_CORE_STRENGTH,
    WOMEN_LOWER_BODY_STRENGTH,
    WOMEN_OTHER_CAPACITY,
    WOMEN_UPPER_BODY_CAPACITY,
    WOMEN_UPPER_BODY_STRENGTH,
    age_strength_factor,
    epley_load,
    epley_reps,
)
from fitsense_luigi.synth import exercises as ex
from fitsense_luigi.synth.population import People

REFERENCE_KG = 80.0
EXPERIENCE_FACTOR = np.array([0.80, 1.0, 1.22])
# Relative gain per session in which an exercise is trained (fast for novices, slow for the advanced).
GAIN_PER_SESSION = np.array([0.012, 0.006, 0.003])


def person_factor(rng: np.random.Generator, people: People) -> np.ndarray:
    """Everything about a person's strength that is not exercise-specific (n,), in kg."""
    age_factor = age_strength_factor(people.age)
    talent = np.exp(0.13 * (0.5 * people.fitness + 0.87 * rng.standard_normal(len(people))))
    body = REFERENCE_KG * (people.weight_kg / REFERENCE_KG) ** (2 / 3)
    return EXPERIENCE_FACTOR[people.experience] * age_factor * talent * body


def abilities(rng: np.random.Generator, people: People) -> tuple[np.ndarray, np.ndarray]:
    """(n, exercises) true 1RM in kg (NaN when unloaded) and reps/seconds to failure at body weight (NaN when loaded).

    Women reach ~60% of men's upper-body and ~72% of lower-body strength; without load the
    sex gap is wide for push-ups and pull-ups and small for legs, core and conditioning.
    Carrying more weight per unit of muscle costs body-weight reps: capacity falls with BMI.
    """
    factor = person_factor(rng, people)[:, None]
    noise = np.exp(rng.normal(0, 0.07, (len(people), ex.COUNT)))
    female = people.sex[:, None] == 0
    upper = ~ex.LOWER_BODY & (ex.MUSCLE != "core") & ~ex.CONDITIONING
    loaded_sex = np.where(
        female,
        np.where(
            ex.LOWER_BODY,
            WOMEN_LOWER_BODY_STRENGTH,
            np.where(ex.MUSCLE == "core", WOMEN_CORE_STRENGTH, WOMEN_UPPER_BODY_STRENGTH),
        ),
        1.0,
    )
    one_rm = np.where(ex.LOADED, ex.RATIO * loaded_sex * factor * noise, np.nan)
    unloaded_sex = np.where(female, np.where(upper, WOMEN_UPPER_BODY_CAPACITY, WOMEN_OTHER_CAPACITY), 1.0)
    relative = (factor / REFERENCE_KG) ** 0.7 * (25.0 / people.bmi[:, None]) ** 1.2
    capacity = np.where(ex.LOADED, np.nan, np.maximum(ex.CAPACITY * unloaded_sex * relative * noise, 1.0))
    return one_rm, capacity


def reps_to_failure(one_rm: np.ndarray, load: np.ndarray) -> np.ndarray:
    """Epley inverted: the reps a lifter with this 1RM can do at ``load``."""
    return epley_reps(one_rm, load)


def load_for(one_rm: np.ndarray, reps: np.ndarray, reps_in_reserve: np.ndarray) -> np.ndarray:
    """Epley: the load that leaves ``reps_in_reserve`` after ``reps``."""
    return epley_load(one_rm, reps + reps_in_reserve)


def round_load(kg: np.ndarray, exercise: np.ndarray, ceiling: np.ndarray | None = None) -> np.ndarray:
    """To the plate/stack step, never below the lightest load, never above the heaviest dumbbell at hand."""
    step = ex.INCREMENT[exercise]
    rounded = np.maximum(np.round(kg / step) * step, ex.MINIMUM[exercise])
    if ceiling is not None:
        rounded = np.where(ex.LOAD_KIND[exercise] == "dumbbell", np.minimum(rounded, ceiling), rounded)
    return rounded
