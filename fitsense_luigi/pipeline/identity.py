"""Run identity: what a run id may be, which day it stands for, and the config fingerprint.

A run is keyed by its id; its data depend on the seed, the config and the run's
``as_of_date`` (the last day of the synthetic history), never on the wall clock.
The fingerprint hashes the params that shape the data (``config.significant_params``)
with the as-of date. A daily cron job uses the default run id (today's UTC date), so a new day means
a new run whose history window ends on that day: the same synthetic population
(ids, names, birth dates come from the seed alone), observed one day later.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from fitsense_luigi.config import significant_params
from fitsense_luigi.errors import ConfigError, FitSenseError, RunIdError

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,128}$")  # fullmatch: "$" alone lets "nl\n" through
_LEADING_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})(?![0-9])")


def check_run_id(run_id: str) -> str:
    """A run id names directories, and one that starts like a date is read as the run's as-of date: so it
    must be a real date (``2026-02-30`` would otherwise run silently as of the day it was first made)."""
    if run_id == "":
        raise RunIdError(
            "bad run id '': it is empty; give one (e.g. --run-id 2026-02-17), or leave --run-id out for today's run"
        )
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id) or run_id in (".", ".."):
        raise RunIdError(
            f"bad run id {run_id!r}: use 1-128 letters, digits, '.', '_' or '-' (e.g. 2026-02-17 or smoke_1)"
        )
    match = _LEADING_DATE.match(run_id)
    if match and date_in_run_id(run_id) is None:
        raise RunIdError(
            f"bad run id {run_id!r}: it starts like a date ({match[0]}), but that day does not exist; a run id "
            f"that starts with a date must start with a real one (YYYY-MM-DD or YYYYMMDD), which is its as-of date"
        )
    return run_id


def default_run_id(now: dt.datetime | None = None) -> str:
    """Today's UTC date, so that one cron invocation a day makes one run a day."""
    now = now or dt.datetime.now(dt.UTC)
    return now.astimezone(dt.UTC).strftime("%Y-%m-%d")


def date_in_run_id(run_id: str) -> dt.date | None:
    """The date a run id starts with (2026-02-17, 20260217T000000, ...), if any."""
    match = _LEADING_DATE.match(run_id)
    if not match:
        return None
    try:
        return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        return None


def resolve_as_of_date(
    configured: str | None, run_id: str, recorded: str | None, today: dt.date | None = None
) -> dt.date:
    """Config first, then the run id's own date, then the day the run was first made."""
    if configured:
        try:
            day = dt.date.fromisoformat(configured)
        except ValueError:
            raise ConfigError(f"run.as_of_date: {configured!r} is not a day of the calendar (YYYY-MM-DD)") from None
        return within_range(day, "run.as_of_date", ConfigError)
    from_id = date_in_run_id(run_id)
    if from_id:
        return within_range(from_id, f"the date run id {run_id!r} starts with", RunIdError)
    if recorded:
        return dt.date.fromisoformat(recorded)
    return today or dt.datetime.now(dt.UTC).date()


# The days a run's history may end on: its timestamps are UTC instants (nanoseconds run out in 2262), and
# app data from before 1970 makes no sense; year 1 used to crash GenerateQueries with an OverflowError.
AS_OF_RANGE = (dt.date(1970, 1, 1), dt.date(2199, 12, 31))


def within_range(day: dt.date, source: str, error: type[FitSenseError]) -> dt.date:
    low, high = AS_OF_RANGE
    if not low <= day <= high:
        raise error(f"{source}: as-of date {day.isoformat()} is outside {low.isoformat()}..{high.isoformat()}")
    return day


def fingerprint(params: Mapping[str, Any], as_of_date: dt.date) -> str:
    payload = {"params": significant_params(params), "as_of_date": as_of_date.isoformat()}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
