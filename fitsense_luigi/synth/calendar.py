"""Local time, US time zones, daylight saving, holidays and seasons.

People live by their local clock: they train after work, weigh in after
waking, log dinner in the evening. Every time of day is therefore generated in
the user's local time and stored as true UTC (the app schema's timestamps are
UTC instants). The market is the US: a user's zone is drawn with the zone's
share of the US population (:data:`ZONES`), and daylight saving follows the US
rule since 2007 (second Sunday of March to first Sunday of November; Arizona and
Hawaii keep standard time). Log *dates* (``log_date``) are the user's local date.

Holidays and seasons move what people do: feasts raise intake, holidays are
slept in like a weekend and skipped at the gym, January brings resolutions,
summer brings holidays away. The multipliers are assumptions stated beside each
entry; the spring-forward night follows Barnes & Wagner 2009 (~40 min less
sleep the night the clocks change).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (IANA name, UTC offset in standard time, observes DST, share of the US population).
# US Census (derived): Eastern ~47%, Central ~29%, Mountain ~7% (Arizona ~2.2% without DST), Pacific ~17%,
# Alaska and Hawaii < 1%.
ZONES: tuple[tuple[str, int, bool, float], ...] = (
    ("America/New_York", -5, True, 0.470),
    ("America/Chicago", -6, True, 0.290),
    ("America/Denver", -7, True, 0.048),
    ("America/Phoenix", -7, False, 0.022),
    ("America/Los_Angeles", -8, True, 0.164),
    ("America/Anchorage", -9, True, 0.002),
    ("Pacific/Honolulu", -10, False, 0.004),
)
ZONE_NAMES = np.array([z[0] for z in ZONES])
STANDARD_OFFSET_H = np.array([z[1] for z in ZONES], dtype=np.int64)
OBSERVES_DST = np.array([z[2] for z in ZONES])
ZONE_SHARES = np.array([z[3] for z in ZONES]) / sum(z[3] for z in ZONES)
SPRING_FORWARD_SLEEP_H = -0.67  # Barnes & Wagner 2009: ~40 min less sleep on the night of the spring change


def draw_zones(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(len(ZONES), n, p=ZONE_SHARES).astype(np.int8)


def _nth_weekday(year: np.ndarray, month: int, weekday: int, nth: int) -> np.ndarray:
    """datetime64[D] of the nth (1-based; -1 = last) ``weekday`` (0 = Monday) of ``month`` in each year."""
    years = year.astype(np.int64) - 1970
    first = (years.astype("datetime64[Y]").astype("datetime64[M]") + (month - 1)).astype("datetime64[D]")
    if nth > 0:
        shift = (weekday - _weekday(first)) % 7
        return first + (shift + 7 * (nth - 1)).astype("timedelta64[D]")
    last = (years.astype("datetime64[Y]").astype("datetime64[M]") + month).astype("datetime64[D]") - 1
    return last - ((_weekday(last) - weekday) % 7).astype("timedelta64[D]")


def _weekday(days: np.ndarray) -> np.ndarray:
    return (days.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday


def _year(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def in_dst(days: np.ndarray) -> np.ndarray:
    """US daylight saving in force on each local date (the change happens at 02:00; dates are close enough)."""
    year = _year(days)
    begins = _nth_weekday(year, 3, 6, 2)  # second Sunday of March
    ends = _nth_weekday(year, 11, 6, 1)  # first Sunday of November
    return (days >= begins) & (days < ends)


def utc_offset_hours(zone: np.ndarray, days: np.ndarray) -> np.ndarray:
    """UTC offset of each (zone, local date) pair, in hours (negative: behind UTC)."""
    return STANDARD_OFFSET_H[zone] + (OBSERVES_DST[zone] & in_dst(days)).astype(np.int64)


def to_utc(zone: np.ndarray, days: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Local date + seconds after local midnight -> the UTC instant (datetime64[s])."""
    local = days.astype("datetime64[D]").astype("datetime64[s]") + np.asarray(seconds, np.int64).astype(
        "timedelta64[s]"
    )
    return local - (utc_offset_hours(zone, days) * 3600).astype("timedelta64[s]")


# ------------------------------------------------------------------------------------- holidays
@dataclass(frozen=True)
class Holiday:
    name: str
    intake: float  # eaten that day relative to an ordinary day of the same weekday
    attendance: float  # chance of a planned session relative to an ordinary day
    sleep_in: bool  # slept like a weekend


HOLIDAYS: dict[str, Holiday] = {  # assumptions: feasts, days off, family gatherings
    "new_years_day": Holiday("New Year's Day", 1.10, 0.55, True),
    "memorial_day": Holiday("Memorial Day", 1.15, 0.75, True),
    "independence_day": Holiday("Independence Day", 1.25, 0.55, True),
    "labor_day": Holiday("Labor Day", 1.15, 0.75, True),
    "thanksgiving": Holiday("Thanksgiving", 1.60, 0.35, True),
    "christmas_eve": Holiday("Christmas Eve", 1.25, 0.50, False),
    "christmas_day": Holiday("Christmas Day", 1.45, 0.25, True),
    "new_years_eve": Holiday("New Year's Eve", 1.30, 0.60, False),
}


def holiday_dates(years: np.ndarray) -> dict[str, np.ndarray]:
    """datetime64[D] of every holiday in each of ``years``."""
    years = np.asarray(years, dtype=np.int64)

    def fixed(month: int, day: int) -> np.ndarray:
        return np.array([np.datetime64(f"{y:04d}-{month:02d}-{day:02d}") for y in years], dtype="datetime64[D]")

    return {
        "new_years_day": fixed(1, 1),
        "memorial_day": _nth_weekday(years, 5, 0, -1),
        "independence_day": fixed(7, 4),
        "labor_day": _nth_weekday(years, 9, 0, 1),
        "thanksgiving": _nth_weekday(years, 11, 3, 4),
        "christmas_eve": fixed(12, 24),
        "christmas_day": fixed(12, 25),
        "new_years_eve": fixed(12, 31),
    }


@dataclass
class DayEffects:
    """Per local date of the window: what the calendar does to intake, attendance and sleep."""

    holiday: np.ndarray  # index into HOLIDAYS, -1 on ordinary days
    intake: np.ndarray
    attendance: np.ndarray
    sleep_in: np.ndarray  # bool: slept like a weekend
    sleep_shift_h: np.ndarray  # seasonal sleep (and the spring-forward night), hours


def day_effects(dates: np.ndarray) -> DayEffects:
    """Holidays plus seasons. Seasons (assumptions): sleep ~0.15 h longer in midwinter than midsummer, intake ~2%
    higher in winter; attendance up 8% in January (resolutions), down 7% in June-August and 8% in December."""
    dates = dates.astype("datetime64[D]")
    names = list(HOLIDAYS)
    holiday = np.full(dates.size, -1, dtype=np.int64)
    for j, name in enumerate(names):
        for day in holiday_dates(np.unique(_year(dates)))[name]:
            holiday[dates == day] = j
    is_holiday = holiday >= 0
    pick = np.maximum(holiday, 0)
    intake_by = np.array([h.intake for h in HOLIDAYS.values()])
    attendance_by = np.array([h.attendance for h in HOLIDAYS.values()])
    sleep_by = np.array([h.sleep_in for h in HOLIDAYS.values()])

    month = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day_of_year = (dates - dates.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)
    winter = np.cos(2 * np.pi * (day_of_year - 15) / 365.25)  # +1 mid-January, -1 mid-July
    season_attendance = np.select([month == 1, np.isin(month, [6, 7, 8]), month == 12], [1.08, 0.93, 0.92], 1.0)
    spring_forward = dates == _nth_weekday(_year(dates), 3, 6, 2)  # the night the clocks go forward
    return DayEffects(
        holiday=holiday,
        intake=np.where(is_holiday, intake_by[pick], 1.0) * (1 + 0.02 * winter),
        attendance=np.where(is_holiday, attendance_by[pick], 1.0) * season_attendance,
        sleep_in=is_holiday & sleep_by[pick],
        sleep_shift_h=0.075 * winter + np.where(spring_forward, SPRING_FORWARD_SLEEP_H, 0.0),
    )
