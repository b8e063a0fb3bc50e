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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fitsense_luigi import ids
from fitsense_luigi.contracts.rows import ContextSummary
from fitsense_luigi.contracts.world import World, as_world, frame, id_keys, positions, storage_of, uuid_strings
from fitsense_luigi.physiology import WOMEN_RELATIVE_STRENGTH, epley_1rm
from fitsense_luigi.reference.catalogue import EXERCISES
from fitsense_luigi.reference.equipment import HOME_EQUIPMENT
from fitsense_luigi.reference.safety import MEDICATIONS_WITH_RULES
from fitsense_luigi.synth import plan_names

AGE_BANDS = ((18, 29, "18-29"), (30, 39, "30-39"), (40, 49, "40-49"), (50, 59, "50-59"), (60, 200, "60+"))
LEVEL_EDGES = (0.85, 1.25)  # relative strength vs the intermediate norm: midpoints of the strength-standard ladder
RECENT_DAYS = 14

POPULATION_TABLES = ("user_profiles", "goals", "user_goals", "user_conditions", "user_medications")  # who may ask
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
    """Every user with the facts that decide who asks what: slice tags and safety relevance, sorted by id
    (and the world part the user is in).

    Computed on the raw columns (ids as bytes, dates as numbers) and turned into text once at the end:
    each query shard computes it over the whole population.
    """
    world = as_world(world, COLUMNS)
    profiles = world.table("user_profiles", ["user_id", "date_of_birth", "sex", "activity_level"])
    part = np.repeat(np.arange(len(sizes := world.part_sizes("user_profiles"))), sizes)  # the world part of each row
    order = _byte_order(profiles["user_id"])
    profiles = profiles.take(pa.array(order))
    ids = profiles["user_id"]
    people = pd.DataFrame(
        {
            "user_id": uuid_strings(ids),
            "part": part[order],
            "age": _age(profiles["date_of_birth"], as_of),
            "sex": profiles["sex"].to_numpy(zero_copy_only=False),
            "activity_level": profiles["activity_level"].to_numpy(zero_copy_only=False),
        }
    )
    primary, secondary = _primary_goals(world, ids)
    people["goal"] = np.where(pd.isna(primary), "general_fitness", primary)
    people["secondary_goal"] = secondary
    people["age_band"] = people["age"].map(age_band)
    relevant = np.zeros(len(people), bool)
    relevant[_present(world.table("user_conditions", ["user_id"])["user_id"], ids)] = True
    meds = world.table("user_medications", ["user_id", "medication_name", "start_date", "end_date"])
    current = _in_effect(meds, "start_date", "end_date", as_of)
    constrained = pc.is_in(meds["medication_name"], value_set=pa.array(sorted(MEDICATIONS_WITH_RULES), pa.string()))
    taking = np.asarray(current & constrained.fill_null(False).to_numpy(zero_copy_only=False), bool)
    relevant[_present(meds["user_id"].filter(pa.array(taking)), ids)] = True
    people["safety_relevant"] = relevant
    return people


def _byte_order(column: pa.ChunkedArray) -> np.ndarray:
    """Row order that sorts a uuid column by its bytes (the order of the canonical text)."""
    raw = ids.from_arrow(column)
    high = raw[:, :8].copy().view(">u8").ravel()
    low = raw[:, 8:].copy().view(">u8").ravel()
    return np.lexsort((low, high))


def _present(values: pa.ChunkedArray, among: pa.ChunkedArray) -> np.ndarray:
    """Rows of ``among`` that occur in ``values``."""
    found = positions(values, among)
    return np.unique(found[found >= 0])


def _dates(column: pa.ChunkedArray) -> np.ndarray:
    """A date column as datetime64[D] (NULL -> NaT)."""
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype="datetime64[D]")


def _in_effect(table: pa.Table, begins: str, ends: str, as_of: dt.date) -> np.ndarray:
    """Rows in effect on the as-of date: started (or no start) and not ended before it (or no end)."""
    day = np.datetime64(as_of, "D")
    start, end = _dates(table[begins]), _dates(table[ends])
    return (np.isnat(start) | (start <= day)) & (np.isnat(end) | (end >= day))


def _age(dob: pa.ChunkedArray, as_of: dt.date) -> np.ndarray:
    born = _dates(dob)
    years = born.astype("datetime64[Y]")
    months = born.astype("datetime64[M]")
    year = years.astype(np.int64) + 1970
    month = (months - years.astype("datetime64[M]")).astype(np.int64) + 1
    day = (born - months.astype("datetime64[D]")).astype(np.int64) + 1
    before_birthday = (month > as_of.month) | ((month == as_of.month) & (day > as_of.day))
    return (as_of.year - year - before_birthday.astype(np.int64)).astype(int)


def _primary_goals(world: World, ids: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Each user's first and second goal by priority (then name); None where there is none."""
    goals = world.table("goals", ["goal_id", "name"])
    chosen = world.table("user_goals", ["user_id", "goal_id", "priority"])
    goal = positions(chosen["goal_id"], goals["goal_id"])
    user = positions(chosen["user_id"], ids)
    names = goals["name"].to_numpy(zero_copy_only=False).astype(object)
    keep = (goal >= 0) & (user >= 0)
    goal, user = goal[keep], user[keep]
    priority = _numbers(chosen["priority"])[keep]
    name_rank = np.argsort(np.argsort(names.astype(str), kind="stable"))
    order = np.lexsort((name_rank[goal], np.nan_to_num(priority, nan=np.inf), user))
    goal, user = goal[order], user[order]
    nth = np.arange(user.size) - np.searchsorted(user, user)  # 0 for each user's first goal, 1 for the second
    primary = np.full(len(ids), None, dtype=object)
    secondary = np.full(len(ids), np.nan, dtype=object)
    primary[user[nth == 0]] = names[goal[nth == 0]]
    secondary[user[nth == 1]] = names[goal[nth == 1]]
    return primary, secondary


def _conditions(world: World, askers: Askers) -> pd.DataFrame:
    names = frame(world.table("conditions")).rename(columns={"name": "condition"})
    rows = askers.frame(world.rows("user_conditions", "user_id", askers.keys)).merge(names, on="condition_id")
    rows = rows.sort_values(["user_id", "condition"])
    rows["severity"] = rows["severity"].fillna("")
    out = _list_columns(rows, {"conditions": "condition", "severity": "severity"})
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


def _medications(world: World, askers: Askers, as_of: dt.date) -> pd.DataFrame:
    meds = _current_medications(askers.frame(world.rows("user_medications", "user_id", askers.keys)), as_of)
    detail = meds["medication_name"] + " " + meds["dosage"].fillna("").astype(str) + " " + meds["frequency"].fillna("")
    meds = meds.assign(detail=detail.str.split().str.join(" "))
    return _list_columns(meds, {"medications": "medication_name", "medication_details": "detail"}).reset_index()


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
    """One row of facts per user in ``user_ids`` (index: user_id).

    Inside, a user is their number in the sorted list of askers (so ordering by it orders by id), and the
    ids become text once, on the result: tables of millions of rows never carry a text column of ids.
    """
    world = as_world(world, COLUMNS)
    wanted = sorted(set(user_ids))
    askers = Askers(id_keys(wanted))
    window_start = pd.Timestamp(as_of) - pd.Timedelta(days=lookback_days - 1)
    mine = {name: world.rows(name, "user_id", askers.keys) for name in _PER_USER}

    state = people.set_index("user_id").loc[wanted].reset_index(drop=True)
    state = state.join(_conditions(world, askers).set_index("user_id"))
    state = state.join(_medications(world, askers, as_of).set_index("user_id"))
    for name in ("conditions", "medications", "medication_details"):
        state[name] = state[name].apply(_as_list)
    state["condition_severity"] = state["condition_severity"].apply(lambda v: v if isinstance(v, dict) else {})
    profiles = askers.frame(mine["user_profiles"]).set_index("user_id")
    state["height_cm"] = profiles["height_cm"].astype(float)
    state = state.join(_medical(askers, mine))
    state = state.join(_allergies(askers, mine))
    state = state.join(_body(askers, mine, as_of, window_start))
    state = state.join(_targets(askers, mine, as_of))
    state = state.join(_plans(world, askers, mine))
    state = state.join(_training(world, askers, mine, as_of, window_start, lookback_days))
    state["bmi"] = (state["weight_kg"] / (state["height_cm"] / 100) ** 2).round(1)
    state["experience"] = _training_level(state)
    # the user's own plan says novice: a novice for safety (NSCA: plyometrics need a base), whatever the lifts say
    labelled_novice = plan_names.experience_levels(state["plan_name"]) == plan_names.EXPERIENCE_LEVELS.index("novice")
    state.loc[labelled_novice, "experience"] = "novice"
    state.index = pd.Index(wanted, name="user_id")
    return state


class Askers:
    """The asking users: their ids as stored (``keys``, sorted) and each one's number, its place among them."""

    def __init__(self, keys: pa.Array) -> None:
        self.keys = keys

    def numbers(self, column: pa.ChunkedArray | pa.Array) -> np.ndarray:
        return positions(column, self.keys)

    def frame(self, table: pa.Table) -> pd.DataFrame:
        """:func:`frame` with ``user_id`` as the user's number."""
        df = frame(table.drop_columns(["user_id"]))
        df.insert(table.column_names.index("user_id"), "user_id", self.numbers(table["user_id"]))
        return df


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


def _medical(askers: Askers, mine: dict[str, pa.Table]) -> pd.DataFrame:
    medical = askers.frame(mine["user_medical_profiles"]).sort_values("user_id").drop_duplicates("user_id")
    injured = medical["has_injuries"].fillna(False).astype(bool) & medical["injury_details"].notna()
    medical["injury_details"] = medical["injury_details"].where(injured, None)
    return medical.set_index("user_id")[["injury_details"]]


def _allergies(askers: Askers, mine: dict[str, pa.Table]) -> pd.DataFrame:
    allergies = askers.frame(mine["user_allergies"]).sort_values(["user_id", "allergen"])
    return _list_columns(allergies, {"allergies": "allergen"})


def _body(askers: Askers, mine: dict[str, pa.Table], as_of: dt.date, start: pd.Timestamp) -> pd.DataFrame:
    weights = askers.frame(mine["weight_logs"])
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
    sleep = askers.frame(mine["sleep_duration_logs"])
    sleep["hours"] = sleep["sleep_duration_hours"].astype(float)
    body["avg_sleep_h"] = sleep.groupby("user_id")["hours"].mean().round(1)
    body["short_sleep_share"] = (sleep["hours"] < 6).groupby(sleep["user_id"]).mean().round(2)
    kcal = askers.frame(mine["calorie_intake_logs"]).groupby("user_id")["calories_consumed"].mean().round(0)
    body["avg_logged_kcal"] = kcal
    return body


def _current(df: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Rows in effect on the as-of date, the latest per user."""
    day = pd.Timestamp(as_of)
    start = pd.to_datetime(df["effective_from"]).fillna(day)
    end = pd.to_datetime(df["effective_to"]).fillna(day)
    current = df[(start <= day) & (end >= day)].assign(_from=start)
    return current.sort_values(["user_id", "_from"]).drop_duplicates("user_id", keep="last").set_index("user_id")


def _targets(askers: Askers, mine: dict[str, pa.Table], as_of: dt.date) -> pd.DataFrame:
    kcal = _current(askers.frame(mine["calorie_targets"]), as_of)["maintenance_calories"].astype(float)
    sleep = _current(askers.frame(mine["sleep_targets"]), as_of)["target_sleep_hours"].astype(float)
    return pd.DataFrame({"maintenance_kcal": kcal, "sleep_target_h": sleep})


def _plans(world: World, askers: Askers, mine: dict[str, pa.Table]) -> pd.DataFrame:
    """The active plan: days per week, its exercises in order, and the equipment they need."""
    chosen = mine["workout_plans"]
    plans = askers.frame(chosen.drop_columns(["plan_id"])).assign(plan_row=np.arange(chosen.num_rows))
    plans = plans.sort_values(["user_id", "is_active", "created_at"]).drop_duplicates("user_id", keep="last")
    chosen = chosen.take(pa.array(plans["plan_row"].to_numpy()))
    found = world.rows("plan_exercises", "plan_id", storage_of(chosen["plan_id"]))
    catalogue = world.table("exercises")
    exercise_row = positions(found["exercise_id"], catalogue["exercise_id"])
    plan_row = positions(found["plan_id"], chosen["plan_id"])
    joined = (exercise_row >= 0) & (plan_row >= 0)  # inner joins, in the stored order of the plan exercises
    exercise_row, plan_row = exercise_row[joined], plan_row[joined]
    found = found.filter(pa.array(joined))
    items = pd.DataFrame(
        {
            "user_id": plans["user_id"].to_numpy()[plan_row],
            "exercise_row": exercise_row,
            "exercise": catalogue["name"].to_numpy(zero_copy_only=False)[exercise_row],
            "position": found["position"].to_numpy(zero_copy_only=False),
            "notes": found["notes"].to_pandas(),
        }
    )
    items["plan_day"] = pd.to_numeric(items["notes"].str.extract(r"(\d+)", expand=False), errors="coerce").fillna(1)
    items = items.sort_values(["user_id", "plan_day", "position", "exercise"])
    listed = _lists(items.drop_duplicates(["user_id", "exercise"]), "exercise")
    day_count = items.groupby("user_id")["plan_day"].nunique()

    pairs = world.table("exercise_equipment", ["exercise_id", "equipment_id"])
    kinds = world.table("equipment", ["equipment_id", "name"])
    needs = pd.DataFrame(
        {
            "exercise_row": positions(pairs["exercise_id"], catalogue["exercise_id"]),
            "equipment": np.append(kinds["name"].to_numpy(zero_copy_only=False), None)[
                positions(pairs["equipment_id"], kinds["equipment_id"])
            ],
        }
    ).dropna()
    used = items[["user_id", "exercise_row"]].merge(needs, on="exercise_row")
    equipment = _lists(
        used.drop_duplicates(["user_id", "equipment"]).sort_values(["user_id", "equipment"]), "equipment"
    )

    out = plans.set_index("user_id")[["name"]].rename(columns={"name": "plan_name"})
    named_days = pd.Series(plan_names.days_per_week(out["plan_name"]), index=out.index)
    out["days_per_week"] = named_days.fillna(day_count.reindex(out.index)).astype(float)
    out["plan_exercises"] = pd.Series(listed, dtype=object)
    out["equipment"] = pd.Series(equipment, dtype=object)
    out["equipment"] = out["equipment"].apply(_as_list)
    out["plan_exercises"] = out["plan_exercises"].apply(_as_list)
    out["training_setting"] = np.where([set(e) <= HOME_EQUIPMENT for e in out["equipment"]], "home", "gym")
    return out


def _list_columns(rows: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    """Per user (index ``user_id``), a list of each column's values in the rows' order (rows grouped by user):
    ``groupby(...).agg(list)`` without a Python call per user."""
    lists = {name: pd.Series(_lists(rows, column), dtype=object) for name, column in columns.items()}
    return pd.DataFrame(lists, columns=list(lists)).rename_axis("user_id")


def _lists(rows: pd.DataFrame, column: str) -> dict[int, list[Any]]:
    """Each user's values of ``column``, in the rows' order (rows grouped by user, as sorting leaves them)."""
    users = rows["user_id"].to_numpy()
    values = rows[column].to_numpy(dtype=object)
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if users.size else np.zeros(0, np.int64)
    return {int(users[a]): values[a:b].tolist() for a, b in zip(starts, np.r_[starts[1:], users.size], strict=True)}


def _training(
    world: World, askers: Askers, mine: dict[str, pa.Table], as_of: dt.date, start: pd.Timestamp, lookback: int
) -> pd.DataFrame:
    """Sessions, adherence, session length, effort and lifts over the look-back window.

    The sets of every asker's sessions (millions of rows at 100,000 users) are joined to their exercises and
    sessions by position (one hash lookup per join, on the raw 16-byte ids), never as text; only the
    per-user aggregates go through pandas, over the sets in the order they are stored.
    """
    table = mine["workouts"]
    workouts = askers.frame(table.drop_columns(["workout_id"]))
    workouts["started"] = pd.to_datetime(workouts["started_at"]).dt.tz_localize(None)
    inside = (workouts["started"] >= start) & (workouts["started"] < pd.Timestamp(as_of) + pd.Timedelta(1, "D"))
    table, workouts = table.filter(pa.array(inside.to_numpy())), workouts[inside].reset_index(drop=True)
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

    # inner joins in the order of the sets: each row's parent is found by the lookup that chose it
    done, session_of = world.joined("workout_exercises", "workout_id", storage_of(table["workout_id"]))
    sets, exercise_row = world.joined("workout_sets", "workout_exercise_id", storage_of(done["workout_exercise_id"]))
    working = pc.invert(pc.fill_null(sets["is_warmup"], False)).to_numpy(zero_copy_only=False)
    sets, exercise_row = sets.filter(pa.array(working)), exercise_row[working]
    session_row = session_of[exercise_row]
    catalogue = world.table("exercises")
    performed = Performed(
        user=workouts["user_id"].to_numpy()[session_row],
        started=workouts["started"].to_numpy()[session_row],
        exercise=positions(done["exercise_id"], catalogue["exercise_id"])[exercise_row],
        reps=_numbers(sets["reps"]),
        weight=_numbers(sets["weight"]),
        rir=_numbers(sets["rir"]),
    )
    out["avg_rir"] = pd.Series(performed.rir).groupby(performed.user).mean().round(1)
    out["lift_rows"] = _lifts(performed, catalogue["name"].to_numpy(zero_copy_only=False), start, lookback)
    return out


@dataclass(frozen=True)
class Performed:
    """The askers' working sets in the window, in stored order: the asker's number, the session's start, the
    exercise's row in the catalogue (-1: not in it) and the set's numbers (NaN where not logged)."""

    user: np.ndarray
    started: np.ndarray
    exercise: np.ndarray
    reps: np.ndarray
    weight: np.ndarray
    rir: np.ndarray


RETURN_GAP_DAYS = 21  # a pause this long before the latest sessions is a lapse the user came back from


def _return_gaps(workouts: pd.DataFrame) -> pd.Series:
    """Days off before the user's latest run of sessions, where that pause was a lapse (>= 3 weeks)."""
    days = workouts.assign(day=workouts["started"].dt.normalize()).sort_values(["user_id", "day"])
    gap = days.groupby("user_id")["day"].diff().dt.days
    lapses = days.assign(gap=gap)[gap >= RETURN_GAP_DAYS]
    return lapses.groupby("user_id")["gap"].last()


def _numbers(column: pa.ChunkedArray) -> np.ndarray:
    """A numeric column as float64 (NULL -> NaN; decimals converted exactly as Python's float() does)."""
    return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)


def _lifts(sets: Performed, names: np.ndarray, start: pd.Timestamp, lookback: int) -> pd.Series:
    """Top three lifts by estimated 1RM (Epley), with the change from the first to the second half of the window.

    Exercises are grouped by their name's rank among the catalogue's names (ties then fall in name order), so
    millions of sets never carry a text column.
    """
    ranked, rank = np.unique(names.astype(str), return_inverse=True)
    # holds, carries and intervals log seconds in `reps`: an Epley max of them means nothing
    timed = np.isin(ranked, [e.name for e in EXERCISES if e.timed])
    known = sets.exercise >= 0
    code = np.where(known, rank[np.where(known, sets.exercise, 0)], -1)
    loaded = ~np.isnan(sets.weight) & known
    loaded[loaded] = ~timed[code[loaded]]
    if not loaded.any():
        return pd.Series(dtype=object)
    user, code, started = sets.user[loaded], code[loaded], sets.started[loaded]
    reps_to_failure = sets.reps[loaded] + np.clip(np.nan_to_num(sets.rir[loaded], nan=0.0), 0, 5)
    e1rm = pd.Series(epley_1rm(sets.weight[loaded], reps_to_failure))
    key = user.astype(np.int64) * ranked.size + code  # one integer per (user, exercise)
    late_half = started >= (start + pd.Timedelta(days=lookback // 2)).to_datetime64()
    best = e1rm.groupby(key).max().rename("best")
    early = e1rm[~late_half].groupby(key[~late_half]).max().rename("early")
    late = e1rm[late_half].groupby(key[late_half]).max().rename("late")
    lifts = pd.concat([best, early, late], axis=1)
    lifts = lifts.assign(user_id=lifts.index // ranked.size, exercise=lifts.index % ranked.size)
    lifts = lifts.sort_values(["user_id", "best", "exercise"], ascending=[True, False, True])
    top = lifts.groupby("user_id").head(3)
    rows: dict[int, list[dict[str, Any]]] = {}
    one_rm, change = top["best"].round(1).to_numpy(), (top["late"] - top["early"]).round(1).to_numpy()
    exercises = ranked.astype(object)[top["exercise"].to_numpy()]
    for user_id, exercise, kg, delta in zip(top["user_id"], exercises, one_rm, change, strict=True):
        rows.setdefault(user_id, []).append(
            {"exercise": exercise, "estimated_1rm_kg": float(kg), "change_kg": float(delta)}
        )
    return pd.Series(rows, dtype=object)


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
