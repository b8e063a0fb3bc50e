"""The plan name: where a plan's goal, split, schedule, experience level and training setting live.

The app schema has no column for experience or for home/gym training, and
``workout_plans`` has no notes, so the plan's name carries them in one fixed,
human-readable form that the queries stage (and any app) can parse back:

    Muscle gain - upper/lower, 4 days/week, intermediate, gym
    Weight loss - full body, 3 days/week, novice, home: dumbbells (max 24 kg), resistance band, exercise mat

This module is the form's only owner: :func:`format_names` writes it for a
block of users, :func:`fields` parses a whole column at once (Arrow's regex
kernel; the queries stage and the realism observer read tables of plans), and
:func:`parse` reads one name into a :class:`PlanLabel`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fitsense_luigi.synth import columns as col

SPLITS = ("full body", "upper/lower", "push/pull/legs + upper/lower")
EXPERIENCE_LEVELS = ("novice", "intermediate", "advanced")
PATTERN = (
    r"^(?P<goal>[A-Za-z ]+) - (?P<split>[a-z/+ ]+), (?P<days>\d) days/week, "
    r"(?P<experience>novice|intermediate|advanced), (?P<setting>gym|home)(?:: (?P<equipment>.+))?$"
)
_DUMBBELL = re.compile(r"^dumbbells \(max (\d+) kg\)$")
BODYWEIGHT_ONLY = "bodyweight only"
Names = pa.Array | pa.ChunkedArray | Sequence[str | None]  # a column of plan names (list, numpy, pandas, Arrow)


@dataclass(frozen=True)
class PlanLabel:
    goal: str  # goals.name, e.g. "muscle_gain"
    split: str
    days_per_week: int
    experience: str
    setting: str  # home | gym
    equipment: tuple[str, ...] = ()  # equipment names (reference/data/equipment.csv) at home; empty in a gym
    dumbbell_max_kg: float | None = None  # heaviest dumbbell per hand at home


def goal_title(goal: str) -> str:
    return goal.replace("_", " ").capitalize()


def fields(names: Names) -> dict[str, pa.Array]:
    """The raw text fields of every name (goal, split, days, experience, setting, equipment), one Arrow
    string array each; null where a name is missing or not in the documented form."""
    if isinstance(names, pa.ChunkedArray):
        names = names.combine_chunks()
    elif not isinstance(names, pa.Array):
        names = pa.array(names, type=pa.string(), from_pandas=True)  # a list, numpy array or pandas Series
    parsed = pc.extract_regex(names.cast(pa.string()), PATTERN)
    return {parsed.type.field(k).name: child for k, child in enumerate(parsed.flatten())}


def days_per_week(names: Names) -> np.ndarray:
    """Days per week of every name as floats; NaN where a name is not in the documented form."""
    return pc.cast(fields(names)["days"], pa.float64()).to_numpy(zero_copy_only=False)


def experience_levels(names: Names) -> np.ndarray:
    """Index into EXPERIENCE_LEVELS of every name; -1 where a name is not in the documented form."""
    experience = fields(names)["experience"].fill_null("").to_numpy(zero_copy_only=False)
    return np.select([experience == level for level in EXPERIENCE_LEVELS], range(len(EXPERIENCE_LEVELS)), -1)


def parse(name: str) -> PlanLabel:
    """The fields of a plan name; ValueError if it is not in the documented form."""
    row = {key: values[0].as_py() for key, values in fields([name]).items()}
    if row["goal"] is None:
        raise ValueError(f"plan name not in the documented form: {name!r}")
    items: list[str] = []
    dumbbell_max = None
    for item in row["equipment"].split(", "):
        if not item or item == BODYWEIGHT_ONLY:
            continue
        heavy = _DUMBBELL.match(item)
        if heavy:
            dumbbell_max = float(heavy.group(1))
            item = "dumbbells"
        items.append(item.replace(" ", "_"))
    return PlanLabel(
        goal=row["goal"].strip().lower().replace(" ", "_"),
        split=row["split"],
        days_per_week=int(row["days"]),
        experience=row["experience"],
        setting=row["setting"],
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
