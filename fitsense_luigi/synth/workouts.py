"""Stage ``workouts``: the exercise catalogue, plans, executed training and daily logs, block by block.

Each block of users gets its own named random streams (plans, daily, training)
keyed by the block's first user, so the tables of one block never depend on
another's. Row ids pack (user, day, position, set) into one integer before
hashing (see :func:`key`), so ids cost one hash per row and stay stable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from fitsense_luigi import ids
from fitsense_luigi.config import Config
from fitsense_luigi.contracts.progress import Progress
from fitsense_luigi.rng import stage_rng
from fitsense_luigi.synth import blockwise, daily, plans, training
from fitsense_luigi.synth import columns as col
from fitsense_luigi.synth import exercises as ex
from fitsense_luigi.synth.population import People
from fitsense_luigi.synth.schema import conform

# Bit widths of the packed row keys: user index < 2^27, day < 2^10 (look-back <= 730),
# plan position < 2^6, workout position < 2^3, set number < 2^4.
DAY_BITS, PLAN_POSITION_BITS, POSITION_BITS, SET_BITS = 10, 6, 3, 4


def key(high: np.ndarray, low: np.ndarray, bits: int) -> np.ndarray:
    """Pack two non-negative integer columns into one (``low`` must fit in ``bits``)."""
    return (np.asarray(high, dtype=np.int64) << bits) | np.asarray(low, dtype=np.int64)


def reference_tables() -> Iterator[tuple[str, pa.Table]]:
    yield from ex.reference_tables()


def generate(config: Config, as_of: dt.date, progress: Progress | None = None) -> Iterator[tuple[str, pa.Table]]:
    for name, table in reference_tables():
        yield name, conform(name, table)
    yield from blockwise.generate(config, as_of, block_tables, "workouts", progress)


def block_tables(seed: int, people: People, as_of: dt.date, lookback: int) -> Iterator[tuple[str, pa.Table]]:
    first = int(people.index[0])
    window = daily.Window.ending(col.day(as_of), lookback)
    plan = plans.design(stage_rng(seed, "workouts.plans", first), people, window.dates[0])
    plan_id = ids.uuid_bytes(seed, "workout_plans", people.index)
    pe_key = key(people.index[plan.user], plan.position, PLAN_POSITION_BITS)
    pe_id = ids.uuid_bytes(seed, "plan_exercises", pe_key)
    yield from plan_tables(seed, people, plan, plan_id, pe_key, pe_id)

    life = stage_rng(seed, "workouts.daily", first)
    body = daily.simulate(life, people, window)
    gym = stage_rng(seed, "workouts.training", first)
    sessions = training.attend(gym, people, plan, window, body.sleep_h)
    done = training.perform(gym, people, plan, sessions)
    yield from training_tables(seed, gym, people, plan, window, sessions, done, plan_id, pe_id)

    yield "calorie_intake_logs", daily.calorie_logs(seed, life, people, window, body)
    yield "sleep_duration_logs", daily.sleep_logs(seed, life, people, window, body)
    yield "weight_logs", daily.weight_logs(seed, life, people, window, body)


def plan_tables(
    seed: int, people: People, plan: plans.Plan, plan_id: np.ndarray, pe_key: np.ndarray, pe_id: np.ndarray
) -> Iterator[tuple[str, pa.Table]]:
    n = len(people)
    yield (
        "workout_plans",
        pa.table(
            {
                "plan_id": col.uuid(plan_id),
                "user_id": col.uuid(people.user_id),
                "name": col.text(plan.name),
                "is_active": pa.array(np.ones(n, dtype=bool)),
                "created_at": col.timestamp(plan.created),
            }
        ),
    )
    yield (
        "plan_exercises",
        pa.table(
            {
                "plan_exercise_id": col.uuid(pe_id),
                "plan_id": col.uuid(plan_id[plan.user]),
                "exercise_id": col.uuid(ex.IDS[plan.exercise]),
                "position": col.int32(plan.position + 1),
                "notes": col.text(plan.notes),
            }
        ),
    )
    row = np.repeat(np.arange(plan.user.size), plan.sets)
    number = np.arange(row.size) - np.repeat(np.cumsum(plan.sets) - plan.sets, plan.sets) + 1
    rir = plan.rir[row]
    yield (
        "plan_sets",
        pa.table(
            {
                "plan_set_id": col.uuid(ids.uuid_bytes(seed, "plan_sets", key(pe_key[row], number, SET_BITS))),
                "plan_exercise_id": col.uuid(pe_id[row]),
                "set_number": col.int32(number),
                "target_reps": col.int32(plan.reps[row]),
                "target_weight": col.decimal(plan.load[row], 6, 2, present=~np.isnan(plan.load[row])),
                "target_rir": col.int32(np.nan_to_num(rir), present=~np.isnan(rir)),
                "rest_seconds": col.int32(plan.rest[row]),
            }
        ),
    )


def _start_times(
    rng: np.random.Generator, people: People, window: daily.Window, sessions: training.Sessions, duration: np.ndarray
) -> np.ndarray:
    """Morning, lunch or evening people on weekdays, late mornings at weekends; always done by midnight."""
    habit = rng.choice(3, len(people), p=[0.35, 0.15, 0.5])
    low = np.array([6.0, 11.5, 17.0])[habit][sessions.user]
    high = np.array([8.0, 13.0, 19.5])[habit][sessions.user]
    weekend = window.weekend[sessions.t]
    hour = np.where(weekend, rng.uniform(8.5, 11.0, sessions.t.size), rng.uniform(low, high))
    hour = hour + rng.normal(0, 0.3, sessions.t.size)
    seconds = np.clip(np.round(hour * 3600).astype(np.int64), 5 * 3600, 86_399 - duration - 60)
    return window.dates[sessions.t].astype("datetime64[s]") + seconds.astype("timedelta64[s]")


def training_tables(
    seed: int,
    rng: np.random.Generator,
    people: People,
    plan: plans.Plan,
    window: daily.Window,
    sessions: training.Sessions,
    done: training.Performed,
    plan_id: np.ndarray,
    pe_id: np.ndarray,
) -> Iterator[tuple[str, pa.Table]]:
    user = sessions.user
    started = _start_times(rng, people, window, sessions, done.duration_s)
    workout_key = key(people.index[user], sessions.t, DAY_BITS)
    workout_id = ids.uuid_bytes(seed, "workouts", workout_key)
    notes = np.where(sessions.makeup, "Made up for a missed session", "")
    notes = np.where(done.short, "Short on time", notes)
    notes = np.where((notes == "") & sessions.tired, "Tired after a short night", notes)
    notes = np.where((notes == "") & (sessions.form > 1.06), "Felt strong today", notes)
    yield (
        "workouts",
        pa.table(
            {
                "workout_id": col.uuid(workout_id),
                "user_id": col.uuid(people.user_id[user]),
                "plan_id": col.uuid(plan_id[user]),
                "started_at": col.timestamp(started),
                "ended_at": col.timestamp(started + done.duration_s.astype("timedelta64[s]")),
                "notes": col.optional_text(notes),
            }
        ),
    )
    we_key = key(workout_key[done.session], done.position, POSITION_BITS)
    we_id = ids.uuid_bytes(seed, "workout_exercises", we_key)
    yield (
        "workout_exercises",
        pa.table(
            {
                "workout_exercise_id": col.uuid(we_id),
                "workout_id": col.uuid(workout_id[done.session]),
                "exercise_id": col.uuid(ex.IDS[plan.exercise[done.plan_row]]),
                "plan_exercise_id": col.uuid(pe_id[done.plan_row]),
                "position": col.int32(done.position),
                "notes": col.nulls(done.position.size, pa.string()),
            }
        ),
    )
    row = done.set_row
    completed = started[done.session[row]] + done.completed_s.astype("timedelta64[s]")
    yield (
        "workout_sets",
        pa.table(
            {
                "workout_set_id": col.uuid(
                    ids.uuid_bytes(seed, "workout_sets", key(we_key[row], done.set_number, SET_BITS))
                ),
                "workout_exercise_id": col.uuid(we_id[row]),
                "set_number": col.int32(done.set_number),
                "reps": col.int32(done.reps),
                "weight": col.decimal(done.weight, 6, 2, present=~np.isnan(done.weight)),
                "rir": col.int32(np.nan_to_num(done.rir), present=~np.isnan(done.rir)),
                "is_warmup": pa.array(done.warmup),
                "completed_at": col.timestamp(completed),
            }
        ),
    )
