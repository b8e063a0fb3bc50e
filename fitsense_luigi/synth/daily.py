"""Daily logs over the look-back window: sleep, calorie intake and body weight.

Simulated as (users x days) matrices. Weight follows the energy balance day by
day: the true intake minus Mifflin-St Jeor x activity at *today's* weight, at
7700 kcal per kg, so a dieter's expenditure falls as the weight does. The loop
runs over days (at most 730), never over users. What the app records differs
from the truth the way real logs do: intake is under-reported by ~20% with
whole days missing and part-logged days, weight carries water swings and scale
noise, and manual sleep logs are rounded to quarter hours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fitsense_luigi import ids
from fitsense_luigi.synth import columns as col
from fitsense_luigi.synth import published as pub
from fitsense_luigi.synth.population import ACTIVITY_FACTORS, GOAL_KCAL_ADJUST, People

KCAL_PER_KG = float(pub.KCAL_PER_KG.value)
# Relative intake by weekday (Mon..Sun): more on Friday and at the weekend.
WEEKDAY_INTAKE = np.array([0.96, 0.96, 0.96, 0.97, 1.03, 1.12, 1.08])
WEEKDAY_INTAKE = WEEKDAY_INTAKE / WEEKDAY_INTAKE.mean()
INTAKE_SIGMA = 0.24  # lognormal day-to-day noise: CV ~25% with the weekday swing (IOM DRI)
WEEKLY_LOSS_CAP = 0.009  # share of body weight per week an intended deficit may cost (< 1%, Garthe 2011)
WEEKLY_GAIN_CAP = 0.004


@dataclass
class Window:
    dates: np.ndarray  # (days,) datetime64[D], oldest first
    weekday: np.ndarray  # (days,) 0 = Monday

    @classmethod
    def ending(cls, last_day: np.datetime64, days: int) -> Window:
        dates = last_day - np.arange(days - 1, -1, -1).astype("timedelta64[D]")
        return cls(dates, ((dates.astype(np.int64) + 3) % 7).astype(np.int64))  # 1970-01-01 was a Thursday

    @property
    def weekend(self) -> np.ndarray:
        return self.weekday >= 5

    def __len__(self) -> int:
        return int(self.dates.size)


@dataclass
class Body:
    """The true daily story behind the logs."""

    sleep_h: np.ndarray  # (n, days) night ending on the morning of each day
    intake_kcal: np.ndarray  # (n, days) eaten
    expenditure_kcal: np.ndarray  # (n, days)
    weight_kg: np.ndarray  # (n, days) morning weight before the day's eating


def simulate(rng: np.random.Generator, people: People, window: Window) -> Body:
    n, days = len(people), len(window)
    shift = np.clip(rng.normal(np.mean(pub.SLEEP_WEEKEND_SHIFT_H.value), 0.35, n), 0, 2)
    weekly = np.where(window.weekend[None, :], 5 / 7, -2 / 7) * shift[:, None]
    short_night = rng.random((n, days)) < 0.05
    sleep = people.sleep_mean_h[:, None] + weekly + rng.normal(0, 0.75, (n, days)) - 1.5 * short_night
    sleep = np.clip(sleep, 2.5, 13.0)

    factor = ACTIVITY_FACTORS[people.activity]
    start_tdee = people.maintenance_kcal()
    compliance = rng.beta(6, 2, n)
    intent = 1 + GOAL_KCAL_ADJUST[people.goal] * compliance + rng.normal(0, 0.04, n)
    weekly_kg = (intent - 1) * start_tdee * 7 / KCAL_PER_KG
    bounded = np.clip(weekly_kg, -WEEKLY_LOSS_CAP * people.weight_kg, WEEKLY_GAIN_CAP * people.weight_kg)
    intent = 1 + bounded * KCAL_PER_KG / 7 / start_tdee
    # A diet or a bulk is a phase: after 12-36 weeks people drift back to eating at maintenance, so long
    # windows show plateaus instead of years of steady loss. A standard 84-day window sits inside the phase.
    phase_days = rng.integers(84, 253, n)
    swing = WEEKDAY_INTAKE[window.weekday][None, :] * np.exp(
        rng.normal(-(INTAKE_SIGMA**2) / 2, INTAKE_SIGMA, (n, days))
    )

    weight = np.empty((n, days))
    expenditure = np.empty((n, days))
    intake = np.empty((n, days))
    today = people.weight_kg.copy()
    for t in range(days):
        weight[:, t] = today
        expenditure[:, t] = people.bmr(today) * factor
        intake[:, t] = expenditure[:, t] * np.where(t < phase_days, intent, 1.0) * swing[:, t]
        today = today + (intake[:, t] - expenditure[:, t]) / KCAL_PER_KG
    return Body(sleep, intake, expenditure, weight)


def _morning(dates: np.ndarray, rng: np.random.Generator, earliest_h: float, latest_h: float) -> np.ndarray:
    seconds = rng.integers(int(earliest_h * 3600), int(latest_h * 3600), dates.size)
    return dates.astype("datetime64[s]") + seconds.astype("timedelta64[s]")


def sleep_logs(seed: int, rng: np.random.Generator, people: People, window: Window, body: Body) -> pa.Table:
    """Tracker users sync most nights to the minute; manual loggers log less, to the quarter hour, and tire."""
    n, days = len(people), len(window)
    tracker = rng.random(n) < 0.45
    manual_rate = rng.beta(6, 4, n)[:, None] * (1 - rng.uniform(0, 0.3, n)[:, None] * np.linspace(0, 1, days)[None, :])
    rate = np.where(tracker[:, None], 0.93, manual_rate)
    u, t = np.nonzero(rng.random((n, days)) < rate)
    hours = body.sleep_h[u, t]
    hours = np.where(tracker[u], np.round(hours * 60) / 60, np.round(hours * 4) / 4)
    return pa.table(
        {
            "sleep_log_id": col.uuid(ids.uuid_bytes(seed, "sleep_duration_logs", people.index[u] * 1024 + t)),
            "user_id": col.uuid(people.user_id[u]),
            "log_date": col.date(window.dates[t]),
            "sleep_duration_hours": col.decimal(hours, 4, 2),
            "notes": col.optional_text(np.where(hours < 5, "Rough night", "")),
            "created_at": col.timestamp(_morning(window.dates[t], rng, 6.0, 10.0)),
        }
    )


def calorie_logs(seed: int, rng: np.random.Generator, people: People, window: Window, body: Body) -> pa.Table:
    """Under-reported (~20%), with missing days (fewer at weekends, fewer over time) and part-logged days."""
    n, days = len(people), len(window)
    under = np.clip(rng.normal(0.82, 0.07, n), 0.55, 1.0)
    propensity = rng.beta(5, 2, n)[:, None] * (1 - rng.uniform(0, 0.3, n)[:, None] * np.linspace(0, 1, days))
    propensity = propensity * np.where(window.weekend, 0.85, 1.0)[None, :]
    quits = rng.random(n) < 0.08
    quit_day = rng.integers(days // 4, days, n)
    active = ~(quits[:, None] & (np.arange(days)[None, :] >= quit_day[:, None]))
    u, t = np.nonzero((rng.random((n, days)) < propensity) & active)
    partial = rng.random(u.size) < 0.06
    logged = body.intake_kcal[u, t] * under[u] * np.where(partial, rng.uniform(0.4, 0.7, u.size), 1.0)
    return pa.table(
        {
            "calorie_log_id": col.uuid(ids.uuid_bytes(seed, "calorie_intake_logs", people.index[u] * 1024 + t)),
            "user_id": col.uuid(people.user_id[u]),
            "log_date": col.date(window.dates[t]),
            "calories_consumed": col.int32(np.round(logged)),
            "notes": col.optional_text(np.where(partial, "Forgot to log some meals", "")),
            "created_at": col.timestamp(_morning(window.dates[t], rng, 19.0, 23.5)),
        }
    )


def weight_logs(seed: int, rng: np.random.Generator, people: People, window: Window, body: Body) -> pa.Table:
    """Morning weigh-ins: daily, weekly on a fixed weekday, or now and then; always one in the first and last week."""
    n, days = len(people), len(window)
    style = rng.choice(3, n, p=[0.2, 0.45, 0.35])
    weigh_day = rng.integers(0, 7, n)
    chance = np.select(
        [style[:, None] == 0, style[:, None] == 1],
        [np.full((n, days), 0.85), np.where(window.weekday[None, :] == weigh_day[:, None], 0.8, 0.02)],
        0.08,
    )
    weighed = rng.random((n, days)) < chance
    first_week, last_week = min(7, days), max(days - 7, 0)
    forced_first = rng.integers(0, first_week, n)
    forced_last = rng.integers(last_week, days, n)
    rows = np.arange(n)
    weighed[rows, forced_first] |= ~weighed[:, :first_week].any(axis=1)
    weighed[rows, forced_last] |= ~weighed[:, last_week:].any(axis=1)
    u, t = np.nonzero(weighed)

    surplus = np.concatenate([np.zeros((n, 1)), body.intake_kcal[:, :-1] - body.expenditure_kcal[:, :-1]], axis=1)
    water = 0.00035 * surplus[u, t] + rng.normal(0, 0.3, u.size)
    scale = np.round((body.weight_kg[u, t] + water + rng.normal(0, 0.15, u.size)) * 10) / 10

    smart = rng.random(n) < 0.4
    offset = rng.normal(0, 2.5, n)
    bmi = body.weight_kg[u, t] / (people.height_cm[u] / 100) ** 2
    fat = 1.2 * bmi + 0.23 * people.age[u] - 10.8 * people.sex[u] - 5.4 + offset[u] + rng.normal(0, 0.6, u.size)
    return pa.table(
        {
            "weight_log_id": col.uuid(ids.uuid_bytes(seed, "weight_logs", people.index[u] * 1024 + t)),
            "user_id": col.uuid(people.user_id[u]),
            "logged_at": col.timestamp(_morning(window.dates[t], rng, 6.0, 9.5)),
            "weight_kg": col.decimal(scale, 5, 2),
            "body_fat_percentage": col.decimal(np.clip(fat, 4.0, 60.0), 4, 1, present=smart[u]),
            "notes": col.nulls(u.size, pa.string()),
        }
    )
