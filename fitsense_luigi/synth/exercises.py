"""The exercise catalogue as numpy arrays, plus the equipment and exercise reference tables.

Plan design and the training simulation index these arrays by exercise number
(the catalogue order), so choosing, loading and timing exercises for a whole
block of users is array arithmetic rather than a lookup per row.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from fitsense_luigi.reference import catalogue, equipment
from fitsense_luigi.reference.conditions import CONDITIONS
from fitsense_luigi.reference.medications import MEDICATIONS
from fitsense_luigi.reference.row_ids import catalog_id
from fitsense_luigi.reference.safety import CONDITION_AVOIDS, MEDICATION_AVOIDS
from fitsense_luigi.synth import columns as col

EXERCISES = catalogue.EXERCISES
NAMES = np.array([e.name for e in EXERCISES])
COUNT = len(EXERCISES)
IDS = np.frombuffer(b"".join(e.exercise_id.bytes for e in EXERCISES), dtype=np.uint8).reshape(-1, 16)
EQUIPMENT = list(equipment.EQUIPMENT)
EQUIPMENT_IDS = np.frombuffer(b"".join(catalog_id("equipment", q).bytes for q in EQUIPMENT), np.uint8).reshape(-1, 16)

PATTERN = np.array([e.pattern for e in EXERCISES])
MUSCLE = np.array([e.primary_muscle for e in EXERCISES])
LOAD_KIND = np.array([e.load for e in EXERCISES])
LEVEL = np.array([{"beginner": 0, "intermediate": 1, "advanced": 2}[e.level] for e in EXERCISES])
TIMED = np.array([e.timed for e in EXERCISES])
RATIO = np.array([e.strength_ratio for e in EXERCISES])
LOADED = np.isin(LOAD_KIND, ["barbell", "dumbbell", "kettlebell", "machine", "cable"]) & (RATIO > 0)
COMPOUND = np.isin(PATTERN, ["squat", "hinge", "lunge", "push_h", "push_v", "pull_h", "pull_v"]) & (
    MUSCLE != "rear_deltoids"
)
CONDITIONING = PATTERN == "conditioning"
LOWER_BODY = np.isin(MUSCLE, ["quadriceps", "hamstrings", "glutes"])
# (exercise, equipment) the exercise needs
NEEDS = np.array([[q in e.equipment for q in EQUIPMENT] for e in EXERCISES])

# Plate and stack steps, and the lightest load that exists (an empty Olympic bar weighs 20 kg).
INCREMENT_KG = {"barbell": 2.5, "dumbbell": 2.0, "kettlebell": 4.0, "machine": 5.0, "cable": 2.5}
MINIMUM_KG = {"barbell": 20.0, "dumbbell": 2.0, "kettlebell": 8.0, "machine": 10.0, "cable": 5.0}
INCREMENT = np.array([INCREMENT_KG.get(k, 1.0) for k in LOAD_KIND])
MINIMUM = np.array([MINIMUM_KG.get(k, 0.0) for k in LOAD_KIND])

# Reps (or seconds for timed work) an intermediate man manages to failure with body weight alone; an
# assumption that sets the scale for exercises without external load.
BODYWEIGHT_CAPACITY = {
    "Box Squat to Bench": 30,
    "Wall Sit": 75,
    "Jump Squat": 22,
    "Box Jump": 14,
    "Jumping Lunge": 20,
    "Glute Bridge": 30,
    "Push-Up": 28,
    "Pull-Up": 9,
    "Band-Assisted Pull-Up": 14,
    "Band Pull-Apart": 30,
    "Plank": 90,
    "Side Plank": 55,
    "Dead Bug": 20,
    "Bird Dog": 20,
    "Burpee": 18,
    "Jumping Jacks": 60,
    "Stationary Bike Intervals": 75,
    "Rowing Machine Intervals": 70,
}
CAPACITY = np.array([BODYWEIGHT_CAPACITY.get(e.name, 0.0) for e in EXERCISES], dtype=np.float64)

# Avoided contraindication tags, as a boolean (exercise, tag) matrix.
TAGS = sorted({t for e in EXERCISES for t in e.tags} | {t for s in CONDITION_AVOIDS.values() for t in s})
TAG_MATRIX = np.array([[t in e.tags for t in TAGS] for e in EXERCISES])


def kind_mask(*kinds: str) -> np.ndarray:
    """Exercises that fill a plan slot of any of ``kinds`` (a pattern, or a named isolation group)."""
    groups = {
        "arms": (PATTERN == "isolation") & np.isin(MUSCLE, ["biceps", "triceps"]),
        "leg_iso": (PATTERN == "isolation") & LOWER_BODY,
        "chest_iso": (PATTERN == "isolation") & (MUSCLE == "chest"),
        "shoulder_iso": ((PATTERN == "isolation") & (MUSCLE == "shoulders")) | (MUSCLE == "rear_deltoids"),
    }
    mask = np.zeros(COUNT, dtype=bool)
    for kind in kinds:
        mask |= groups[kind] if kind in groups else (kind == PATTERN) & (MUSCLE != "rear_deltoids")
    return mask


def banned_tags(conditions: np.ndarray, medications: np.ndarray) -> np.ndarray:
    """(n, tags) bool: tags a person must avoid because of a condition or a medication."""
    avoid = np.zeros((conditions.shape[0], len(TAGS)), dtype=bool)
    for j, name in enumerate(CONDITIONS):
        row = np.array([t in CONDITION_AVOIDS[name] for t in TAGS])
        avoid |= conditions[:, j : j + 1] & row[None, :]
    for k, med in enumerate(MEDICATIONS):
        row = np.array([t in MEDICATION_AVOIDS[med.name] for t in TAGS])
        avoid |= medications[:, k : k + 1] & row[None, :]
    return avoid


def reference_tables() -> Iterator[tuple[str, pa.Table]]:
    yield (
        "equipment",
        pa.table(
            {"equipment_id": col.uuid(EQUIPMENT_IDS), "name": EQUIPMENT, "category": list(equipment.EQUIPMENT.values())}
        ),
    )
    yield (
        "exercises",
        pa.table(
            {
                "exercise_id": col.uuid(IDS),
                "name": list(NAMES),
                "primary_muscle": list(MUSCLE),
                "notes": [
                    f"pattern={e.pattern}; impact={e.impact}; tags={','.join(sorted(e.tags)) or 'none'}; "
                    f"level={e.level}; unit={e.unit}"
                    for e in EXERCISES
                ],
            }
        ),
    )
    ex, eq = np.nonzero(NEEDS)
    yield (
        "exercise_equipment",
        pa.table({"exercise_id": col.uuid(IDS[ex]), "equipment_id": col.uuid(EQUIPMENT_IDS[eq])}),
    )
