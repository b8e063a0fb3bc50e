"""Daily logs over the look-back window: sleep, calorie intake and body weight.

Simulated as (users x days) matrices. Weight follows the energy balance day by
day: the true intake minus Mifflin-St Jeor x activity at *today's* weight, at
7700 kcal per kg, so a dieter's expenditure falls as the weight does. The loop
runs over days (at most 730), never over users.

Outcomes vary the way they do in weight-loss trials: how closely a person keeps
to the target is their own (some hardly change what they eat: non-responders),
a diet is a phase that ends in a plateau, some regain afterwards, and a lapse
from training usually ends the diet too. Nobody diets below a healthy weight:
the deficit stops at BMI 21, and below BMI 18.5 people eat at least what they
spend. Holidays and seasons move intake and sleep (``calendar``).

What the app records differs from the truth the way real logs do: intake is
under-reported, more so the higher the BMI (doubly-labelled-water studies;
Lichtman 1992), with whole days missing and part-logged days; people who stop
training mostly stop logging; weight carries water swings and scale noise;
manual sleep logs are rounded to quarter hours. Times of day are local and
stored as UTC; nothing after the end of the as-of day (UTC) exists yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fitsense_luigi import ids
from fitsense_luigi.synth import calendar
from fitsense_luigi.synth import columns as col
from fitsense_luigi.synth import published as pub
from fitsense_luigi.synth.population import ACTIVITY_FACTORS, WEIGHT_LOSS, WEIGHT_LOSS_MIN_BMI, People

KCAL_PER_KG = float(pub.KCAL_PER_KG.value)
# Relative intake by weekday (Mon..Sun): more on Friday and at the weekend.
WEEKDAY_INTAKE = np.array([0.96, 0.96, 0.96, 0.97, 1.03, 1.12, 1.08])
WEEKDAY_INTAKE = WEEKDAY_INTAKE / WEEKDAY_INTAKE.mean()
INTAKE_SIGMA = 0.24  # lognormal day-to-day noise: CV ~25% with the weekday swing (IOM DRI)
WEEKLY_LOSS_CAP = 0.009  # share of body weight per week an intended deficit may cost (< 1%, Garthe 2011)
WEEKLY_GAIN_CAP = 0.004
DIET_STOP_BMI = WEIGHT_LOSS_MIN_BMI + 1.0  # a dieter who reaches it eats at maintenance: never pushed below it
UNDERWEIGHT_BMI = 18.5  # below it nobody eats less than they spend
MAX_INTAKE_KCAL = 9000.0  # a day's true intake bends towards this; logged intake (at most 1.1x) stays < 10,000


@dataclass
class Window:
    dates: np.ndarray  # (days,) datetime64[D], oldest first: the users' local dates
    weekday: np.ndarray  # (days,) 0 = Monday
    effects: calendar.DayEffects  # holidays and seasons on each date

    @classmethod
    def ending(cls, last_day: np.datetime64, days: int) -> Window:
        dates = last_day - np.arange(days - 1, -1, -1).astype("timedelta64[D]")
        weekday = ((dates.astype(np.int64) + 3) % 7).astype(np.int64)  # 1970-01-01 was a Thursday
        return cls(dates, weekday, calendar.day_effects(dates))

    @property
    def weekend(self) -> np.ndarray:
        return self.weekday >= 5

    @property
    def day_off(self) -> np.ndarray:
        """Weekends and the holidays people sleep in on."""
        return self.weekend | self.effects.sleep_in

    @property
    def snapshot_end(self) -> np.datetime64:
        """The end of the as-of day in UTC: the run sees nothing that happens after it."""
        return (self.dates[-1] + np.timedelta64(1, "D")).astype("datetime64[s]")

    def __len__(self) -> int:
        return int(self.dates.size)


@dataclass
class Body:
    """The true daily story behind the logs."""

    sleep_h: np.ndarray  # (n, days) night ending on the morning of each day
    intake_kcal: np.ndarray  # (n, days) eaten
    expenditure_kcal: np.ndarray  # (n, days)
    weight_kg: np.ndarray  # (n, days) morning weight before the day's eating
    engaged: np.ndarray  # (n, days) inside a training spell (engagement.Career)


def simulate(rng: np.random.Generator, people: People, window: Window) -> Body:
    n, days = len(people), len(window)
    effects = window.effects
    shift = np.clip(rng.normal(np.mean(pub.SLEEP_WEEKEND_SHIFT_H.value), 0.35, n), 0, 2)
    weekly = np.where(window.day_off[None, :], 5 / 7, -2 / 7) * shift[:, None]
    short_night = rng.random((n, days)) < 0.05
    sleep = people.sleep_mean_h[:, None] + weekly + rng.normal(0, 0.75, (n, days)) - 1.5 * short_night
    sleep = np.clip(sleep + effects.sleep_shift_h[None, :], 2.5, 13.0)

    factor = ACTIVITY_FACTORS[people.activity]
    start_tdee = people.maintenance_kcal()
    # How closely each person keeps to their target: most partly, a fifth hardly at all (non-responders).
    keeps = np.where(rng.random(n) < 0.2, rng.normal(0.0, 0.15, n), rng.beta(2.2, 1.4, n))
    intent = 1 + (people.target_kcal() / start_tdee - 1) * keeps + rng.normal(0, 0.03, n)
    weekly_kg = (intent - 1) * start_tdee * 7 / KCAL_PER_KG
    bounded = np.clip(weekly_kg, -WEEKLY_LOSS_CAP * people.weight_kg, WEEKLY_GAIN_CAP * people.weight_kg)
    intent = 1 + bounded * KCAL_PER_KG / 7 / start_tdee
    # A diet or a bulk is a phase: after 8-36 weeks people drift back to maintenance (a plateau), and half of
    # them overshoot it a little and regain; a lapse from training usually ends the diet the same way.
    phase_days = rng.integers(56, 253, n)
    regain = np.where(rng.random(n) < 0.5, rng.uniform(0.02, 0.06, n), 0.0)
    dieting = people.goal == WEIGHT_LOSS
    engaged = people.career.active(days)
    swing = (WEEKDAY_INTAKE[window.weekday] * effects.intake)[None, :] * np.exp(
        rng.normal(-(INTAKE_SIGMA**2) / 2, INTAKE_SIGMA, (n, days))
    )

    weight = np.empty((n, days))
    expenditure = np.empty((n, days))
    intake = np.empty((n, days))
    start_weight = people.weight_kg
    today = start_weight.copy()
    height_m2 = (people.height_cm / 100) ** 2
    for t in range(days):
        weight[:, t] = today
        expenditure[:, t] = people.bmr(today) * factor
        bmi = today / height_m2
        on_plan = (t < phase_days) & engaged[:, t]
        after = np.where(dieting & (today < start_weight), 1 + regain, 1.0)
        aim = np.where(on_plan, intent, after)
        aim = np.where(dieting & (bmi < DIET_STOP_BMI), np.maximum(aim, 1.0), aim)  # goal reached: stop the deficit
        aim = np.where(bmi < UNDERWEIGHT_BMI, np.maximum(aim, 1.02), aim)  # hunger wins below a healthy weight
        # a feast on a big appetite still ends somewhere: bent smoothly below ~9,000 kcal, never clipped
        intake[:, t] = soft_limits(expenditure[:, t] * aim * swing[:, t], 0.0, MAX_INTAKE_KCAL, 1.0, 3000.0)
        today = today + (intake[:, t] - expenditure[:, t]) / KCAL_PER_KG
    return Body(sleep, intake, expenditure, weight, engaged)


def _local(
    people: People, u: np.ndarray, dates: np.ndarray, rng: np.random.Generator, earliest_h: float, latest_h: float
) -> np.ndarray:
    """A UTC instant between two local clock times on each row's local date."""
    seconds = rng.integers(int(earliest_h * 3600), int(latest_h * 3600), dates.size)
    return calendar.to_utc(people.zone[u], dates, seconds)


def sleep_logs(seed: int, rng: np.random.Generator, people: People, window: Window, body: Body) -> pa.Table:
    """Tracker users sync most nights to the minute; manual loggers log less, to the quarter hour, and tire."""
    n, days = len(people), len(window)
    tracker = rng.random(n) < 0.45
    manual_rate = rng.beta(6, 4, n)[:, None] * (1 - rng.uniform(0, 0.3, n)[:, None] * np.linspace(0, 1, days)[None, :])
    rate = np.where(tracker[:, None], np.where(body.engaged, 0.93, 0.75), manual_rate * np.where(body.engaged, 1, 0.3))
    u, t = np.nonzero(rng.random((n, days)) < rate)
    created = _local(people, u, window.dates[t], rng, 6.0, 10.0)
    keep = created < window.snapshot_end
    u, t, created = u[keep], t[keep], created[keep]
    hours = body.sleep_h[u, t]
    hours = np.where(tracker[u], np.round(hours * 60) / 60, np.round(hours * 4) / 4)
    return pa.table(
        {
            "sleep_log_id": col.uuid(ids.uuid_bytes(seed, "sleep_duration_logs", people.index[u] * 1024 + t)),
            "user_id": col.uuid(people.user_id[u]),
            "log_date": col.date(window.dates[t]),
            "sleep_duration_hours": col.decimal(hours, 4, 2),
            "notes": col.optional_text(np.where(hours < 5, "Rough night", "")),
            "created_at": col.timestamp(created),
        }
    )


def calorie_logs(seed: int, rng: np.random.Generator, people: People, window: Window, body: Body) -> pa.Table:
    """Under-reported (~20% on average, more at higher BMI), with missing days (fewer at weekends and holidays,
    fewer over time, rare once someone stops training) and part-logged days."""
    n, days = len(people), len(window)
    under = under_reporting(rng, people.bmi)
    propensity = rng.beta(5, 2, n)[:, None] * (1 - rng.uniform(0, 0.3, n)[:, None] * np.linspace(0, 1, days))
    propensity = propensity * np.where(window.day_off, 0.85, 1.0)[None, :] * np.where(body.engaged, 1.0, 0.12)
    quits = rng.random(n) < 0.08
    quit_day = rng.integers(days // 4, days, n)
    active = ~(quits[:, None] & (np.arange(days)[None, :] >= quit_day[:, None]))
    u, t = np.nonzero((rng.random((n, days)) < propensity) & active)
    created = _local(people, u, window.dates[t], rng, 19.0, 23.5)
    keep = created < window.snapshot_end  # the as-of day's dinner has not been logged yet in the US
    u, t, created = u[keep], t[keep], created[keep]
    partial = rng.random(u.size) < 0.06
    logged = body.intake_kcal[u, t] * under[u] * np.where(partial, rng.uniform(0.4, 0.7, u.size), 1.0)
    return pa.table(
        {
            "calorie_log_id": col.uuid(ids.uuid_bytes(seed, "calorie_intake_logs", people.index[u] * 1024 + t)),
            "user_id": col.uuid(people.user_id[u]),
            "log_date": col.date(window.dates[t]),
            "calories_consumed": col.int32(np.round(logged)),
            "notes": col.optional_text(np.where(partial, "Forgot to log some meals", "")),
            "created_at": col.timestamp(created),
        }
    )


def under_reporting(rng: np.random.Generator, bmi: np.ndarray) -> np.ndarray:
    """Logged / eaten per person: ~0.9 at BMI 22 falling ~1.2 points per BMI unit (about 0.8 at 30, 0.7 at 38):
    the rise of under-reporting with BMI seen with doubly-labelled water (Lichtman 1992; IOM: ~20% overall)."""
    return np.clip(0.93 - 0.012 * (bmi - 22.0) + rng.normal(0, 0.07, bmi.size), 0.4, 1.1)


def soft_limits(values: np.ndarray, low: float, high: float, low_knee: float, high_knee: float) -> np.ndarray:
    """Bend values smoothly towards (low, high) within a knee of each limit, never reaching them: no clip, so
    nothing piles up at a limit."""
    top, bottom = high - high_knee, low + low_knee
    above, below = np.maximum(values - top, 0.0), np.maximum(bottom - values, 0.0)
    bent = np.where(values > top, top - high_knee * np.expm1(-above / high_knee), values)
    return np.where(bent < bottom, bottom + low_knee * np.expm1(-below / low_knee), bent)


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
    chance = chance * np.where(body.engaged, 1.0, 0.3)
    weighed = rng.random((n, days)) < chance
    first_week, last_week = min(7, days), max(days - 7, 0)
    forced_first = rng.integers(0, first_week, n)
    forced_last = rng.integers(last_week, days, n)
    rows = np.arange(n)
    weighed[rows, forced_first] |= ~weighed[:, :first_week].any(axis=1) & body.engaged[rows, forced_first]
    weighed[rows, forced_last] |= ~weighed[:, last_week:].any(axis=1) & body.engaged[rows, forced_last]
    u, t = np.nonzero(weighed)
    logged = _local(people, u, window.dates[t], rng, 6.0, 9.5)
    keep = logged < window.snapshot_end
    u, t, logged = u[keep], t[keep], logged[keep]

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
            "logged_at": col.timestamp(logged),
            "weight_kg": col.decimal(scale, 5, 2),
            "body_fat_percentage": col.decimal(soft_limits(fat, 3.0, 72.0, 4.0, 25.0), 4, 1, present=smart[u]),
            "notes": col.nulls(u.size, pa.string()),
        }
    )
