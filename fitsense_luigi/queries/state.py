"""Each asking user's current state, summarised from the app tables.

A request must speak from the user's real situation: goal, estimated
training level, where they train and with what, recent lifts and whether they
move, adherence, session length, weight trend, sleep, conditions (with
severity), medications and injuries. This module reduces the tables to one
row of such facts per user with whole-table pandas group-bys.

Only the users who ask something are summarised: the per-user tables are
filtered by their ids in Arrow first, so the cost follows the number of
queries, not the size of the world. Equipment and setting are not columns of
the app schema; they are read off the equipment of the exercises in the
user's active plan (``exercise_equipment``). The training level is estimated
from relative strength against the catalogue's norms (an intermediate man's
1RM / body weight per exercise; women's norms about 0.62 of men's, Cooper
Institute: ``physiology.WOMEN_RELATIVE_STRENGTH``), falling back to the plan's
days per week.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from fitsense_luigi.contracts.rows import ContextSummary
from fitsense_luigi.contracts.world import World, as_world, frame, id_keys, uuid_strings
from fitsense_luigi.physiology import WOMEN_RELATIVE_STRENGTH, epley_1rm
from fitsense_luigi.reference.catalogue import EXERCISES
from fitsense_luigi.reference.equipment import HOME_EQUIPMENT
from fitsense_luigi.reference.safety import MEDICATIONS_WITH_RULES
from fitsense_luigi.synth import plan_names

AGE_BANDS = ((18, 29, "18-29"), (30, 39, "30-39"), (40, 49, "40-49"), (50, 59, "50-59"), (60, 200, "60+"))
LEVEL_EDGES = (0.85, 1.25)  # relative strength vs the intermediate norm: midpoints of the strength-standard ladder
RECENT_DAYS = 14

# The columns this module reads, per table: GenerateQueries loads nothing else.
COLUMNS: dict[str, tuple[str, ...]] = {
    "user_profiles": ("user_id", "date_of_birth", "sex", "height_cm", "activity_level"),
    "goals": ("goal_id", "name"),
    "user_goals": ("user_id", "goal_id", "priority"),
    "conditions": ("condition_id", "name"),
    "user_conditions": ("user_id", "condition_id", "severity"),
    "user_medications": ("user_id", "medication_name", "dosage", "frequency", "start_date", "end_date"),
    "user_allergies": ("user_id", "allergen"),
    "user_medical_profiles": ("user_id", "has_injuries", "injury_details"),
    "calorie_targets": ("user_id", "maintenance_calories", "effective_from", "effective_to"),
    "sleep_targets": ("user_id", "target_sleep_hours", "effective_from", "effective_to"),
    "weight_logs": ("user_id", "logged_at", "weight_kg"),
    "sleep_duration_logs": ("user_id", "log_date", "sleep_duration_hours"),
    "calorie_intake_logs": ("user_id", "log_date", "calories_consumed"),
    "exercises": ("exercise_id", "name"),
    "equipment": ("equipment_id", "name"),
    "exercise_equipment": ("exercise_id", "equipment_id"),
    "workout_plans": ("plan_id", "user_id", "name", "is_active", "created_at"),
    "plan_exercises": ("plan_exercise_id", "plan_id", "exercise_id", "position", "notes"),
    "workouts": ("workout_id", "user_id", "started_at", "ended_at"),
    "workout_exercises": ("workout_exercise_id", "workout_id", "exercise_id"),
    "workout_sets": ("workout_exercise_id", "reps", "weight", "rir", "is_warmup"),
}


def age_band(age: int) -> str:
    for lo, hi, label in AGE_BANDS:
        if lo <= age <= hi:
            return label
    return "unknown"


# ---------------------------------------------------------------- who may ask


def population(world: World | Mapping[str, pa.Table], as_of: dt.date) -> pd.DataFrame:
    """Every user with the facts that decide who asks what: slice tags and safety relevance, sorted by id."""
    world = as_world(world, COLUMNS)
    profiles = frame(world.table("user_profiles"))
    profiles["age"] = _age(profiles["date_of_birth"], as_of)
    goals = _primary_goals(world)
    people = profiles[["user_id", "age", "sex", "activity_level"]].merge(goals, on="user_id", how="left")
    people["goal"] = people["goal"].fillna("general_fitness")
    people["age_band"] = people["age"].map(age_band)
    with_condition = set(uuid_strings(world.table("user_conditions")["user_id"]))
    medicated = _current_medications(frame(world.table("user_medications")), as_of)
    constrained = medicated.loc[medicated["medication_name"].isin(MEDICATIONS_WITH_RULES), "user_id"]
    people["safety_relevant"] = people["user_id"].isin(with_condition | set(constrained))
    return people.sort_values("user_id").reset_index(drop=True)


def _age(dob: pd.Series, as_of: dt.date) -> pd.Series:
    born = pd.to_datetime(dob)
    today = pd.Timestamp(as_of)
    before_birthday = (born.dt.month > today.month) | ((born.dt.month == today.month) & (born.dt.day > today.day))
    return (today.year - born.dt.year - before_birthday.astype(int)).astype(int)


def _primary_goals(world: World) -> pd.DataFrame:
    goals = frame(world.table("goals")).rename(columns={"name": "goal"})
    chosen = frame(world.table("user_goals")).merge(goals, on="goal_id").sort_values(["user_id", "priority", "goal"])
    first = chosen.drop_duplicates("user_id")[["user_id", "goal"]]
    second = chosen[chosen.duplicated("user_id")].drop_duplicates("user_id")[["user_id", "goal"]]
    return first.merge(second.rename(columns={"goal": "secondary_goal"}), on="user_id", how="left")


def _conditions(world: World, keys: pa.Array) -> pd.DataFrame:
    names = frame(world.table("conditions")).rename(columns={"name": "condition"})
    rows = frame(world.rows("user_conditions", "user_id", keys)).merge(names, on="condition_id")
    rows = rows.sort_values(["user_id", "condition"])
    rows["severity"] = rows["severity"].fillna("")
    grouped = rows.groupby("user_id")
    out = pd.DataFrame({"conditions": grouped["condition"].agg(list), "severity": grouped["severity"].agg(list)})
    pairs = zip(out["conditions"], out["severity"], strict=True)
    out["condition_severity"] = [dict(zip(names, levels, strict=True)) for names, levels in pairs]
    return out.drop(columns="severity").reset_index()


def _current_medications(meds: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Medications taken on the as-of date (started, and not ended before it), one row per user and drug."""
    day = pd.Timestamp(as_of)
    started = pd.to_datetime(meds["start_date"]).fillna(day) <= day
    ongoing = pd.to_datetime(meds["end_date"]).fillna(day) >= day
    current = meds[started & ongoing].sort_values(["user_id", "medication_name"])
    return current.drop_duplicates(["user_id", "medication_name"])


def _medications(world: World, keys: pa.Array, as_of: dt.date) -> pd.DataFrame:
    meds = _current_medications(frame(world.rows("user_medications", "user_id", keys)), as_of)
    detail = meds["medication_name"] + " " + meds["dosage"].fillna("").astype(str) + " " + meds["frequency"].fillna("")
    meds = meds.assign(detail=detail.str.split().str.join(" "))
    grouped = meds.groupby("user_id")
    return pd.DataFrame(
        {"medications": grouped["medication_name"].agg(list), "medication_details": grouped["detail"].agg(list)}
    ).reset_index()


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, list | tuple | np.ndarray) else []


# ---------------------------------------------------------------- the askers' state


def user_states(
    world: World | Mapping[str, pa.Table],
    as_of: dt.date,
    lookback_days: int,
    people: pd.DataFrame,
    user_ids: list[str],
) -> pd.DataFrame:
    """One row of facts per user in ``user_ids`` (index: user_id)."""
    world = as_world(world, COLUMNS)
    wanted = sorted(set(user_ids))
    keys = id_keys(wanted)
    window_start = pd.Timestamp(as_of) - pd.Timedelta(days=lookback_days - 1)
    mine = {name: world.rows(name, "user_id", keys) for name in _PER_USER}

    state = people.set_index("user_id").loc[wanted].copy()
    state = state.join(_conditions(world, keys).set_index("user_id"))
    state = state.join(_medications(world, keys, as_of).set_index("user_id"))
    for name in ("conditions", "medications", "medication_details"):
        state[name] = state[name].apply(_as_list)
    state["condition_severity"] = state["condition_severity"].apply(lambda v: v if isinstance(v, dict) else {})
    profiles = frame(mine["user_profiles"]).set_index("user_id")
    state["height_cm"] = profiles["height_cm"].astype(float)
    state = state.join(_medical(mine))
    state = state.join(_allergies(mine))
    state = state.join(_body(mine, as_of, window_start))
    state = state.join(_targets(mine, as_of))
    plan = _plans(world, mine)
    state = state.join(plan)
    state = state.join(_training(world, mine, as_of, window_start, lookback_days))
    state["bmi"] = (state["weight_kg"] / (state["height_cm"] / 100) ** 2).round(1)
    state["experience"] = _training_level(state)
    # the user's own plan says novice: a novice for safety (NSCA: plyometrics need a base), whatever the lifts say
    labelled_novice = plan_names.experience_levels(state["plan_name"]) == plan_names.EXPERIENCE_LEVELS.index("novice")
    state.loc[labelled_novice, "experience"] = "novice"
    return state


_PER_USER = (
    "user_profiles",
    "user_allergies",
    "user_medical_profiles",
    "calorie_targets",
    "sleep_targets",
    "weight_logs",
    "sleep_duration_logs",
    "calorie_intake_logs",
    "workout_plans",
    "workouts",
)


def _medical(mine: dict[str, pa.Table]) -> pd.DataFrame:
    medical = frame(mine["user_medical_profiles"]).sort_values("user_id").drop_duplicates("user_id")
    injured = medical["has_injuries"].fillna(False).astype(bool) & medical["injury_details"].notna()
    medical["injury_details"] = medical["injury_details"].where(injured, None)
    return medical.set_index("user_id")[["injury_details"]]


def _allergies(mine: dict[str, pa.Table]) -> pd.DataFrame:
    allergies = frame(mine["user_allergies"]).sort_values(["user_id", "allergen"])
    return allergies.groupby("user_id")["allergen"].agg(list).rename("allergies").to_frame()


def _body(mine: dict[str, pa.Table], as_of: dt.date, start: pd.Timestamp) -> pd.DataFrame:
    weights = frame(mine["weight_logs"])
    weights["weight_kg"] = weights["weight_kg"].astype(float)
    weights["day"] = pd.to_datetime(weights["logged_at"]).dt.tz_localize(None).dt.normalize()
    weights = weights[(weights["day"] >= start) & (weights["day"] <= pd.Timestamp(as_of))].sort_values(
        ["user_id", "logged_at"]
    )
    by_user = weights.groupby("user_id")
    first, last = by_user["weight_kg"].first(), by_user["weight_kg"].last()
    span_weeks = ((by_user["day"].last() - by_user["day"].first()).dt.days / 7).where(lambda w: w >= 1)
    body = pd.DataFrame(
        {
            "weight_kg": last.round(1),
            "weight_change_kg": (last - first).round(1),
            "weekly_weight_change_pct": ((last - first) / first * 100 / span_weeks).round(2),
            "weigh_ins": by_user.size(),
        }
    )
    sleep = frame(mine["sleep_duration_logs"])
    sleep["hours"] = sleep["sleep_duration_hours"].astype(float)
    nights = sleep.groupby("user_id")["hours"]
    body["avg_sleep_h"] = nights.mean().round(1)
    body["short_sleep_share"] = nights.apply(lambda h: float((h < 6).mean())).round(2)
    kcal = frame(mine["calorie_intake_logs"]).groupby("user_id")["calories_consumed"].mean().round(0)
    body["avg_logged_kcal"] = kcal
    return body


def _current(df: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Rows in effect on the as-of date, the latest per user."""
    day = pd.Timestamp(as_of)
    start = pd.to_datetime(df["effective_from"]).fillna(day)
    end = pd.to_datetime(df["effective_to"]).fillna(day)
    current = df[(start <= day) & (end >= day)].assign(_from=start)
    return current.sort_values(["user_id", "_from"]).drop_duplicates("user_id", keep="last").set_index("user_id")


def _targets(mine: dict[str, pa.Table], as_of: dt.date) -> pd.DataFrame:
    kcal = _current(frame(mine["calorie_targets"]), as_of)["maintenance_calories"].astype(float)
    sleep = _current(frame(mine["sleep_targets"]), as_of)["target_sleep_hours"].astype(float)
    return pd.DataFrame({"maintenance_kcal": kcal, "sleep_target_h": sleep})


def _plans(world: World, mine: dict[str, pa.Table]) -> pd.DataFrame:
    """The active plan: days per week, its exercises in order, and the equipment they need."""
    plans = frame(mine["workout_plans"])
    plans = plans.sort_values(["user_id", "is_active", "created_at"]).drop_duplicates("user_id", keep="last")
    items = frame(world.rows("plan_exercises", "plan_id", id_keys(plans["plan_id"])))
    exercises = frame(world.table("exercises")).rename(columns={"name": "exercise"})
    items = items.merge(exercises, on="exercise_id").merge(plans[["plan_id", "user_id"]], on="plan_id")
    items["plan_day"] = pd.to_numeric(items["notes"].str.extract(r"(\d+)", expand=False), errors="coerce").fillna(1)
    items = items.sort_values(["user_id", "plan_day", "position", "exercise"])
    listed = items.drop_duplicates(["user_id", "exercise"]).groupby("user_id")["exercise"].agg(list)
    day_count = items.groupby("user_id")["plan_day"].nunique()

    gear = frame(world.table("exercise_equipment")).merge(
        frame(world.table("equipment")).rename(columns={"name": "equipment"}), on="equipment_id"
    )
    used = items[["user_id", "exercise_id"]].merge(gear, on="exercise_id")
    equipment = used.sort_values("equipment").groupby("user_id")["equipment"].agg(lambda e: sorted(set(e)))

    out = plans.set_index("user_id")[["name"]].rename(columns={"name": "plan_name"})
    named_days = pd.Series(plan_names.days_per_week(out["plan_name"]), index=out.index)
    out["days_per_week"] = named_days.fillna(day_count.reindex(out.index)).astype(float)
    out["plan_exercises"] = listed
    out["equipment"] = equipment
    out["equipment"] = out["equipment"].apply(_as_list)
    out["plan_exercises"] = out["plan_exercises"].apply(_as_list)
    out["training_setting"] = np.where([set(e) <= HOME_EQUIPMENT for e in out["equipment"]], "home", "gym")
    return out


def _training(
    world: World, mine: dict[str, pa.Table], as_of: dt.date, start: pd.Timestamp, lookback: int
) -> pd.DataFrame:
    """Sessions, adherence, session length, effort and lifts over the look-back window."""
    workouts = frame(mine["workouts"])
    workouts["started"] = pd.to_datetime(workouts["started_at"]).dt.tz_localize(None)
    workouts = workouts[
        (workouts["started"] >= start) & (workouts["started"] < pd.Timestamp(as_of) + pd.Timedelta(1, "D"))
    ]
    minutes = (pd.to_datetime(workouts["ended_at"]) - pd.to_datetime(workouts["started_at"])).dt.total_seconds() / 60
    workouts = workouts.assign(minutes=minutes)
    recent_edge = pd.Timestamp(as_of) - pd.Timedelta(days=RECENT_DAYS - 1)
    by_user = workouts.groupby("user_id")
    out = pd.DataFrame(
        {
            "sessions_done": by_user.size(),
            "sessions_recent": workouts[workouts["started"] >= recent_edge].groupby("user_id").size(),
            "avg_session_min": by_user["minutes"].mean().round(0),
            "last_session": by_user["started"].max(),
        }
    )
    out["days_since_last_session"] = (pd.Timestamp(as_of) - out["last_session"].dt.normalize()).dt.days
    out = out.drop(columns="last_session")
    out["returned_after_days"] = _return_gaps(workouts)

    done = frame(world.rows("workout_exercises", "workout_id", id_keys(workouts["workout_id"])))
    sets = frame(world.rows("workout_sets", "workout_exercise_id", id_keys(done["workout_exercise_id"])))
    sets = sets[~sets["is_warmup"].fillna(False).astype(bool)]
    sets = sets.merge(done, on="workout_exercise_id").merge(workouts[["workout_id", "user_id", "started"]])
    out["avg_rir"] = sets.groupby("user_id")["rir"].mean().round(1)
    out["lift_rows"] = _lifts(world, sets, start, lookback)
    return out


RETURN_GAP_DAYS = 21  # a pause this long before the latest sessions is a lapse the user came back from


def _return_gaps(workouts: pd.DataFrame) -> pd.Series:
    """Days off before the user's latest run of sessions, where that pause was a lapse (>= 3 weeks)."""
    days = workouts.assign(day=workouts["started"].dt.normalize()).sort_values(["user_id", "day"])
    gap = days.groupby("user_id")["day"].diff().dt.days
    lapses = days.assign(gap=gap)[gap >= RETURN_GAP_DAYS]
    return lapses.groupby("user_id")["gap"].last()


def _lifts(world: World, sets: pd.DataFrame, start: pd.Timestamp, lookback: int) -> pd.Series:
    """Top three lifts by estimated 1RM (Epley), with the change from the first to the second half of the window."""
    loaded = sets[sets["weight"].notna()].copy()
    if loaded.empty:
        return pd.Series(dtype=object)
    exercises = frame(world.table("exercises")).rename(columns={"name": "exercise"})
    loaded = loaded.merge(exercises, on="exercise_id")
    # holds, carries and intervals log seconds in `reps`: an Epley max of them means nothing
    timed = {e.name for e in EXERCISES if e.timed}
    loaded = loaded[~loaded["exercise"].isin(timed)]
    if loaded.empty:
        return pd.Series(dtype=object)
    reps_to_failure = loaded["reps"].astype(float) + loaded["rir"].fillna(0).clip(0, 5).astype(float)
    loaded["e1rm"] = epley_1rm(loaded["weight"].astype(float), reps_to_failure)
    half = start + pd.Timedelta(days=lookback // 2)
    loaded["late"] = loaded["started"] >= half
    best = loaded.groupby(["user_id", "exercise"])["e1rm"].max().rename("best")
    early = loaded[~loaded["late"]].groupby(["user_id", "exercise"])["e1rm"].max().rename("early")
    late = loaded[loaded["late"]].groupby(["user_id", "exercise"])["e1rm"].max().rename("late")
    lifts = pd.concat([best, early, late], axis=1).reset_index()
    lifts = lifts.sort_values(["user_id", "best", "exercise"], ascending=[True, False, True])
    top = lifts.groupby("user_id").head(3)
    records = top.assign(
        estimated_1rm_kg=top["best"].round(1),
        change_kg=(top["late"] - top["early"]).round(1),
    )
    return records.groupby("user_id")[["exercise", "estimated_1rm_kg", "change_kg"]].apply(
        lambda g: g.to_dict("records")
    )


_NORMS = pd.Series({e.name: e.strength_ratio for e in EXERCISES if e.strength_ratio > 0}, dtype=float)


def _training_level(state: pd.DataFrame) -> pd.Series:
    """novice | intermediate | advanced from relative strength; plan days when no loaded lift is known."""
    lifts = state["lift_rows"].apply(_as_list).explode().dropna()
    level = pd.Series(np.nan, index=state.index)
    if not lifts.empty:
        table = pd.DataFrame(lifts.tolist(), index=lifts.index)
        norm = table["exercise"].map(_NORMS)
        body = state.loc[table.index, "weight_kg"].astype(float)
        sex = np.where(state.loc[table.index, "sex"] == "female", WOMEN_RELATIVE_STRENGTH, 1.0)
        ratio = (table["estimated_1rm_kg"] / (norm * body * sex)).dropna()
        level = ratio.groupby(level=0).median().reindex(state.index)
    by_strength = np.select(
        [level < LEVEL_EDGES[0], level > LEVEL_EDGES[1], level.notna()], ["novice", "advanced", "intermediate"], ""
    )
    days = state["days_per_week"].fillna(0)
    by_days = np.select([days >= 5, days >= 3], ["advanced", "intermediate"], "novice")
    return pd.Series(np.where(by_strength != "", by_strength, by_days), index=state.index)


# ---------------------------------------------------------------- one user's facts, JSON-ready


def context_summary(row: Mapping[str, Any], lookback_days: int) -> ContextSummary:
    """The facts a coach (and the mock coach) reads; numbers rounded the way the app shows them."""
    days = _num(row["days_per_week"])
    weeks = lookback_days / 7
    planned = days * weeks if days else None
    sessions = int(_num(row["sessions_done"]) or 0)
    recent = int(_num(row["sessions_recent"]) or 0)
    adherence = round(min(sessions / planned, 1.0), 2) if planned else None
    adherence_recent = round(min(recent / (days * RECENT_DAYS / 7), 1.0), 2) if days else None
    lifts = [
        {
            "exercise": lift["exercise"],
            "estimated_1rm_kg": float(lift["estimated_1rm_kg"]),
            "change_kg": _num(lift["change_kg"]),
        }
        for lift in (row["lift_rows"] if isinstance(row["lift_rows"], list) else [])
    ]
    return {
        "age": int(row["age"]),
        "sex": row["sex"],
        "height_cm": round(float(row["height_cm"]), 1),
        "weight_kg": _num(row["weight_kg"]),
        "bmi": _num(row["bmi"]),
        "goal": row["goal"],
        "secondary_goal": row["secondary_goal"] if isinstance(row["secondary_goal"], str) else None,
        "activity_level": row["activity_level"],
        "experience": row["experience"],
        "training_setting": row["training_setting"] if isinstance(row["training_setting"], str) else "home",
        "equipment": list(row["equipment"]) if isinstance(row["equipment"], list) else [],
        "conditions": list(row["conditions"]),
        "condition_severity": dict(row["condition_severity"]),
        "medications": list(row["medications"]),
        "medication_details": list(row["medication_details"]),
        "injury_details": row["injury_details"] if isinstance(row["injury_details"], str) else None,
        "allergies": list(row["allergies"]) if isinstance(row["allergies"], list) else [],
        "days_per_week": days,
        "plan_exercises": list(row["plan_exercises"]) if isinstance(row["plan_exercises"], list) else [],
        "sessions_last_window": sessions,
        "sessions_last_14_days": recent,
        "adherence_rate": adherence,
        "adherence_last_14_days": adherence_recent,
        "days_since_last_session": _int(row["days_since_last_session"]),
        "returned_after_days": _int(row.get("returned_after_days")),
        "avg_session_min": _num(row["avg_session_min"]),
        "avg_working_set_rir": _num(row["avg_rir"]),
        "weight_change_kg": _num(row["weight_change_kg"]),
        "weekly_weight_change_pct": _num(row["weekly_weight_change_pct"]),
        "avg_sleep_h": _num(row["avg_sleep_h"]),
        "sleep_target_h": _num(row["sleep_target_h"]),
        "short_sleep_share": _num(row["short_sleep_share"]),
        "avg_logged_kcal": _num(row["avg_logged_kcal"]),
        "maintenance_kcal": _num(row["maintenance_kcal"]),
        "top_lifts": lifts,
        "window_days": lookback_days,
    }


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(number) else number


def _int(value: Any) -> int | None:
    number = _num(value)
    return None if number is None else int(number)
