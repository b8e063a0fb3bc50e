"""Users and everything the app knows about them before they train.

Yields ``(table name, Arrow table)`` pieces chunk by chunk; the task streams
them into Parquet, so memory stays bounded by the chunk size.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
from faker.providers.person.en_US import Provider as PersonNames

from fitsense_luigi import catalog, ids
from fitsense_luigi.config import Config
from fitsense_luigi.rng import stage_rng
from fitsense_luigi.synth import columns as col
from fitsense_luigi.synth.population import (
    ACTIVITY_LEVELS,
    CONDITION_NAMES,
    GOAL_NAMES,
    SEXES,
    People,
    blocks,
    draw_people,
)
from fitsense_luigi.synth.schema import conform

Progress = Callable[[int, int, str], None]

_FIRST = {
    0: np.array(list(PersonNames.first_names_female)),
    1: np.array(list(PersonNames.first_names_male)),
}
_LAST = np.array(list(PersonNames.last_names))
_RESERVED_DOMAINS = np.array(["example.com", "example.org", "example.net"])
_GOAL_CALORIE_ADJUST = {
    "weight_loss": 0.8,
    "muscle_gain": 1.1,
    "strength": 1.05,
    "endurance": 1.0,
    "general_fitness": 1.0,
}
_SEVERITIES = np.array(["mild", "moderate", "severe"])


def reference_tables() -> Iterator[tuple[str, pa.Table]]:
    yield (
        "goals",
        pa.table(
            {
                "goal_id": col.uuid(_catalog_ids("goal", list(catalog.GOALS))),
                "name": list(catalog.GOALS),
                "description": list(catalog.GOALS.values()),
            }
        ),
    )
    yield (
        "conditions",
        pa.table(
            {
                "condition_id": col.uuid(_catalog_ids("condition", list(catalog.CONDITIONS))),
                "name": list(catalog.CONDITIONS),
                "description": list(catalog.CONDITIONS.values()),
            }
        ),
    )


def _catalog_ids(kind: str, names: list[str]) -> np.ndarray:
    return np.frombuffer(b"".join(catalog.catalog_id(kind, n).bytes for n in names), dtype=np.uint8).reshape(-1, 16)


def generate(config: Config, as_of: dt.date, progress: Progress | None = None) -> Iterator[tuple[str, pa.Table]]:
    for name, table in reference_tables():
        yield name, conform(name, table)
    for start, stop in blocks(config.world.users):
        people = draw_people(config.reproducibility.seed, start, stop, as_of)
        for name, table in people_tables(config.reproducibility.seed, people, as_of):
            yield name, conform(name, table)
        if progress:
            progress(stop, config.world.users, f"profiles: {stop}/{config.world.users} users")


def people_tables(seed: int, people: People, as_of: dt.date) -> Iterator[tuple[str, pa.Table]]:
    n = len(people)
    rng = stage_rng(seed, "profiles", int(people.index[0]) if n else 0)
    today = col.day(as_of)
    uid = people.user_id

    first = np.where(people.sex == 1, _pick(rng, _FIRST[1], n), _pick(rng, _FIRST[0], n))
    last = _pick(rng, _LAST, n)
    domain = _RESERVED_DOMAINS[people.index % len(_RESERVED_DOMAINS)]
    email = np.char.add(np.char.add(np.char.lower(first.astype(str)), "."), np.char.lower(last.astype(str)))
    email = np.char.add(np.char.add(email, "."), people.index.astype(str))
    email = np.char.add(np.char.add(email, "@"), domain)
    created = (today - people.created_days_ago.astype("timedelta64[D]")).astype("datetime64[s]") + rng.integers(
        6 * 3600, 22 * 3600, n
    ).astype("timedelta64[s]")
    yield (
        "users",
        pa.table(
            {
                "user_id": col.uuid(uid),
                "name": col.text(np.char.add(np.char.add(first.astype(str), " "), last.astype(str))),
                "email": col.text(email),
                "created_at": col.timestamp(created),
            }
        ),
    )
    yield (
        "user_profiles",
        pa.table(
            {
                "user_id": col.uuid(uid),
                "date_of_birth": col.date(people.birth_date),
                "sex": col.text(SEXES[people.sex]),
                "height_cm": col.decimal(people.height_cm, 5, 1),
                "activity_level": col.text(ACTIVITY_LEVELS[people.activity]),
                "updated_at": col.timestamp(created),
            }
        ),
    )

    # goals: the primary goal, and for about half the users a second one
    second = (people.goal + 1 + rng.integers(0, len(GOAL_NAMES) - 1, n)) % len(GOAL_NAMES)
    has_second = rng.random(n) < 0.5
    goal_ids = _catalog_ids("goal", list(GOAL_NAMES))
    g_user = np.concatenate([uid, uid[has_second]])
    g_goal = np.concatenate([people.goal, second[has_second]])
    g_prio = np.concatenate([np.ones(n, np.int32), np.full(has_second.sum(), 2, np.int32)])
    yield (
        "user_goals",
        pa.table(
            {
                "user_id": col.uuid(g_user),
                "goal_id": col.uuid(goal_ids[g_goal]),
                "priority": pa.array(g_prio, pa.int32()),
            }
        ),
    )

    # conditions
    cond_ids = _catalog_ids("condition", list(CONDITION_NAMES))
    rows, which = np.nonzero(people.conditions)
    severity = _SEVERITIES[rng.choice(3, rows.size, p=[0.55, 0.35, 0.10])]
    yield (
        "user_conditions",
        pa.table(
            {
                "user_id": col.uuid(uid[rows]),
                "condition_id": col.uuid(cond_ids[which]),
                "severity": col.text(severity),
                "notes": col.nulls(rows.size, pa.string()),
            }
        ),
    )

    # medical profile: injuries mirror joint conditions
    knee = people.conditions[:, CONDITION_NAMES.index("knee_osteoarthritis")]
    back = people.conditions[:, CONDITION_NAMES.index("lower_back_pain")]
    injured = knee | back | (rng.random(n) < 0.08)
    details = np.where(knee, "Recurring knee pain", np.where(back, "Lower back pain", "Old ankle sprain"))
    yield (
        "user_medical_profiles",
        pa.table(
            {
                "medical_profile_id": col.uuid(ids.uuid_bytes(seed, "user_medical_profiles", people.index)),
                "user_id": col.uuid(uid),
                "has_injuries": pa.array(injured),
                "injury_details": pa.array(np.where(injured, details, None).tolist(), pa.string()),
                "surgeries_history": pa.array(
                    np.where(rng.random(n) < 0.12, "Appendectomy", None).tolist(), pa.string()
                ),
                "family_history": pa.array(
                    np.where(rng.random(n) < 0.3, "Parent with heart disease", None).tolist(), pa.string()
                ),
                "notes": col.nulls(n, pa.string()),
                "updated_at": col.timestamp(created),
            }
        ),
    )

    yield "user_medications", medications(seed, people, rng, today)

    allergy = rng.random(n)
    food = allergy < 0.108
    drug = rng.random(n) < 0.10
    a_user = np.concatenate([np.nonzero(food)[0], np.nonzero(drug)[0]])
    names, weights = zip(*catalog.FOOD_ALLERGENS, strict=True)
    food_names = np.array(names)[rng.choice(len(names), food.sum(), p=np.array(weights) / sum(weights))]
    allergens = np.concatenate([food_names, np.full(drug.sum(), "penicillin")])
    reaction = np.where(np.arange(a_user.size) < food.sum(), "hives", "rash")
    yield (
        "user_allergies",
        pa.table(
            {
                "allergy_id": col.uuid(
                    ids.uuid_bytes(seed, "user_allergies", people.index[a_user], np.arange(a_user.size) >= food.sum())
                ),
                "user_id": col.uuid(uid[a_user]),
                "allergen": col.text(allergens),
                "reaction": col.text(reaction),
                "severity": col.text(_SEVERITIES[rng.choice(3, a_user.size, p=[0.6, 0.3, 0.1])]),
                "notes": col.nulls(a_user.size, pa.string()),
            }
        ),
    )

    goal_adjust = np.array([_GOAL_CALORIE_ADJUST[g] for g in GOAL_NAMES])[people.goal]
    kcal = np.round(people.maintenance_kcal() * goal_adjust / 10) * 10
    since = today - rng.integers(14, 120, n).astype("timedelta64[D]")
    yield (
        "calorie_targets",
        pa.table(
            {
                "calorie_target_id": col.uuid(ids.uuid_bytes(seed, "calorie_targets", people.index)),
                "user_id": col.uuid(uid),
                "maintenance_calories": pa.array(kcal.astype(np.int32)),
                "method": col.text(np.full(n, "mifflin_st_jeor")),
                "effective_from": col.date(since),
                "effective_to": col.nulls(n, pa.date32()),
                "notes": col.text(np.char.add("goal: ", GOAL_NAMES[people.goal])),
                "created_at": col.timestamp(since.astype("datetime64[s]")),
            }
        ),
    )
    target_sleep = np.clip(np.round((people.sleep_mean_h + 0.5) * 4) / 4, 7, 9)
    yield (
        "sleep_targets",
        pa.table(
            {
                "sleep_target_id": col.uuid(ids.uuid_bytes(seed, "sleep_targets", people.index)),
                "user_id": col.uuid(uid),
                "target_sleep_hours": col.decimal(target_sleep, 4, 2),
                "effective_from": col.date(since),
                "effective_to": col.nulls(n, pa.date32()),
                "notes": col.nulls(n, pa.string()),
                "created_at": col.timestamp(since.astype("datetime64[s]")),
            }
        ),
    )


def medications(seed: int, people: People, rng: np.random.Generator, today: np.datetime64) -> pa.Table:
    by_condition: dict[str, list[catalog.Medication]] = {}
    for med in catalog.MEDICATIONS:
        by_condition.setdefault(med.treats, []).append(med)
    users, names, doses, freqs, slot = [], [], [], [], []
    for j, condition in enumerate(CONDITION_NAMES):
        has = np.nonzero(people.conditions[:, j] & (rng.random(len(people)) < 0.55))[0]
        options = by_condition[condition]
        pick = rng.integers(0, len(options), has.size)
        for k, med in enumerate(options):
            chosen = has[pick == k]
            dose = np.array(med.dosages)[rng.integers(0, len(med.dosages), chosen.size)]
            users.append(chosen)
            names.append(np.full(chosen.size, med.name, dtype=object))
            doses.append(dose.astype(object))
            freqs.append(np.full(chosen.size, med.frequency, dtype=object))
            slot.append(np.full(chosen.size, j))
    user = np.concatenate(users)
    started = today - rng.integers(60, 3000, user.size).astype("timedelta64[D]")
    return pa.table(
        {
            "medication_id": col.uuid(
                ids.uuid_bytes(seed, "user_medications", people.index[user], np.concatenate(slot))
            ),
            "user_id": col.uuid(people.user_id[user]),
            "medication_name": pa.array(np.concatenate(names), pa.string()),
            "dosage": pa.array(np.concatenate(doses), pa.string()),
            "frequency": pa.array(np.concatenate(freqs), pa.string()),
            "start_date": col.date(started),
            "end_date": col.nulls(user.size, pa.date32()),
            "notes": col.nulls(user.size, pa.string()),
        }
    )


def _pick(rng: np.random.Generator, options: np.ndarray, n: int) -> np.ndarray:
    return options[rng.integers(0, len(options), n)]
