"""Observed marginals of the synthetic world beside their published figures.

Written as ``reports/<run_id>/realism.json`` so that the quality gate (and a
reviewer) can see, for every figure in ``shared/reference/realism.md`` the
generator aims at, what came out and whether it is within tolerance.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from fitsense_luigi.queries.state import _frame


def _check(name: str, observed: float, expected: float, tolerance: float, source: str) -> dict[str, Any]:
    return {
        "name": name,
        "observed": round(float(observed), 4),
        "expected": expected,
        "tolerance": tolerance,
        "passed": bool(abs(observed - expected) <= tolerance),
        "source": source,
    }


def measure(world: dict[str, pa.Table], as_of: dt.date) -> dict[str, Any]:
    profiles = _frame(world["user_profiles"], ("user_id",))
    age = (pd.Timestamp(as_of) - pd.to_datetime(profiles["date_of_birth"])).dt.days / 365.25
    weights = _frame(world["weight_logs"], ("user_id",)).sort_values("logged_at")
    first_weight = weights.groupby("user_id")["weight_kg"].first().astype(float)
    height = profiles.set_index("user_id")["height_cm"].astype(float)
    bmi = (first_weight / (height.reindex(first_weight.index) / 100) ** 2).dropna()
    sleep = world["sleep_duration_logs"]["sleep_duration_hours"].cast(pa.float64()).to_numpy()
    checks = [
        _check("mean age of app users (years)", age.mean(), 37.0, 4.0, "IHRSA gym members"),
        _check("share of women", (profiles["sex"] == "female").mean(), 0.5, 0.05, "IHRSA"),
        _check("BMI median", float(np.median(bmi)), 28.2, 2.0, "NHANES 2015-16 (derived lognormal)"),
        _check("share of nights under 7 h", float((sleep < 7).mean()), 0.35, 0.12, "BRFSS 2014"),
    ]
    return {"passed": all(c["passed"] for c in checks), "checks": checks}
