"""The medical story of each person as the app stores it: diagnoses, injuries, surgeries, family history, allergies.

Text follows the latent conditions: knee osteoarthritis gives a knee injury on
the same side as the diagnosis note, insulin comes with a severe diabetes and a
high HbA1c, an anaphylactic allergy is severe and its note mentions the
auto-injector. Everything is built column-wise with numpy string operations.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from fitsense_luigi.synth import columns as col
from fitsense_luigi.synth import demography
from fitsense_luigi.synth import published as pub
from fitsense_luigi.synth.population import CONDITION_NAMES, People

SIDES = np.array(["left", "right", "both"], dtype=col.TEXT)


@dataclass
class History:
    """Per person (n, conditions) diagnosis dates and the sides of joint complaints."""

    diagnosed: np.ndarray  # datetime64[D], only meaningful where the condition is present
    knee_side: np.ndarray  # index into SIDES


# Earliest age at diagnosis: asthma is often diagnosed in childhood; the others in adult life.
ONSET_AGE = np.array([4.0 if name == "asthma" else 18.0 for name in CONDITION_NAMES])
# Age-related conditions are mostly diagnosed later in life: the age at diagnosis leans towards the current age.
ONSET_SKEW = np.array([1.0 if name == "asthma" else 0.7 for name in CONDITION_NAMES])


def history(rng: np.random.Generator, people: People, as_of: dt.date) -> History:
    """Diagnoses fall anywhere in a lifetime: between the condition's onset age and the as-of date."""
    n = len(people)
    span = np.maximum(people.age[:, None] - ONSET_AGE[None, :], 0.3)
    years_ago = span * (1 - rng.random((n, len(CONDITION_NAMES))) ** ONSET_SKEW[None, :]) + 0.1
    diagnosed = col.day(as_of) - np.round(years_ago * demography.DAYS_PER_YEAR).astype("timedelta64[D]")
    return History(diagnosed, rng.choice(3, n, p=[0.4, 0.4, 0.2]))


def condition_notes(
    rng: np.random.Generator, people: People, story: History, rows: np.ndarray, which: np.ndarray
) -> np.ndarray:
    """ "Diagnosed 2019; home readings around 134/86 mmHg" and the like, for (person, condition) pairs."""
    m = rows.size
    severity = people.severity[rows, which]
    year = story.diagnosed[rows, which].astype("datetime64[Y]").astype(np.int64) + 1970
    systolic = rng.integers(0, 12, m) + np.array([126, 136, 148])[severity]
    diastolic = rng.integers(0, 8, m) + np.array([80, 86, 92])[severity]
    a1c = np.round(rng.random(m) * np.array([0.6, 1.0, 1.5])[severity] + np.array([6.4, 7.0, 8.0])[severity], 1)
    asthma = col.pick(
        rng, ["symptoms with exercise and cold air", "seasonal, worse with pollen", ""], m, [0.4, 0.3, 0.3]
    )
    back = col.pick(
        rng,
        ["worse after long sitting", "flares after heavy lifting", "sciatica down the left leg"],
        m,
        [0.5, 0.3, 0.2],
    )
    knee = col.concat(SIDES[story.knee_side[rows]], np.where(story.knee_side[rows] == 2, " knees", " knee"))
    extra = np.select(
        [which == CONDITION_NAMES.index(c) for c in CONDITION_NAMES],
        [
            col.concat("home readings around ", col.numbers(systolic), "/", col.numbers(diastolic), " mmHg"),
            col.concat("last HbA1c ", a1c.astype(col.TEXT), "%"),
            asthma,
            knee,
            back,
        ],
        np.asarray("", dtype=col.TEXT),
    )
    return col.join([col.concat("Diagnosed ", col.numbers(year)), extra])


def medical_profile(rng: np.random.Generator, people: People, story: History, as_of: dt.date) -> dict[str, np.ndarray]:
    """Injuries, surgeries and family history that agree with the person's conditions."""
    n = len(people)
    year_now = as_of.year
    knee = people.has("knee_osteoarthritis")
    back = people.has("lower_back_pain")
    u = rng.random((n, 12))
    past_year = year_now - 1 - np.floor(u[:, 0] * np.clip(people.age - 18, 1, 20)).astype(np.int64)
    side = SIDES[rng.integers(0, 2, n)]

    knee_text = np.where(
        u[:, 1] < 0.5,
        col.concat("Knee osteoarthritis, ", SIDES[story.knee_side], np.where(story.knee_side == 2, " knees", " knee")),
        col.concat("Recurring ", SIDES[story.knee_side], " knee pain"),
    )
    back_text = col.pick(rng, ["Recurring lower back pain", "L5-S1 disc bulge", "Lower back strain"], n)
    other = col.pick(
        rng,
        ["Sprained ankle", "Shoulder impingement", "Tennis elbow", "Hamstring strain"],
        n,
    )
    other_text = col.concat(other, " (", side, ", ", col.numbers(past_year), ")")
    injuries = col.join(
        [
            np.where(knee, knee_text, ""),
            np.where(back, back_text, ""),
            np.where(u[:, 2] < 0.10, other_text, ""),
        ]
    )

    surgery_year = col.numbers(year_now - 1 - np.floor(u[:, 3] * np.clip(people.age - 16, 1, 25)))
    female, male = people.sex == 0, people.sex == 1
    surgeries = col.join(
        [
            np.where(knee & (u[:, 4] < 0.12), col.concat("Knee arthroscopy (", surgery_year, ")"), ""),
            np.where(back & (u[:, 5] < 0.04), col.concat("Lumbar discectomy (", surgery_year, ")"), ""),
            np.where(u[:, 6] < 0.06, col.concat("Appendectomy (", surgery_year, ")"), ""),
            np.where(female & (people.age >= 25) & (u[:, 7] < 0.12), col.concat("C-section (", surgery_year, ")"), ""),
            np.where(male & (u[:, 7] < 0.05), col.concat("Inguinal hernia repair (", surgery_year, ")"), ""),
        ]
    )

    relative = col.pick(rng, ["Father", "Mother", "Both parents"], n, [0.42, 0.42, 0.16])
    relative_2 = col.pick(rng, ["Father", "Mother", "Sibling"], n, [0.4, 0.4, 0.2])
    family = col.join(
        [
            np.where(u[:, 8] < 0.28 + 0.30 * people.has("hypertension"), col.concat(relative, ": hypertension"), ""),
            np.where(
                u[:, 9] < 0.18 + 0.32 * people.has("type_2_diabetes"), col.concat(relative_2, ": type 2 diabetes"), ""
            ),
            np.where(u[:, 10] < 0.12, col.concat(relative, ": heart disease"), ""),
            np.where(u[:, 11] < 0.06 + 0.25 * people.has("asthma"), col.concat(relative_2, ": asthma"), ""),
        ]
    )
    cleared = people.conditions.any(axis=1) & (rng.random(n) < 0.35)
    notes = np.where(cleared, col.concat("Cleared for exercise by physician (", col.numbers(past_year), ")"), "")
    return {"injury_details": injuries, "surgeries_history": surgeries, "family_history": family, "notes": notes}


# ---------------------------------------------------------------------------- allergies
_FOOD = list(pub.FOOD_ALLERGEN_PREVALENCE)
ALLERGENS = np.array([*_FOOD, "penicillin"], dtype=col.TEXT)
# scale the independent per-allergen rates so that "any food allergy" lands on the published 10.8%
_FOOD_SCALE = float(pub.FOOD_ALLERGY.value) / (1 - np.prod([1 - p for p in pub.FOOD_ALLERGEN_PREVALENCE.values()]))
_PREVALENCE = np.array([*(p * _FOOD_SCALE for p in pub.FOOD_ALLERGEN_PREVALENCE.values()), pub.PENICILLIN_LABEL.value])
_REACTIONS = np.array(["Hives", "Lip and throat swelling", "Anaphylaxis", "Stomach cramps and bloating", "Rash"])
_REACTION_ODDS = {  # per allergen: probability of each reaction above
    "shellfish": [0.50, 0.30, 0.20, 0.0, 0.0],
    "peanut": [0.45, 0.30, 0.25, 0.0, 0.0],
    "tree nuts": [0.45, 0.30, 0.25, 0.0, 0.0],
    "milk": [0.25, 0.0, 0.02, 0.73, 0.0],
    "penicillin": [0.35, 0.0, 0.05, 0.0, 0.60],
}
_DEFAULT_REACTION_ODDS = [0.55, 0.15, 0.05, 0.25, 0.0]
_REACTION_SEVERITY = np.array([0, 1, 2, 0, 0])  # index into SEVERITIES before the per-person bump


def allergies(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Rows (person, allergen) with reaction, severity and notes; the severity follows the reaction."""
    has = rng.random((n, ALLERGENS.size)) < _PREVALENCE[None, :]
    person, allergen = np.nonzero(has)  # person-major order
    m = person.size
    odds = np.array([_REACTION_ODDS.get(str(a), _DEFAULT_REACTION_ODDS) for a in ALLERGENS])
    cumulative = np.cumsum(odds, axis=1)
    reaction = (rng.random((m, 1)) > cumulative[allergen]).sum(axis=1).clip(0, len(_REACTIONS) - 1)
    severity = np.maximum(_REACTION_SEVERITY[reaction], (rng.random(m) < 0.3).astype(np.int64))
    severity = np.where(reaction == 2, 2, severity)
    food_severe = (severity == 2) & (allergen < len(_FOOD))
    label = (allergen == len(_FOOD)) & (rng.random(m) < 0.4)
    notes = np.where(food_severe, "Carries an epinephrine auto-injector", "")
    notes = np.where(label, "Label since childhood; never re-tested", notes)
    return {
        "person": person,
        "allergen_index": allergen,
        "allergen": ALLERGENS[allergen],
        "reaction": _REACTIONS[reaction].astype(col.TEXT),
        "severity": severity,
        "notes": np.asarray(notes, dtype=col.TEXT),
    }
