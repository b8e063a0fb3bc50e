"""Users and everything the app knows about them before they train (stage ``profiles``).

Yields ``(table name, Arrow table)`` pieces block by block; the task streams
them into Parquet, so memory stays bounded by the block size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from fitsense_luigi import ids
from fitsense_luigi.config import Config
from fitsense_luigi.contracts.progress import Progress
from fitsense_luigi.reference.conditions import CONDITIONS
from fitsense_luigi.reference.goals import GOALS
from fitsense_luigi.reference.medications import MEDICATIONS
from fitsense_luigi.reference.row_ids import catalog_id
from fitsense_luigi.rng import stage_rng
from fitsense_luigi.synth import blockwise, medical, names
from fitsense_luigi.synth import columns as col
from fitsense_luigi.synth.health import MEDICATION_NAMES, SEVERITIES
from fitsense_luigi.synth.population import (
    ACTIVITY_FACTORS,
    ACTIVITY_LEVELS,
    CONDITION_NAMES,
    GOAL_KCAL_ADJUST,
    GOAL_NAMES,
    SEXES,
    People,
)
from fitsense_luigi.synth.schema import conform


def catalog_ids(kind: str, keys: list[str]) -> np.ndarray:
    """(n, 16) ids of reference rows; stable across seeds (the app's fixed catalogue)."""
    return np.frombuffer(b"".join(catalog_id(kind, k).bytes for k in keys), dtype=np.uint8).reshape(-1, 16)


GOAL_IDS = catalog_ids("goal", list(GOAL_NAMES))
CONDITION_IDS = catalog_ids("condition", list(CONDITION_NAMES))
_MEDICATIONS = MEDICATIONS
_CONDITION_LABEL = {
    "hypertension": "hypertension",
    "type_2_diabetes": "type 2 diabetes",
    "asthma": "asthma",
    "knee_osteoarthritis": "knee osteoarthritis",
    "lower_back_pain": "lower back pain",
}


def reference_tables() -> Iterator[tuple[str, pa.Table]]:
    yield (
        "goals",
        pa.table({"goal_id": col.uuid(GOAL_IDS), "name": list(GOALS), "description": list(GOALS.values())}),
    )
    yield (
        "conditions",
        pa.table(
            {
                "condition_id": col.uuid(CONDITION_IDS),
                "name": list(CONDITIONS),
                "description": list(CONDITIONS.values()),
            }
        ),
    )


def generate(config: Config, as_of: dt.date, progress: Progress | None = None) -> Iterator[tuple[str, pa.Table]]:
    for name, table in reference_tables():
        yield name, conform(name, table)
    yield from blockwise.generate(config, as_of, people_tables, "profiles", progress)


def signup_times(people: People, window_start: np.datetime64, rng: np.random.Generator) -> np.ndarray:
    """Account creation (datetime64[s]): days before the look-back window plus a waking-hours time of day."""
    day = window_start - people.signup_days_before_window.astype("timedelta64[D]")
    return day.astype("datetime64[s]") + rng.integers(7 * 3600, 23 * 3600, len(people)).astype("timedelta64[s]")


def between(rng: np.random.Generator, start: np.ndarray, end: np.datetime64) -> np.ndarray:
    """A moment uniformly between ``start`` (datetime64[s]) and ``end`` for each row."""
    span = (end - start).astype(np.int64)
    return start + (rng.random(start.size) * np.maximum(span, 0)).astype("timedelta64[s]")


def people_tables(seed: int, people: People, as_of: dt.date, lookback: int) -> Iterator[tuple[str, pa.Table]]:
    n = len(people)
    rng = stage_rng(seed, "profiles", int(people.index[0]) if n else 0)
    uid, index = people.user_id, people.index
    end_of_day = (col.day(as_of) + np.timedelta64(1, "D")).astype("datetime64[s]") - np.timedelta64(1, "s")

    display, first, last = names.draw_names(rng, people.sex)
    created = signup_times(people, col.window_start(as_of, lookback), rng)
    yield (
        "users",
        pa.table(
            {
                "user_id": col.uuid(uid),
                "name": col.text(display),
                "email": col.text(names.draw_emails(rng, index, first, last)),
                "created_at": col.timestamp(created),
            }
        ),
    )
    updated = between(rng, created, end_of_day)
    yield (
        "user_profiles",
        pa.table(
            {
                "user_id": col.uuid(uid),
                "date_of_birth": col.date(people.birth_date),
                "sex": col.text(SEXES[people.sex]),
                "height_cm": col.decimal(people.height_cm, 5, 1),
                "activity_level": col.text(ACTIVITY_LEVELS[people.activity]),
                "updated_at": col.timestamp(updated),
            }
        ),
    )
    g_user, g_goal = np.nonzero(people.goal_rank >= 0)
    yield (
        "user_goals",
        pa.table(
            {
                "user_id": col.uuid(uid[g_user]),
                "goal_id": col.uuid(GOAL_IDS[g_goal]),
                "priority": col.int32(people.goal_rank[g_user, g_goal] + 1),
            }
        ),
    )

    story = medical.history(rng, people, as_of)
    c_user, c_which = np.nonzero(people.conditions)
    yield (
        "user_conditions",
        pa.table(
            {
                "user_id": col.uuid(uid[c_user]),
                "condition_id": col.uuid(CONDITION_IDS[c_which]),
                "severity": col.text(SEVERITIES[people.severity[c_user, c_which]]),
                "notes": col.text(medical.condition_notes(rng, people, story, c_user, c_which)),
            }
        ),
    )
    profile = medical.medical_profile(rng, people, story, as_of)
    yield (
        "user_medical_profiles",
        pa.table(
            {
                "medical_profile_id": col.uuid(ids.uuid_bytes(seed, "user_medical_profiles", index)),
                "user_id": col.uuid(uid),
                "has_injuries": pa.array(profile["injury_details"] != ""),
                "injury_details": col.optional_text(profile["injury_details"]),
                "surgeries_history": col.optional_text(profile["surgeries_history"]),
                "family_history": col.optional_text(profile["family_history"]),
                "notes": col.optional_text(profile["notes"]),
                "updated_at": col.timestamp(between(rng, created, end_of_day)),
            }
        ),
    )
    yield "user_medications", medications(seed, people, story, rng, as_of)
    yield "user_allergies", allergies(seed, people, rng)
    yield "calorie_targets", calorie_targets(seed, people, updated)
    yield "sleep_targets", sleep_targets(seed, people, created)


def medications(seed: int, people: People, story: medical.History, rng: np.random.Generator, as_of: dt.date):
    """One row per drug taken; it started after the diagnosis it treats and is still taken (no end date)."""
    m_user, m_which = np.nonzero(people.medications)
    treats = np.array([CONDITION_NAMES.index(m.treats) for m in _MEDICATIONS])[m_which]
    diagnosed = story.diagnosed[m_user, treats]
    since = (col.day(as_of) - diagnosed).astype(np.int64)
    started = diagnosed + np.floor(rng.random(m_user.size) ** 2 * np.minimum(since, 730)).astype("timedelta64[D]")
    dose_count = np.array([len(m.dosages) for m in _MEDICATIONS])[m_which]
    dose_index = np.floor(rng.random(m_user.size) * dose_count).astype(np.int64)
    dosage_table = np.array([[*m.dosages, *[""] * (3 - len(m.dosages))] for m in _MEDICATIONS], dtype=col.TEXT)
    frequency = np.array([m.frequency for m in _MEDICATIONS], dtype=col.TEXT)
    label = np.array([_CONDITION_LABEL[m.treats] for m in _MEDICATIONS], dtype=col.TEXT)
    statin = m_which == MEDICATION_NAMES.index("atorvastatin")
    notes = np.where(statin, "cardiovascular protection with diabetes", col.concat("for ", label[m_which]))
    return pa.table(
        {
            "medication_id": col.uuid(ids.uuid_bytes(seed, "user_medications", people.index[m_user], m_which)),
            "user_id": col.uuid(people.user_id[m_user]),
            "medication_name": col.text(np.array(MEDICATION_NAMES, dtype=col.TEXT)[m_which]),
            "dosage": col.text(dosage_table[m_which, dose_index]),
            "frequency": col.text(frequency[m_which]),
            "start_date": col.date(started),
            "end_date": col.nulls(m_user.size, pa.date32()),
            "notes": col.text(notes),
        }
    )


def allergies(seed: int, people: People, rng: np.random.Generator) -> pa.Table:
    rows = medical.allergies(rng, len(people))
    person = rows["person"]
    return pa.table(
        {
            "allergy_id": col.uuid(
                ids.uuid_bytes(seed, "user_allergies", people.index[person], rows["allergen_index"])
            ),
            "user_id": col.uuid(people.user_id[person]),
            "allergen": col.text(rows["allergen"]),
            "reaction": col.text(rows["reaction"]),
            "severity": col.text(SEVERITIES[rows["severity"]]),
            "notes": col.optional_text(rows["notes"]),
        }
    )


def calorie_targets(seed: int, people: People, updated: np.ndarray) -> pa.Table:
    """Maintenance from Mifflin-St Jeor x activity factor; the goal-adjusted daily target is in ``notes``.

    The column is called ``maintenance_calories`` in the app, so it holds maintenance; the
    note states the target in a fixed form ("target 1850 kcal/day (weight_loss: -20%)").
    """
    n = len(people)
    maintenance = np.round(people.maintenance_kcal() / 10) * 10
    adjust = GOAL_KCAL_ADJUST[people.goal]
    percent = np.round(adjust * 100).astype(np.int64)
    sign = np.where(percent > 0, "+", "")
    notes = col.concat(
        "target ",
        col.numbers(np.round(people.target_kcal() / 10) * 10),
        " kcal/day (",
        GOAL_NAMES[people.goal].astype(col.TEXT),
        ": ",
        sign,
        col.numbers(percent),
        "%)",
    )
    factor = ACTIVITY_FACTORS[people.activity].astype(col.TEXT)
    since = updated.astype("datetime64[D]")
    return pa.table(
        {
            "calorie_target_id": col.uuid(ids.uuid_bytes(seed, "calorie_targets", people.index)),
            "user_id": col.uuid(people.user_id),
            "maintenance_calories": col.int32(maintenance),
            "method": col.text(col.concat("Mifflin-St Jeor x ", factor, " (", ACTIVITY_LEVELS[people.activity], ")")),
            "effective_from": col.date(since),
            "effective_to": col.nulls(n, pa.date32()),
            "notes": col.text(notes),
            "created_at": col.timestamp(updated),
        }
    )


def sleep_target_hours(people: People) -> np.ndarray:
    """At least the recommended 7 h, half an hour above habit, in half hours, at most 9 h."""
    return np.clip(np.round(np.maximum(7.0, people.sleep_mean_h + 0.5) * 2) / 2, 7.0, 9.0)


def sleep_targets(seed: int, people: People, created: np.ndarray) -> pa.Table:
    n = len(people)
    return pa.table(
        {
            "sleep_target_id": col.uuid(ids.uuid_bytes(seed, "sleep_targets", people.index)),
            "user_id": col.uuid(people.user_id),
            "target_sleep_hours": col.decimal(sleep_target_hours(people), 4, 2),
            "effective_from": col.date(created.astype("datetime64[D]")),
            "effective_to": col.nulls(n, pa.date32()),
            "notes": col.text(np.full(n, "Adults need 7 or more hours (AASM/SRS 2015)", dtype=col.TEXT)),
            "created_at": col.timestamp(created),
        }
    )
