"""ValidateData: is every table loadable, every record well-formed, every split clean?"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from jsonschema import Draft202012Validator

from fitsense_luigi.config import Config, load_schema
from fitsense_luigi.quality.tablecheck import check, key_rows, lookup, table_checks


def validate_run(
    config: Config, world: dict[str, pa.Table], dataset: dict[str, list[dict[str, Any]]], as_of: dt.date
) -> dict[str, Any]:
    checks = table_checks(world) + implied_rules(world, as_of, config.world.lookback_days)
    checks += record_checks(dataset) + split_checks(config, dataset)
    failed = [c for c in checks if not c["passed"]]
    return {
        "valid": not failed,
        "num_checks": len(checks),
        "num_errors": len(failed),
        "failed_checks": [c["check"] for c in failed],
        "checks": checks,
    }


def implied_rules(world: dict[str, pa.Table], as_of: dt.date, lookback: int) -> list[dict[str, Any]]:
    out = []
    workouts, plans = world["workouts"], world["workout_plans"]
    # a workout's plan belongs to the same user
    has_plan = workouts.filter(pc.invert(pc.is_null(workouts["plan_id"])))
    owner, found = lookup(
        key_rows(plans, ("plan_id",)), key_rows(plans, ("user_id",)), key_rows(has_plan, ("plan_id",))
    )
    wrong = ~found | (owner != key_rows(has_plan, ("user_id",)))
    out.append(check("workouts.plan_id belongs to the workout's user", not wrong.any(), wrong.sum()))
    # ended_at > started_at
    bad = pc.sum(pc.less_equal(workouts["ended_at"], workouts["started_at"])).as_py() or 0
    out.append(check("workouts.ended_at > started_at", bad == 0, bad))
    # workout_exercises.plan_exercise_id belongs to that workout's plan
    wex, pex = world["workout_exercises"], world["plan_exercises"]
    linked = wex.filter(pc.invert(pc.is_null(wex["plan_exercise_id"])))
    via_exercise, f1 = lookup(
        key_rows(pex, ("plan_exercise_id",)),
        key_rows(pex, ("plan_id",)),
        key_rows(linked, ("plan_exercise_id",)),
    )
    via_workout, f2 = lookup(
        key_rows(workouts, ("workout_id",)),
        key_rows(workouts, ("plan_id",)),
        key_rows(linked, ("workout_id",)),
    )
    mism = ~f1 | ~f2 | (via_exercise != via_workout)
    out.append(check("workout_exercises.plan_exercise_id belongs to the workout's plan", not mism.any(), mism.sum()))
    # dates inside the look-back window
    first = np.datetime64(as_of) - np.timedelta64(lookback - 1, "D")
    last = np.datetime64(as_of) + np.timedelta64(1, "D")
    for table, column in (
        ("workouts", "started_at"),
        ("calorie_intake_logs", "log_date"),
        ("sleep_duration_logs", "log_date"),
        ("weight_logs", "logged_at"),
    ):
        values = world[table][column].to_numpy(zero_copy_only=False)
        values = np.asarray(values).astype("datetime64[D]") if values.size else values
        outside = int(((values < first) | (values >= last)).sum()) if values.size else 0
        out.append(check(f"{table}.{column} inside the look-back window", outside == 0, outside))
    return out


def record_checks(dataset: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    validator = Draft202012Validator(load_schema("distillation_record.schema.json"))
    bad = [
        (r["record_id"], e.message[:120]) for r in dataset["all_records"] for e in list(validator.iter_errors(r))[:1]
    ]
    return [check("distillation records match their schema", not bad, len(bad), bad)]


def split_checks(config: Config, dataset: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    users: dict[str, set[str]] = {}
    for split in ("train", "val", "test"):
        for r in dataset[split]:
            users.setdefault(r["user_id"], set()).add(split)
    leaked = [u for u, s in users.items() if len(s) > 1]
    out = [check("no user in two splits", not leaked, len(leaked), leaked)]
    total = sum(len(dataset[s]) for s in ("train", "val", "test"))
    expected = config.dataset.split.as_dict()
    sizes = Counter({s: len(dataset[s]) for s in ("train", "val", "test")})
    for split, ratio in expected.items():
        got = sizes[split] / total if total else 0.0
        # users, not rows, are split: with few users the share cannot be closer than 3 binomial standard errors
        noise = 3 * math.sqrt(ratio * (1 - ratio) / len(users)) if users else 0.0
        ok = abs(got - ratio) <= max(config.quality.split_tolerance, noise)
        out.append(check(f"{split} ratio within tolerance", ok, sizes[split], expected=ratio, observed=round(got, 4)))
    return out
