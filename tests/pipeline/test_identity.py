"""Run ids, the as-of date they stand for, and the config fingerprint."""

from __future__ import annotations

import datetime as dt

import pytest

from fitsense_luigi.config import load_config
from fitsense_luigi.errors import RunIdError
from fitsense_luigi.pipeline import identity


@pytest.mark.parametrize(
    "run_id", ["2026-02-17", "20260217T000000", "smoke_1", "a.b-c", "R", "2028-02-29_retry", "2026-02-28", "1234567"]
)
def test_good_run_ids(run_id: str) -> None:
    assert identity.check_run_id(run_id) == run_id


@pytest.mark.parametrize(
    ("run_id", "day"),
    [("2026-02-30", "2026-02-30"), ("2027-02-29_retry", "2027-02-29"), ("20261301", "20261301"), ("2026-04-31", None)],
)
def test_a_run_id_that_starts_like_a_date_must_start_with_a_real_one(run_id: str, day: str | None) -> None:
    # February has 28 days in 2026 and 2027 (not leap years), there is no 13th month, April has 30 days
    with pytest.raises(RunIdError, match="that day does not exist") as info:
        identity.check_run_id(run_id)
    assert f"({day or run_id})" in str(info.value)


def test_an_empty_run_id_is_refused_in_words() -> None:
    with pytest.raises(RunIdError, match="it is empty"):
        identity.check_run_id("")


@pytest.mark.parametrize("run_id", ["", "a b", "../x", "x/y", "..", ".", "naïve", "x" * 129, "a;rm"])
def test_bad_run_ids(run_id: str) -> None:
    with pytest.raises(RunIdError, match="bad run id"):
        identity.check_run_id(run_id)


def test_default_run_id_is_the_utc_date() -> None:
    late = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert identity.default_run_id(late) == "2026-03-02"


@pytest.mark.parametrize(
    ("run_id", "expected"),
    [
        ("2026-02-17", dt.date(2026, 2, 17)),
        ("20260217T000000", dt.date(2026, 2, 17)),
        ("2026-02-17_retry", dt.date(2026, 2, 17)),
        ("smoke", None),
        ("2026-13-40", None),
        ("202602170", None),
    ],
)
def test_date_in_run_id(run_id: str, expected: dt.date | None) -> None:
    assert identity.date_in_run_id(run_id) == expected


def test_as_of_date_resolution_order() -> None:
    today = dt.date(2026, 11, 25)
    assert identity.resolve_as_of_date("2025-01-01", "2026-02-17", None, today) == dt.date(2025, 1, 1)
    assert identity.resolve_as_of_date(None, "2026-02-17", "2020-01-01", today) == dt.date(2026, 2, 17)
    assert identity.resolve_as_of_date(None, "smoke", "2026-05-05", today) == dt.date(2026, 5, 5)
    assert identity.resolve_as_of_date(None, "smoke", None, today) == today


def test_fingerprint_ignores_operational_keys_only() -> None:
    params = load_config().as_dict()
    day = dt.date(2026, 2, 17)
    base = identity.fingerprint(params, day)
    operational = {
        **params,
        "run": {**params["run"], "data_root": "/elsewhere", "log_level": "DEBUG"},
        "teacher": {**params["teacher"], "concurrency": 64},
    }
    assert identity.fingerprint(operational, day) == base
    assert identity.fingerprint({**params, "world": {**params["world"], "users": 7}}, day) != base
    assert identity.fingerprint(params, dt.date(2026, 2, 18)) != base
