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
from fitsense_luigi.synth import blockwise, calendar, medical, names
from fitsense_luigi.synth import columns as col
from fitsense_luigi.synth.health import MEDICATION_NAMES, SEVERITIES
from fitsense_luigi.synth.population import (
    ACTIVITY_FACTORS,
    ACTIVITY_LEVELS,
    CONDITION_NAMES,
    ENERGY_FLOOR_KCAL,
    GOAL_NAMES,
    SEXES,
    WEIGHT_LOSS,
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


def generate(
    config: Config, as_of: dt.date, progress: Progress | None = None, users: range | None = None
) -> Iterator[tuple[str, pa.Table]]:
    """The reference tables, then the users' tables block by block; with ``users`` (a world part) only theirs."""
    if users is None:
        yield from reference()
    yield from blockwise.generate(config, as_of, people_tables, "profiles", progress, users)


def reference() -> Iterator[tuple[str, pa.Table]]:
    """The stage's catalogue tables, the same for every run."""
    for name, table in reference_tables():
        yield name, conform(name, table)


def signup_times(people: People, window_start: np.datetime64, rng: np.random.Generator) -> np.ndarray:
    """Account creation (datetime64[s], UTC): days before the look-back window at a waking hour of the local day."""
    day = window_start - people.signup_days_before_window.astype("timedelta64[D]")
    return calendar.to_utc(people.zone, day, rng.integers(7 * 3600, 23 * 3600, len(people)))


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


# Drugs stopped in the past, each with why: an earlier antihypertensive switched for a side effect, or a
# finished painkiller course (assumptions; the side effects are the classes' best-known ones).
_SWITCHED_FROM = {
    "lisinopril": "stopped: dry cough",
    "amlodipine": "stopped: ankle swelling",
    "metoprolol succinate": "stopped: tiredness",
}
_HYPERTENSION_DRUGS = list(_SWITCHED_FROM)
_SWITCH_REASON = np.array([_SWITCHED_FROM.get(name, "") for name in MEDICATION_NAMES], dtype=col.TEXT)
_PAST_COURSE = {"knee_osteoarthritis": "naproxen", "lower_back_pain": "acetaminophen"}


def medications(seed: int, people: People, story: medical.History, rng: np.random.Generator, as_of: dt.date):
    """Current drugs (started after the diagnosis they treat, no end date) and stopped ones (with an end date)."""
    today = col.day(as_of)
    m_user, m_which = np.nonzero(people.medications)
    treats = np.array([CONDITION_NAMES.index(m.treats) for m in _MEDICATIONS])[m_which]
    diagnosed = story.diagnosed[m_user, treats]
    since = (today - diagnosed).astype(np.int64)
    started = diagnosed + np.floor(rng.random(m_user.size) ** 2 * np.minimum(since, 730)).astype("timedelta64[D]")
    statin = m_which == MEDICATION_NAMES.index("atorvastatin")
    notes = np.where(statin, "cardiovascular protection with diabetes", col.concat("for ", _LABEL[m_which]))
    past = _stopped(rng, people, story, m_user, m_which, started, today)
    user = np.concatenate([m_user, past["user"]])
    which = np.concatenate([m_which, past["which"]])
    order = np.lexsort((which, user))
    dose_count = np.array([len(m.dosages) for m in _MEDICATIONS])[which]
    dose_index = np.floor(rng.random(which.size) * dose_count).astype(np.int64)
    dosage_table = np.array([[*m.dosages, *[""] * (3 - len(m.dosages))] for m in _MEDICATIONS], dtype=col.TEXT)
    frequency = np.array([m.frequency for m in _MEDICATIONS], dtype=col.TEXT)
    ended = np.concatenate([np.full(m_user.size, np.datetime64("NaT"), "datetime64[D]"), past["end"]])
    slot = np.concatenate([m_which, past["which"] + len(MEDICATION_NAMES)])  # a stopped drug has its own id
    pick = lambda values: np.asarray(values)[order]  # noqa: E731
    user, which, ended = pick(user), pick(which), pick(ended)
    return pa.table(
        {
            "medication_id": col.uuid(ids.uuid_bytes(seed, "user_medications", people.index[user], pick(slot))),
            "user_id": col.uuid(people.user_id[user]),
            "medication_name": col.text(np.array(MEDICATION_NAMES, dtype=col.TEXT)[which]),
            "dosage": col.text(dosage_table[which, pick(dose_index)]),
            "frequency": col.text(frequency[which]),
            "start_date": col.date(pick(np.concatenate([started, past["start"]]))),
            "end_date": col.date(ended, present=~np.isnat(ended)),
            "notes": col.text(pick(np.concatenate([notes, past["notes"]]).astype(col.TEXT))),
        }
    )


_LABEL = np.array([_CONDITION_LABEL[m.treats] for m in _MEDICATIONS], dtype=col.TEXT)


def _stopped(
    rng: np.random.Generator,
    people: People,
    story: medical.History,
    m_user: np.ndarray,
    m_which: np.ndarray,
    started: np.ndarray,
    today: np.datetime64,
) -> dict[str, np.ndarray]:
    """Rows for drugs taken before: a switched antihypertensive (a quarter of treated people whose current drug
    began at least two months after the diagnosis) and past painkiller courses (40% of those with joint or back
    pain who take none now), each ending before the as-of date."""
    users, whiches, starts, ends, notes = [], [], [], [], []
    hypertension = CONDITION_NAMES.index("hypertension")
    current = {name: MEDICATION_NAMES.index(name) for name in _HYPERTENSION_DRUGS}
    is_htn = np.isin(m_which, list(current.values()))
    first_htn = is_htn & np.r_[True, m_user[1:] != m_user[:-1]]  # the antihypertensives lead each user's rows
    diagnosed = story.diagnosed[m_user, hypertension]
    lead = (started - diagnosed).astype(np.int64)
    switch = first_htn & (lead >= 60) & (rng.random(m_user.size) < 0.25)
    taking = people.medications[:, [current[n] for n in _HYPERTENSION_DRUGS]]
    choice = rng.random((m_user.size, len(_HYPERTENSION_DRUGS))) + taking[m_user] * 2.0  # never one taken now
    earlier = np.array([current[n] for n in _HYPERTENSION_DRUGS])[np.argmin(choice, axis=1)]
    rows = np.flatnonzero(switch)
    users.append(m_user[rows])
    whiches.append(earlier[rows])
    starts.append(diagnosed[rows])
    ends.append(started[rows] - np.timedelta64(1, "D"))
    notes.append(_SWITCH_REASON[earlier[rows]])

    for condition, drug in _PAST_COURSE.items():
        c, d = CONDITION_NAMES.index(condition), MEDICATION_NAMES.index(drug)
        who = np.flatnonzero(people.conditions[:, c] & ~people.medications[:, d] & (rng.random(len(people)) < 0.4))
        known = (today - story.diagnosed[who, c]).astype(np.int64)
        begin = story.diagnosed[who, c] + np.floor(rng.random(who.size) * np.maximum(known - 90, 1)).astype(
            "timedelta64[D]"
        )
        users.append(who)
        whiches.append(np.full(who.size, d))
        starts.append(begin)
        ends.append(begin + rng.integers(14, 61, who.size).astype("timedelta64[D]"))
        notes.append(np.full(who.size, "course finished", dtype=col.TEXT))
    return {
        "user": np.concatenate(users).astype(np.int64),
        "which": np.concatenate(whiches).astype(np.int64),
        "start": np.concatenate(starts).astype("datetime64[D]"),
        "end": np.concatenate(ends).astype("datetime64[D]"),
        "notes": np.concatenate(notes).astype(col.TEXT),
    }


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
    target = np.round(people.target_kcal() / 10) * 10
    percent = np.round((target / maintenance - 1) * 100).astype(np.int64)
    sign = np.where(percent > 0, "+", "")
    floored = (people.goal == WEIGHT_LOSS) & (target <= ENERGY_FLOOR_KCAL[people.sex])
    notes = col.concat(
        "target ",
        col.numbers(target),
        " kcal/day (",
        GOAL_NAMES[people.goal].astype(col.TEXT),
        ": ",
        sign,
        col.numbers(percent),
        "%",
        np.where(floored, ", held at the AHA/ACC/TOS minimum", ""),
        ")",
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
