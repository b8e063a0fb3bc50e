"""Each user's current state, summarised from the synthetic tables.

A query must speak from the user's real situation (recent lifts, adherence,
weight trend, sleep, conditions, medications), so this module reduces the
tables to one row of facts per user, with pandas group-bys over whole tables.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from fitsense_luigi import ids

AGE_BANDS = ((18, 29, "18-29"), (30, 39, "30-39"), (40, 49, "40-49"), (50, 59, "50-59"), (60, 200, "60+"))


def _frame(table: pa.Table, uuid_columns: tuple[str, ...]) -> pd.DataFrame:
    """Arrow -> pandas with uuid columns as canonical strings (vectorised)."""
    plain = table.drop_columns([c for c in uuid_columns if c in table.column_names])
    df = plain.to_pandas()
    for c in uuid_columns:
        if c in table.column_names:
            column = table[c]
            if column.null_count:
                mask = column.is_null().to_numpy(zero_copy_only=False)
                filled = pa.compute.fill_null(column.combine_chunks().storage, b"\0" * 16)
                text = ids.to_strings(ids.from_arrow(filled))
                df[c] = np.where(mask, None, text)
            else:
                df[c] = ids.to_strings(ids.from_arrow(column))
    return df


def age_band(age: int) -> str:
    for lo, hi, label in AGE_BANDS:
        if lo <= age <= hi:
            return label
    return "unknown"


def user_states(world: dict[str, pa.Table], as_of: dt.date) -> pd.DataFrame:
    """One row per user with the facts queries and the mock coach need."""
    profiles = _frame(world["user_profiles"], ("user_id",))
    today = pd.Timestamp(as_of)
    dob = pd.to_datetime(profiles["date_of_birth"])
    profiles["age"] = ((today - dob).dt.days // 365.25).astype(int)
    profiles["height_cm"] = profiles["height_cm"].astype(float)
    state = profiles[["user_id", "age", "sex", "height_cm", "activity_level"]].copy()

    goals = _frame(world["goals"], ("goal_id",)).rename(columns={"name": "goal"})
    user_goals = _frame(world["user_goals"], ("user_id", "goal_id")).merge(goals[["goal_id", "goal"]], on="goal_id")
    primary = user_goals.sort_values(["user_id", "priority"]).drop_duplicates("user_id")
    state = state.merge(primary[["user_id", "goal"]], on="user_id", how="left")

    conditions = _frame(world["conditions"], ("condition_id",)).rename(columns={"name": "condition"})
    uc = _frame(world["user_conditions"], ("user_id", "condition_id")).merge(
        conditions[["condition_id", "condition"]], on="condition_id"
    )
    state = state.merge(_listed(uc, "condition", "conditions"), on="user_id", how="left")
    meds = _frame(world["user_medications"], ("user_id",))
    state = state.merge(_listed(meds, "medication_name", "medications"), on="user_id", how="left")
    allergies = _frame(world["user_allergies"], ("user_id",))
    state = state.merge(_listed(allergies, "allergen", "allergies"), on="user_id", how="left")
    for c in ("conditions", "medications", "allergies"):
        state[c] = state[c].apply(lambda v: list(v) if isinstance(v, list | tuple | np.ndarray) else [])

    weights = _frame(world["weight_logs"], ("user_id",))
    weights["weight_kg"] = weights["weight_kg"].astype(float)
    weights = weights.sort_values(["user_id", "logged_at"])
    first = weights.groupby("user_id")["weight_kg"].first()
    last = weights.groupby("user_id")["weight_kg"].last()
    trend = pd.DataFrame({"weight_kg": last.round(1), "weight_change_kg": (last - first).round(1)}).reset_index()
    state = state.merge(trend, on="user_id", how="left")

    sleep = _frame(world["sleep_duration_logs"], ("user_id",))
    sleep["h"] = sleep["sleep_duration_hours"].astype(float)
    state = state.merge(
        sleep.groupby("user_id")["h"].mean().round(1).rename("avg_sleep_h").reset_index(),
        on="user_id",
        how="left",
    )
    kcal = _frame(world["calorie_intake_logs"], ("user_id",))
    state = state.merge(
        kcal.groupby("user_id")["calories_consumed"].mean().round(0).rename("avg_kcal").reset_index(),
        on="user_id",
        how="left",
    )
    targets = _frame(world["calorie_targets"], ("user_id",))[["user_id", "maintenance_calories"]]
    state = state.merge(targets.drop_duplicates("user_id"), on="user_id", how="left")

    state = state.merge(_training(world), on="user_id", how="left")
    state["sessions_done"] = state["sessions_done"].fillna(0).astype(int)
    state["bmi"] = (state["weight_kg"] / (state["height_cm"] / 100) ** 2).round(1)
    state["age_band"] = state["age"].map(age_band)
    return state.sort_values("user_id").reset_index(drop=True)


def _listed(df: pd.DataFrame, column: str, name: str) -> pd.DataFrame:
    return df.sort_values(column).groupby("user_id")[column].agg(list).rename(name).reset_index()


def _training(world: dict[str, pa.Table]) -> pd.DataFrame:
    workouts = _frame(world["workouts"], ("workout_id", "user_id", "plan_id"))
    plans = _frame(world["workout_plans"], ("plan_id", "user_id"))
    plans["days_per_week"] = plans["name"].str.extract(r"(\d+) days/week").astype(float)
    exercises = _frame(world["exercises"], ("exercise_id",)).rename(columns={"name": "exercise"})
    wex = _frame(world["workout_exercises"], ("workout_exercise_id", "workout_id", "exercise_id", "plan_exercise_id"))
    sets = _frame(world["workout_sets"], ("workout_set_id", "workout_exercise_id"))
    sets = sets[~sets["is_warmup"] & sets["weight"].notna()].copy()
    sets["weight"] = sets["weight"].astype(float)
    sets["e1rm"] = sets["weight"] * (1 + sets["reps"] / 30)  # Epley
    sets = sets.merge(wex[["workout_exercise_id", "workout_id", "exercise_id"]], on="workout_exercise_id")
    sets = sets.merge(workouts[["workout_id", "user_id"]], on="workout_id").merge(
        exercises[["exercise_id", "exercise"]], on="exercise_id"
    )
    best = sets.groupby(["user_id", "exercise"])["e1rm"].max().round(1).reset_index()
    best = best.sort_values(["user_id", "e1rm"], ascending=[True, False]).groupby("user_id").head(3)
    lifts = (
        best.groupby("user_id")
        .apply(
            lambda g: [
                {"exercise": e, "estimated_1rm_kg": float(v)} for e, v in zip(g["exercise"], g["e1rm"], strict=True)
            ],
            include_groups=False,
        )
        .rename("top_lifts")
        .reset_index()
    )
    done = workouts.groupby("user_id").size().rename("sessions_done").reset_index()
    out = (
        plans[["user_id", "days_per_week", "name"]]
        .rename(columns={"name": "plan_name"})
        .merge(done, on="user_id", how="left")
        .merge(lifts, on="user_id", how="left")
    )
    return out


def context_summary(row: Any, lookback_days: int) -> dict[str, Any]:
    planned = (row.days_per_week or 0) * lookback_days / 7
    adherence = round(min(row.sessions_done / planned, 1.0), 2) if planned else None
    lifts = row.top_lifts if isinstance(row.top_lifts, list) else []
    return {
        "age": int(row.age),
        "sex": row.sex,
        "height_cm": float(row.height_cm),
        "weight_kg": _num(row.weight_kg),
        "bmi": _num(row.bmi),
        "goal": row.goal,
        "activity_level": row.activity_level,
        "conditions": list(row.conditions),
        "medications": list(row.medications),
        "allergies": list(row.allergies),
        "days_per_week": _num(row.days_per_week),
        "sessions_last_window": int(row.sessions_done),
        "adherence_rate": adherence,
        "weight_change_kg": _num(row.weight_change_kg),
        "avg_sleep_h": _num(row.avg_sleep_h),
        "avg_logged_kcal": _num(row.avg_kcal),
        "maintenance_kcal": _num(row.maintenance_calories),
        "top_lifts": lifts,
        "window_days": lookback_days,
    }


def _num(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return float(value)
