"""Stage ``workouts``: the exercise catalogue, plans, executed training and daily logs, block by block.

Each block of users gets its own named random streams (plans, daily, training)
keyed by the block's first user, so the tables of one block never depend on
another's. Row ids pack (user, day, position, set) into one integer before
hashing (see :func:`key`), so ids cost one hash per row and stay stable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fitsense_luigi import ids
from fitsense_luigi.config import Config
from fitsense_luigi.contracts.progress import Progress
from fitsense_luigi.rng import stage_rng
from fitsense_luigi.synth import blockwise, calendar, daily, plans, population, strength, training
from fitsense_luigi.synth import columns as col
from fitsense_luigi.synth import exercises as ex
from fitsense_luigi.synth.population import People
from fitsense_luigi.synth.schema import conform

# Bit widths of the packed row keys: user index < 2^27, day < 2^10 (look-back <= 730),
# plan position < 2^6, workout position < 2^3, set number < 2^4.
DAY_BITS, PLAN_POSITION_BITS, POSITION_BITS, SET_BITS = 10, 6, 3, 4
EXTRA_NOTE = "Extra: not on today's plan"
SWAP_NOTES = np.array([f"{name} (equipment taken)" for name in ex.NAMES], dtype=col.TEXT)


def key(high: np.ndarray, low: np.ndarray, bits: int) -> np.ndarray:
    """Pack two non-negative integer columns into one (``low`` must fit in ``bits``)."""
    return (np.asarray(high, dtype=np.int64) << bits) | np.asarray(low, dtype=np.int64)


def reference_tables() -> Iterator[tuple[str, pa.Table]]:
    yield from ex.reference_tables()


def generate(
    config: Config, as_of: dt.date, progress: Progress | None = None, users: range | None = None
) -> Iterator[tuple[str, pa.Table]]:
    """The reference tables, then the users' tables block by block; with ``users`` (a world part) only theirs."""
    if users is None:
        yield from reference()
    yield from blockwise.generate(config, as_of, block_tables, "workouts", progress, users)


def reference() -> Iterator[tuple[str, pa.Table]]:
    """The stage's catalogue tables, the same for every run."""
    for name, table in reference_tables():
        yield name, conform(name, table)


def block_tables(seed: int, people: People, as_of: dt.date, lookback: int) -> Iterator[tuple[str, pa.Table]]:
    first = int(people.index[0])
    window = daily.Window.ending(col.day(as_of), lookback)
    drafting = stage_rng(seed, "workouts.plans", first)
    abilities = strength.abilities(drafting, people)
    plan = plans.design(drafting, people, window.dates[0], abilities=abilities)
    fresh = restarts(drafting, people, lookback)
    newer = plans.design(drafting, fresh.people, window.dates[0], fresh.day, fresh.abilities(abilities))
    trainees = population.concat([people, fresh.people])  # one row per plan: the same person twice for a restart
    plan = plans.combine(plan, newer)
    plan_id = np.concatenate(
        [ids.uuid_bytes(seed, "workout_plans", people.index), ids.uuid_bytes(seed, "restart_plans", fresh.people.index)]
    )
    revision = (np.arange(len(trainees)) >= len(people)).astype(np.int64)[plan.user]
    pe_key = key(trainees.index[plan.user], plan.position + RESTART_POSITION * revision, PLAN_POSITION_BITS)
    pe_id = ids.uuid_bytes(seed, "plan_exercises", pe_key)
    active = ~np.isin(np.arange(len(trainees)), fresh.rows)  # a restart plan replaces the one before it
    yield from plan_tables(seed, trainees, plan, plan_id, pe_key, pe_id, active)

    life = stage_rng(seed, "workouts.daily", first)
    body = daily.simulate(life, people, window)
    owner = np.concatenate([np.arange(len(people)), fresh.rows])
    gym = stage_rng(seed, "workouts.training", first)
    engaged = body.engaged[owner] & fresh.in_force(len(people), lookback)
    sessions = training.attend(gym, trainees, plan, window, body.sleep_h[owner], engaged)
    done = training.perform(gym, trainees, plan, sessions)
    yield from training_tables(seed, gym, trainees, plan, window, sessions, done, plan_id, pe_id)

    yield "calorie_intake_logs", daily.calorie_logs(seed, life, people, window, body)
    yield "sleep_duration_logs", daily.sleep_logs(seed, life, people, window, body)
    yield "weight_logs", daily.weight_logs(seed, life, people, window, body)


RESTART_POSITION = 32  # plan-exercise keys of a restart plan start here (a plan has at most 30 exercises)
DETRAINED = (0.92, 0.90)  # 1RM and body-weight capacity after a lapse of weeks to months (assumption)


@dataclass
class Restarts:
    """Users who come back from a lapse inside the window: they start over with a new plan on that day."""

    rows: np.ndarray  # local person positions
    people: People  # those people, training days possibly cut back for the restart
    day: np.ndarray  # window day of the restart

    def abilities(self, before: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return before[0][self.rows] * DETRAINED[0], before[1][self.rows] * DETRAINED[1]

    def in_force(self, n: int, days: int) -> np.ndarray:
        """(plans, days): the first plan until the restart, the restart plan from then on."""
        t = np.arange(days)[None, :]
        switch = np.full(n, days)
        switch[self.rows] = self.day
        return np.concatenate([t < switch[:, None], t >= self.day[:, None]])


def restarts(rng: np.random.Generator, people: People, days: int) -> Restarts:
    starts = people.spell_start
    # a spell starting on the as-of day itself keeps the old plan: tonight's new plan is not in the snapshot yet
    inside = (starts > 0) & (starts < days - 1)
    rows = np.flatnonzero(inside.any(axis=1))
    day = np.where(inside, starts, -1).max(axis=1)[rows]
    fresh = population.take(people, rows)
    # half ease back in with a day less, never below the ACSM range for their experience (or a cap of 3 days)
    low = np.minimum(np.array([2, 3, 4])[fresh.experience], fresh.days_per_week)
    fresh.days_per_week = np.maximum(fresh.days_per_week - (rng.random(rows.size) < 0.5), low)
    return Restarts(rows, fresh, day)


def plan_tables(
    seed: int,
    people: People,
    plan: plans.Plan,
    plan_id: np.ndarray,
    pe_key: np.ndarray,
    pe_id: np.ndarray,
    active: np.ndarray,
) -> Iterator[tuple[str, pa.Table]]:
    yield (
        "workout_plans",
        pa.table(
            {
                "plan_id": col.uuid(plan_id),
                "user_id": col.uuid(people.user_id),
                "name": col.text(plan.name),
                "is_active": pa.array(active),
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
    """Morning, lunch or evening people on weekdays, late mornings at weekends and on holidays, by the local clock
    (always done by local midnight); returned as UTC instants."""
    habit = rng.choice(3, len(people), p=[0.35, 0.15, 0.5])
    low = np.array([6.0, 11.5, 17.0])[habit][sessions.user]
    high = np.array([8.0, 13.0, 19.5])[habit][sessions.user]
    day_off = window.day_off[sessions.t]
    hour = np.where(day_off, rng.uniform(8.5, 11.0, sessions.t.size), rng.uniform(low, high))
    hour = hour + rng.normal(0, 0.3, sessions.t.size)
    seconds = np.clip(np.round(hour * 3600).astype(np.int64), 5 * 3600, 86_399 - duration - 60)
    return calendar.to_utc(people.zone[sessions.user], window.dates[sessions.t], seconds)


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
    started = _start_times(rng, people, window, sessions, done.duration_s)
    ended = started + done.duration_s.astype("timedelta64[s]")
    # a session still under way (or not begun) at the end of the as-of day in UTC is not in the app yet
    kept = ended < window.snapshot_end
    row_kept = kept[done.session]
    set_kept = row_kept[done.set_row]
    renumber = np.cumsum(kept) - 1
    user, t = sessions.user[kept], sessions.t[kept]
    started, ended = started[kept], ended[kept]
    workout_key = key(people.index[user], t, DAY_BITS)
    workout_id = ids.uuid_bytes(seed, "workouts", workout_key)
    notes = np.where(sessions.makeup, "Made up for a missed session", "")
    notes = np.where(done.short, "Short on time", notes)
    notes = np.where((notes == "") & sessions.tired, "Tired after a short night", notes)
    notes = np.where((notes == "") & (sessions.form > 1.06), "Felt strong today", notes)
    notes = notes[kept]
    yield (
        "workouts",
        pa.table(
            {
                "workout_id": col.uuid(workout_id),
                "user_id": col.uuid(people.user_id[user]),
                "plan_id": col.uuid(plan_id[user]),
                "started_at": col.timestamp(started),
                "ended_at": col.timestamp(ended),
                "notes": col.optional_text(notes),
            }
        ),
    )
    session = renumber[done.session[row_kept]]
    plan_row, exercise, position = done.plan_row[row_kept], done.exercise[row_kept], done.position[row_kept]
    extra = done.extra[row_kept]
    we_key = key(workout_key[session], position, POSITION_BITS)
    we_id = ids.uuid_bytes(seed, "workout_exercises", we_key)
    planned = plan.exercise[plan_row]
    swapped = exercise != planned
    yield (
        "workout_exercises",
        pa.table(
            {
                "workout_exercise_id": col.uuid(we_id),
                "workout_id": col.uuid(workout_id[session]),
                "exercise_id": col.uuid(ex.IDS[exercise]),
                "plan_exercise_id": col.uuid(pe_id[plan_row], present=~extra),
                "position": col.int32(position),
                "notes": col.optional_text(
                    np.where(swapped, col.concat("In place of ", SWAP_NOTES[planned]), np.where(extra, EXTRA_NOTE, ""))
                ),
            }
        ),
    )
    row = np.cumsum(row_kept)[done.set_row[set_kept]] - 1
    weight, rir = done.weight[set_kept], done.rir[set_kept]
    completed = started[session[row]] + done.completed_s[set_kept].astype("timedelta64[s]")
    yield (
        "workout_sets",
        pa.table(
            {
                "workout_set_id": col.uuid(
                    ids.uuid_bytes(seed, "workout_sets", key(we_key[row], done.set_number[set_kept], SET_BITS))
                ),
                "workout_exercise_id": col.uuid(we_id[row]),
                "set_number": col.int32(done.set_number[set_kept]),
                "reps": col.int32(done.reps[set_kept]),
                "weight": col.decimal(weight, 6, 2, present=~np.isnan(weight)),
                "rir": col.int32(np.nan_to_num(rir), present=~np.isnan(rir)),
                "is_warmup": pa.array(done.warmup[set_kept]),
                "completed_at": col.timestamp(completed),
            }
        ),
    )
