"""The plan name: where a plan's goal, split, schedule, experience level and training setting live.

The app schema has no column for experience or for home/gym training, and
``workout_plans`` has no notes, so the plan's name carries them in one fixed,
human-readable form that the queries stage (and any app) can parse back:

    Muscle gain - upper/lower, 4 days/week, intermediate, gym
    Weight loss - full body, 3 days/week, novice, home: dumbbells (max 24 kg), resistance band, exercise mat

``N days/week`` keeps the meaning ``queries/state.py`` already relies on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from fitsense_luigi.synth import columns as col

SPLITS = ("full body", "upper/lower", "push/pull/legs + upper/lower")
EXPERIENCE_LEVELS = ("novice", "intermediate", "advanced")
_PATTERN = re.compile(
    r"^(?P<goal>[A-Za-z ]+) - (?P<split>[a-z/+ ]+), (?P<days>\d) days/week, "
    r"(?P<experience>novice|intermediate|advanced), (?P<setting>gym|home)(?:: (?P<equipment>.+))?$"
)
_DUMBBELL = re.compile(r"^dumbbells \(max (\d+) kg\)$")
BODYWEIGHT_ONLY = "bodyweight only"


@dataclass(frozen=True)
class PlanLabel:
    goal: str  # goals.name, e.g. "muscle_gain"
    split: str
    days_per_week: int
    experience: str
    setting: str  # home | gym
    equipment: tuple[str, ...] = ()  # catalog equipment names at home; empty in a gym (everything)
    dumbbell_max_kg: float | None = None  # heaviest dumbbell per hand at home


def goal_title(goal: str) -> str:
    return goal.replace("_", " ").capitalize()


def parse(name: str) -> PlanLabel:
    """The fields of a plan name; ValueError if it is not in the documented form."""
    match = _PATTERN.match(name)
    if not match:
        raise ValueError(f"plan name not in the documented form: {name!r}")
    items: list[str] = []
    dumbbell_max = None
    for item in (match["equipment"] or "").split(", "):
        if not item or item == BODYWEIGHT_ONLY:
            continue
        heavy = _DUMBBELL.match(item)
        if heavy:
            dumbbell_max = float(heavy.group(1))
            item = "dumbbells"
        items.append(item.replace(" ", "_"))
    return PlanLabel(
        goal=match["goal"].strip().lower().replace(" ", "_"),
        split=match["split"],
        days_per_week=int(match["days"]),
        experience=match["experience"],
        setting=match["setting"],
        equipment=tuple(items),
        dumbbell_max_kg=dumbbell_max,
    )


def format_names(
    goal_titles: np.ndarray,
    split: np.ndarray,
    days: np.ndarray,
    experience: np.ndarray,
    setting: np.ndarray,
    equipment: np.ndarray,
    equipment_names: list[str],
    dumbbell_max: np.ndarray,
) -> np.ndarray:
    """Plan names for a block of users, built column-wise (see the module docstring for the form)."""
    home_items = []
    for k, name in enumerate(equipment_names):
        label = name.replace("_", " ")
        if name == "dumbbells":
            label_col = col.concat("dumbbells (max ", col.numbers(np.nan_to_num(dumbbell_max, posinf=0)), " kg)")
        else:
            label_col = np.full(goal_titles.size, label, dtype=col.TEXT)
        home_items.append(np.where(equipment[:, k], label_col, ""))
    at_home = col.join(home_items, ", ")
    at_home = np.where(at_home == "", BODYWEIGHT_ONLY, at_home)
    where = np.where(setting == "home", col.concat("home: ", at_home), "gym")
    return col.concat(goal_titles, " - ", split, ", ", col.numbers(days), " days/week, ", experience, ", ", where)
