"""Plans, executed training and daily logs over the look-back window.

Works on whole blocks of users with numpy: a (users x days) calendar decides
which planned sessions happen, and every later table is an index expansion of
that calendar, so no Python loop runs per user, workout or set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa

from fitsense_luigi import catalog, ids
from fitsense_luigi.config import Config
from fitsense_luigi.rng import stage_rng
from fitsense_luigi.synth import columns as col
from fitsense_luigi.synth.population import CONDITION_NAMES, GOAL_NAMES, People, blocks, draw_people
from fitsense_luigi.synth.schema import conform

Progress = Callable[[int, int, str], None]

EXERCISES_PER_DAY = 4
WORKING_SETS = 3
MAX_DAYS = 5
SLOTS = EXERCISES_PER_DAY * MAX_DAYS

_EX = catalog.EXERCISES
_EX_IDS = np.frombuffer(b"".join(e.exercise_id.bytes for e in _EX), dtype=np.uint8).reshape(-1, 16)
_EQ_NAMES = list(catalog.EQUIPMENT)
_EQ_IDS = np.frombuffer(b"".join(catalog.catalog_id("equipment", q).bytes for q in _EQ_NAMES), dtype=np.uint8).reshape(
    -1, 16
)
_RATIO = np.array([e.strength_ratio for e in _EX])
_LOADED = np.array([e.load not in ("bodyweight", "band", "cardio") for e in _EX])
_ROUNDING = np.array([1.0 if e.load in ("dumbbell", "kettlebell") else 2.5 for e in _EX])
_HOME_OK = np.array([set(e.equipment) <= catalog.HOME_EQUIPMENT for e in _EX])

# per goal: target reps, rest seconds (ACSM 2009)
_GOAL_REPS = {"weight_loss": 12, "muscle_gain": 10, "strength": 5, "endurance": 15, "general_fitness": 10}
_GOAL_REST = {"weight_loss": 60, "muscle_gain": 90, "strength": 180, "endurance": 45, "general_fitness": 75}
_REPS = np.array([_GOAL_REPS[g] for g in GOAL_NAMES])
_REST = np.array([_GOAL_REST[g] for g in GOAL_NAMES])
_WEEKDAYS = {2: (0, 3), 3: (0, 2, 4), 4: (0, 1, 3, 4), 5: (0, 1, 2, 3, 4)}


def reference_tables() -> Iterator[tuple[str, pa.Table]]:
    yield (
        "equipment",
        pa.table(
            {
                "equipment_id": col.uuid(_EQ_IDS),
                "name": _EQ_NAMES,
                "category": list(catalog.EQUIPMENT.values()),
            }
        ),
    )
    yield (
        "exercises",
        pa.table(
            {
                "exercise_id": col.uuid(_EX_IDS),
                "name": [e.name for e in _EX],
                "primary_muscle": [e.primary_muscle for e in _EX],
                "notes": [
                    f"pattern={e.pattern}; impact={e.impact}; tags={','.join(sorted(e.tags)) or 'none'}" for e in _EX
                ],
            }
        ),
    )
    pairs = [(i, _EQ_NAMES.index(q)) for i, e in enumerate(_EX) for q in e.equipment]
    ex, eq = np.array(pairs).T
    yield (
        "exercise_equipment",
        pa.table({"exercise_id": col.uuid(_EX_IDS[ex]), "equipment_id": col.uuid(_EQ_IDS[eq])}),
    )


def generate(config: Config, as_of: dt.date, progress: Progress | None = None) -> Iterator[tuple[str, pa.Table]]:
    for name, table in reference_tables():
        yield name, conform(name, table)
    seed = config.reproducibility.seed
    for start, stop in blocks(config.world.users):
        people = draw_people(seed, start, stop, as_of)
        for name, table in block_tables(seed, people, as_of, config.world.lookback_days):
            yield name, conform(name, table)
        if progress:
            progress(stop, config.world.users, f"workouts: {stop}/{config.world.users} users")


def allowed_exercises(people: People) -> np.ndarray:
    """(n, exercises) bool: equipment at hand and no tag the user's conditions forbid."""
    allowed = np.where(people.setting[:, None] == 1, True, _HOME_OK[None, :])
    for j, condition in enumerate(CONDITION_NAMES):
        avoid = catalog.CONDITION_AVOIDS[condition]
        banned = np.array([bool(e.tags & avoid) for e in _EX])
        allowed &= ~(people.conditions[:, j : j + 1] & banned[None, :])
    return allowed


def block_tables(seed: int, people: People, as_of: dt.date, lookback: int) -> Iterator[tuple[str, pa.Table]]:
    n = len(people)
    rng = stage_rng(seed, "workouts", int(people.index[0]))
    today = col.day(as_of)
    uidx = people.index

    # ---- plan: days per week from experience, exercises from what is allowed
    days = np.clip(2 + people.experience + rng.integers(0, 2, n), 2, MAX_DAYS)
    scores = np.where(allowed_exercises(people), rng.random((n, len(_EX))), -1.0)
    order = np.argsort(-scores, axis=1)[:, :SLOTS]
    slot_ok = (np.take_along_axis(scores, order, axis=1) >= 0) & (
        np.arange(SLOTS)[None, :] < days[:, None] * EXERCISES_PER_DAY
    )
    plan_created = today - (lookback + rng.integers(0, 30, n)).astype("timedelta64[D]")
    plan_id = ids.uuid_bytes(seed, "workout_plans", uidx)
    yield (
        "workout_plans",
        pa.table(
            {
                "plan_id": col.uuid(plan_id),
                "user_id": col.uuid(people.user_id),
                "name": col.text(
                    np.char.add(
                        np.char.add(GOAL_NAMES[people.goal], " plan, "),
                        np.char.add(days.astype(str), " days/week"),
                    )
                ),
                "is_active": pa.array(np.ones(n, bool)),
                "created_at": col.timestamp(plan_created.astype("datetime64[s]")),
            }
        ),
    )
    pu, ps = np.nonzero(slot_ok)
    pex = order[pu, ps]
    pe_id = ids.uuid_bytes(seed, "plan_exercises", uidx[pu], ps)
    yield (
        "plan_exercises",
        pa.table(
            {
                "plan_exercise_id": col.uuid(pe_id),
                "plan_id": col.uuid(plan_id[pu]),
                "exercise_id": col.uuid(_EX_IDS[pex]),
                "position": pa.array((ps % EXERCISES_PER_DAY + 1).astype(np.int32)),
                "notes": col.text(np.char.add("day ", (ps // EXERCISES_PER_DAY + 1).astype(str))),
            }
        ),
    )
    reps = _REPS[people.goal]
    sex_factor = np.where(people.sex == 1, 1.0, 0.62)
    exp_factor = np.array([0.7, 1.0, 1.25])[people.experience]
    one_rm = _RATIO[None, :] * (people.weight_kg * sex_factor * exp_factor)[:, None]  # (n, exercises)
    target_rir = 2
    work_w = one_rm / (1 + (reps[:, None] + target_rir) / 30)  # Epley inverted
    work_w = np.maximum(np.round(work_w / _ROUNDING) * _ROUNDING, _ROUNDING)
    work_w = np.where(_LOADED[None, :], work_w, np.nan)
    set_rows = np.repeat(np.arange(pu.size), WORKING_SETS)
    set_no = np.tile(np.arange(1, WORKING_SETS + 1), pu.size)
    yield (
        "plan_sets",
        pa.table(
            {
                "plan_set_id": col.uuid(ids.uuid_bytes(seed, "plan_sets", uidx[pu[set_rows]], ps[set_rows], set_no)),
                "plan_exercise_id": col.uuid(pe_id[set_rows]),
                "set_number": pa.array(set_no.astype(np.int32)),
                "target_reps": pa.array(reps[pu[set_rows]].astype(np.int32)),
                "target_weight": _nullable_decimal(work_w[pu, pex][set_rows], 6, 2),
                "target_rir": pa.array(np.full(set_rows.size, target_rir, np.int32)),
                "rest_seconds": pa.array(_REST[people.goal][pu[set_rows]].astype(np.int32)),
            }
        ),
    )

    # ---- calendar: scheduled weekdays, adherence fading over the window
    dates = today - np.arange(lookback - 1, -1, -1).astype("timedelta64[D]")
    weekday = (dates.astype("datetime64[D]").view("int64") - 4) % 7  # 1970-01-01 was a Thursday
    offset = rng.integers(0, 7, n)
    scheduled = np.zeros((n, lookback), bool)
    for d, pattern in _WEEKDAYS.items():
        who = days == d
        if who.any():
            shifted = (weekday[None, :] - offset[who, None]) % 7
            scheduled[who] = np.isin(shifted, pattern)
    fade = 1 - 0.12 * np.linspace(0, 1, lookback)[None, :]
    done = scheduled & (rng.random((n, lookback)) < people.adherence[:, None] * fade)
    wu, wt = np.nonzero(done)
    session = (np.cumsum(done, axis=1) - 1)[wu, wt]
    plan_day = session % days[wu]
    rest = _REST[people.goal][wu]
    per_set_s = rest + 40
    n_sets = EXERCISES_PER_DAY * (WORKING_SETS + 1)
    start = dates[wt].astype("datetime64[s]") + rng.integers(6 * 3600, 20 * 3600, wu.size).astype("timedelta64[s]")
    end = start + (n_sets * per_set_s + 300).astype("timedelta64[s]")
    workout_id = ids.uuid_bytes(seed, "workouts", uidx[wu], wt)
    yield (
        "workouts",
        pa.table(
            {
                "workout_id": col.uuid(workout_id),
                "user_id": col.uuid(people.user_id[wu]),
                "plan_id": col.uuid(plan_id[wu]),
                "started_at": col.timestamp(start),
                "ended_at": col.timestamp(end),
                "notes": col.nulls(wu.size, pa.string()),
            }
        ),
    )

    # ---- exercises done in each workout: that plan day's slots
    w_rep = np.repeat(np.arange(wu.size), EXERCISES_PER_DAY)
    j = np.tile(np.arange(EXERCISES_PER_DAY), wu.size)
    slot = plan_day[w_rep] * EXERCISES_PER_DAY + j
    keep = slot_ok[wu[w_rep], slot]
    w_rep, j, slot = w_rep[keep], j[keep], slot[keep]
    u_of = wu[w_rep]
    ex_of = order[u_of, slot]
    we_id = ids.uuid_bytes(seed, "workout_exercises", uidx[u_of], wt[w_rep], j)
    yield (
        "workout_exercises",
        pa.table(
            {
                "workout_exercise_id": col.uuid(we_id),
                "workout_id": col.uuid(workout_id[w_rep]),
                "exercise_id": col.uuid(_EX_IDS[ex_of]),
                "plan_exercise_id": col.uuid(ids.uuid_bytes(seed, "plan_exercises", uidx[u_of], slot)),
                "position": pa.array((j + 1).astype(np.int32)),
                "notes": col.nulls(j.size, pa.string()),
            }
        ),
    )

    # ---- sets: one warm-up then the working sets, load rising with sessions beaten
    k = WORKING_SETS + 1
    e_rep = np.repeat(np.arange(j.size), k)
    set_no = np.tile(np.arange(1, k + 1), j.size)
    warm = set_no == 1
    u_s = u_of[e_rep]
    base_w = work_w[u_s, ex_of[e_rep]]
    progress_steps = np.floor(session[w_rep][e_rep] / 4)
    load = base_w * (1 + 0.025 * progress_steps)
    load = np.where(warm, load * 0.5, load)
    load = np.round(load / _ROUNDING[ex_of[e_rep]]) * _ROUNDING[ex_of[e_rep]]
    target = reps[u_s]
    done_reps = np.where(warm, target, np.clip(target + rng.integers(-2, 3, e_rep.size), 1, None))
    rir = np.clip(2 + (target - done_reps) * -1 + rng.integers(-1, 2, e_rep.size), 0, 5)
    completed = start[w_rep][e_rep] + (set_no * per_set_s[w_rep][e_rep]).astype("timedelta64[s]")
    yield (
        "workout_sets",
        pa.table(
            {
                "workout_set_id": col.uuid(
                    ids.uuid_bytes(seed, "workout_sets", uidx[u_s], wt[w_rep][e_rep], j[e_rep], set_no)
                ),
                "workout_exercise_id": col.uuid(we_id[e_rep]),
                "set_number": pa.array(set_no.astype(np.int32)),
                "reps": pa.array(done_reps.astype(np.int32)),
                "weight": _nullable_decimal(load, 6, 2),
                "rir": pa.array(np.where(warm, 5, rir).astype(np.int32)),
                "is_warmup": pa.array(warm),
                "completed_at": col.timestamp(completed),
            }
        ),
    )

    yield from daily_logs(seed, people, rng, dates, weekday, lookback)


def daily_logs(
    seed: int, people: People, rng: np.random.Generator, dates: np.ndarray, weekday: np.ndarray, lookback: int
) -> Iterator[tuple[str, pa.Table]]:
    n = len(people)
    uidx = people.index
    weekend = (weekday >= 5)[None, :]
    maintenance = people.maintenance_kcal()
    goal = GOAL_NAMES[people.goal]
    intent = np.where(goal == "weight_loss", 0.82, np.where(goal == "muscle_gain", 1.08, 1.0))
    true_kcal = maintenance[:, None] * intent[:, None] * np.exp(rng.normal(0, 0.25, (n, lookback)) - 0.031)
    true_kcal *= np.where(weekend, 1.1, 0.97)
    reported = true_kcal * 0.8
    logged = rng.random((n, lookback)) < 0.8
    cu, ct = np.nonzero(logged)
    created = dates[ct].astype("datetime64[s]") + np.timedelta64(21 * 3600, "s")
    yield (
        "calorie_intake_logs",
        pa.table(
            {
                "calorie_log_id": col.uuid(ids.uuid_bytes(seed, "calorie_intake_logs", uidx[cu], ct)),
                "user_id": col.uuid(people.user_id[cu]),
                "log_date": col.date(dates[ct]),
                "calories_consumed": pa.array(np.round(reported[cu, ct]).astype(np.int32)),
                "notes": col.nulls(cu.size, pa.string()),
                "created_at": col.timestamp(created),
            }
        ),
    )
    sleep = people.sleep_mean_h[:, None] + np.where(weekend, 0.5, 0.0) + rng.normal(0, 0.8, (n, lookback))
    sleep = np.clip(sleep, 3, 12)
    slogged = rng.random((n, lookback)) < 0.85
    su, st = np.nonzero(slogged)
    yield (
        "sleep_duration_logs",
        pa.table(
            {
                "sleep_log_id": col.uuid(ids.uuid_bytes(seed, "sleep_duration_logs", uidx[su], st)),
                "user_id": col.uuid(people.user_id[su]),
                "log_date": col.date(dates[st]),
                "sleep_duration_hours": col.decimal(sleep[su, st], 4, 2),
                "notes": col.nulls(su.size, pa.string()),
                "created_at": col.timestamp(dates[st].astype("datetime64[s]") + np.timedelta64(8 * 3600, "s")),
            }
        ),
    )
    balance = true_kcal - maintenance[:, None]
    weekly_cap = people.weight_kg[:, None] * 0.01 / 7
    change = np.clip(balance / 7700, -weekly_cap, weekly_cap * 0.25)
    weight = people.weight_kg[:, None] + np.cumsum(change, axis=1)
    wlogged = rng.random((n, lookback)) < 0.35
    wu, wt = np.nonzero(wlogged)
    yield (
        "weight_logs",
        pa.table(
            {
                "weight_log_id": col.uuid(ids.uuid_bytes(seed, "weight_logs", uidx[wu], wt)),
                "user_id": col.uuid(people.user_id[wu]),
                "logged_at": col.timestamp(dates[wt].astype("datetime64[s]") + np.timedelta64(7 * 3600, "s")),
                "weight_kg": col.decimal(weight[wu, wt] + rng.normal(0, 0.3, wu.size), 5, 2),
                "body_fat_percentage": col.nulls(wu.size, pa.decimal128(4, 1)),
                "notes": col.nulls(wu.size, pa.string()),
            }
        ),
    )


def _nullable_decimal(values: np.ndarray, precision: int, scale: int) -> pa.Array:
    mask = np.isnan(values)
    arr = pa.array(np.round(np.where(mask, 0, values), scale), mask=mask)
    return arr.cast(pa.decimal128(precision, scale))
