"""Per-user facts gathered from the synthetic tables as they stream past, block by block.

The observer sees exactly the Arrow tables that are written to Parquet. It
keeps sums per user (never the rows), and joins the six training tables only
within the block they arrive in, so its memory stays flat however many users a
run has. The profile tables (one row or a few per user) are read whole.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fitsense_luigi import ids
from fitsense_luigi.physiology import epley_1rm
from fitsense_luigi.reference.conditions import CONDITIONS
from fitsense_luigi.reference.medications import MEDICATIONS
from fitsense_luigi.synth import demography, plan_names
from fitsense_luigi.synth import exercises as ex
from fitsense_luigi.synth import published as pub

PROFILE_TABLES = (
    "users",
    "user_profiles",
    "goals",
    "user_goals",
    "conditions",
    "user_conditions",
    "user_medications",
    "user_allergies",
    "calorie_targets",
)
TRAINING_TABLES = ("workout_plans", "plan_exercises", "plan_sets", "workouts", "workout_exercises", "workout_sets")
_US_PER_DAY = 86_400_000_000
_FOOD = set(pub.FOOD_ALLERGEN_PREVALENCE)
BENCH = list(ex.NAMES).index("Barbell Bench Press")


def key64(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A uuid column as 64-bit keys (its first 8 bytes: 60 random bits, plenty to tell rows apart)."""
    raw = ids.from_arrow(column)
    return np.ascontiguousarray(raw[:, :8]).view(np.uint64).ravel()


def key64_or_missing(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Like :func:`key64` for a nullable uuid column: NULL becomes key 0, which no row has."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not column.null_count:
        return key64(column)
    storage = pc.fill_null(column.storage, pa.scalar(b"\0" * 16, pa.binary(16)))
    return key64(storage)


def floats(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)


def micros(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False)


def days(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.cast(column, pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)


class Lookup:
    """Vectorised dict from 64-bit keys to row positions.

    Child rows usually come grouped by parent and in the parent's order (all sets
    of an exercise, all logs of a user), so each run of equal keys is looked up
    once, and when the runs are exactly the parent rows no search is needed.
    """

    def __init__(self, keys: np.ndarray) -> None:
        self.keys = keys
        self._order: np.ndarray | None = None

    def _find(self, keys: np.ndarray) -> np.ndarray:
        if keys.size == self.keys.size and np.array_equal(keys, self.keys):
            return np.arange(keys.size)
        if self._order is None:
            self._order = np.argsort(self.keys, kind="stable")
            self._sorted = self.keys[self._order]
        if self._sorted.size == 0:
            return np.full(keys.size, -1)
        pos = np.clip(np.searchsorted(self._sorted, keys), 0, self._sorted.size - 1)
        return np.where(self._sorted[pos] == keys, self._order[pos], -1)

    def __call__(self, keys: np.ndarray) -> np.ndarray:
        """Positions of ``keys``; -1 where absent."""
        if keys.size == 0:
            return np.zeros(0, dtype=np.int64)
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        if starts.size * 2 > keys.size:
            return self._find(keys)
        return np.repeat(self._find(keys[starts]), np.diff(np.r_[starts, keys.size]))


# exercise ids are the catalogue's stable ids (reference.row_ids.catalog_id), so the catalogue interprets them
_EXERCISE = Lookup(key64(ids.to_arrow(ex.IDS)))


class Observer:
    """Collects per-user sums from the workouts stage; :meth:`people` and friends expose them for the checks."""

    def __init__(self, profiles: dict[str, pa.Table], as_of: dt.date, lookback_days: int) -> None:
        self.as_of, self.lookback = as_of, lookback_days
        self.window_start = int(np.datetime64(as_of, "D").astype(np.int64)) - (lookback_days - 1)
        # adherence, intake and weight trends are judged over the first 12 weeks of the window: the span of the
        # training programmes and diets the published figures come from (a diet is a phase, not a way of life)
        self.horizon_days = min(lookback_days, 84)
        self.user = Lookup(key64(profiles["users"]["user_id"]))
        self.n = profiles["users"].num_rows
        self._people(profiles)
        z = np.zeros
        n = self.n
        self.kcal = {k: z(n) for k in ("n", "sum", "sumsq", "weekend_sum", "weekend_n", "weekday_sum", "weekday_n")}
        self.sleep = {k: z(n) for k in ("n", "sum", "weekend_sum", "weekend_n", "weekday_sum", "weekday_n")}
        self.weight = {k: z(n) for k in ("n", "t", "tt", "w", "tw")}
        self.weight["first_t"] = np.full(n, np.inf)
        self.weight["first_w"] = np.full(n, np.nan)
        self.weight["last_t"] = np.full(n, -np.inf)
        self.weight["last_w"] = np.full(n, np.nan)
        self.lightest = np.full(n, np.inf)  # lowest weigh-in over the whole window
        self.body_fat_hist = np.zeros(1001)  # smart-scale body fat in 0.1% steps
        self.workouts = {k: z(n) for k in ("count", "first4", "last4", "recent28", "window")}
        self.start_hour_utc = np.zeros(24)
        self.fortnights = np.zeros((n, max(self.horizon_days // 14, 1)))  # sessions per fortnight of the horizon
        self.rir_values = np.zeros((3, 11))  # (plan experience, RIR 0..10) working sets with a logged RIR
        self.minutes = np.zeros(601)
        self.plan_days = np.full(n, np.nan)
        self.plan_experience = np.full(n, -1)
        self.plan_setting = np.full(n, "", dtype=object)
        self.rep_range = {"in_range": 0, "total": 0}
        self.bench = {"sum": z(n), "n": z(n)}  # RIR-adjusted Epley e1RM of bench sets in the first three weeks
        self.progression: list[np.ndarray] = []
        self._pending: dict[str, pa.Table] = {}

    # ------------------------------------------------------------------ profiles
    def _people(self, p: dict[str, pa.Table]) -> None:
        profile = p["user_profiles"]
        at = self.user(key64(profile["user_id"]))
        birth = days(profile["date_of_birth"])
        self.age = np.full(self.n, np.nan)
        self.age[at] = (np.datetime64(self.as_of, "D").astype(np.int64) - birth) / demography.DAYS_PER_YEAR
        self.band = demography.age_band(np.nan_to_num(self.age, nan=18.0))
        self.sex = np.full(self.n, -1)
        self.sex[at] = np.where(profile["sex"].to_numpy(zero_copy_only=False) == "male", 1, 0)
        self.height = np.full(self.n, np.nan)
        self.height[at] = floats(profile["height_cm"])

        self.activity = np.full(self.n, "", dtype=object)
        self.activity[at] = profile["activity_level"].to_numpy(zero_copy_only=False)

        goal_names = p["goals"]["name"].to_numpy(zero_copy_only=False).astype(object)
        ug = p["user_goals"]
        primary = floats(ug["priority"]) == 1
        self.goal = np.full(self.n, "", dtype=object)
        goal_of = Lookup(key64(p["goals"]["goal_id"]))
        self.goal[self.user(key64(ug["user_id"])[primary])] = goal_names[goal_of(key64(ug["goal_id"])[primary])]
        loss = goal_names[goal_of(key64(ug["goal_id"]))] == "weight_loss"
        self.wants_loss = np.zeros(self.n, bool)  # weight loss at any priority
        self.wants_loss[self.user(key64(ug["user_id"])[loss])] = True

        names = dict(zip(key64(p["conditions"]["condition_id"]), p["conditions"]["name"].to_pylist(), strict=True))
        uc = p["user_conditions"]
        who, which = self.user(key64(uc["user_id"])), key64(uc["condition_id"])
        self.conditions = {c: np.zeros(self.n, bool) for c in CONDITIONS}
        for k, c in names.items():
            self.conditions.setdefault(c, np.zeros(self.n, bool))[who[which == k]] = True

        meds = p["user_medications"]
        current = pc.or_kleene(pc.is_null(meds["end_date"]), pc.greater_equal(meds["end_date"], pa.scalar(self.as_of)))
        self.stopped_medications = meds.num_rows - int(pc.sum(current.cast(pa.int64())).as_py() or 0)
        meds = meds.filter(current)  # drugs taken on the as-of date
        med_user = self.user(key64(meds["user_id"]))
        med_name = meds["medication_name"].to_numpy(zero_copy_only=False)
        self.medications = {m.name: np.zeros(self.n, bool) for m in MEDICATIONS}
        for name in np.unique(med_name):
            self.medications.setdefault(str(name), np.zeros(self.n, bool))[med_user[med_name == name]] = True

        allergies = p["user_allergies"]
        allergy_user = self.user(key64(allergies["user_id"]))
        allergen = allergies["allergen"].to_numpy(zero_copy_only=False)
        food = np.isin(allergen, list(_FOOD))
        self.food_allergy = np.zeros(self.n, bool)
        self.food_allergy[allergy_user[food]] = True
        self.penicillin = np.zeros(self.n, bool)
        self.penicillin[allergy_user[allergen == "penicillin"]] = True
        self.food_allergens = {str(a): int((allergen == a).sum()) for a in np.unique(allergen[food])}

        targets = p["calorie_targets"]
        self.maintenance = np.full(self.n, np.nan)
        self.maintenance[self.user(key64(targets["user_id"]))] = floats(targets["maintenance_calories"])
        target = pc.extract_regex(targets["notes"].combine_chunks(), r"^target (?P<kcal>\d+) kcal/day")
        self.target_kcal = np.full(self.n, np.nan)
        self.target_kcal[self.user(key64(targets["user_id"]))] = floats(target.field("kcal"))

    # ------------------------------------------------------------------ streaming
    def watch(self, pieces: Iterable[tuple[str, pa.Table]]) -> Iterator[tuple[str, pa.Table]]:
        """Pass pieces through unchanged, observing each one."""
        for name, table in pieces:
            self.add(name, table)
            yield name, table

    def add(self, name: str, table: pa.Table) -> None:
        if name == "calorie_intake_logs":
            self._kcal(table)
        elif name == "sleep_duration_logs":
            self._sleep(table)
        elif name == "weight_logs":
            self._weight(table)
        elif name in TRAINING_TABLES:
            self._pending[name] = table
            if len(self._pending) == len(TRAINING_TABLES):
                self._training(self._pending)
                self._pending = {}

    def _day_parts(self, table: pa.Table, date_column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        user = self.user(key64(table["user_id"]))
        day = days(table[date_column])
        weekday = (day + 3) % 7
        return user, weekday >= 5, weekday <= 3

    def _kcal(self, table: pa.Table) -> None:
        table = table.filter(pc.less(table["log_date"], self._horizon_end()))
        user, weekend, mon_thu = self._day_parts(table, "log_date")
        kcal = floats(table["calories_consumed"])
        self._add(self.kcal, user, n=1.0, sum=kcal, sumsq=kcal**2)
        self._add(self.kcal, user[weekend], weekend_sum=kcal[weekend], weekend_n=1.0)
        self._add(self.kcal, user[mon_thu], weekday_sum=kcal[mon_thu], weekday_n=1.0)

    def _sleep(self, table: pa.Table) -> None:
        user, weekend, _ = self._day_parts(table, "log_date")
        hours = floats(table["sleep_duration_hours"])
        self._add(self.sleep, user, n=1.0, sum=hours)
        self._add(self.sleep, user[weekend], weekend_sum=hours[weekend], weekend_n=1.0)
        self._add(self.sleep, user[~weekend], weekday_sum=hours[~weekend], weekday_n=1.0)

    def _horizon_end(self) -> pa.Scalar:
        return pa.scalar(self.window_start + self.horizon_days, pa.int32()).cast(pa.date32())

    def _weight(self, table: pa.Table) -> None:
        everyone = self.user(key64(table["user_id"]))
        np.fmin.at(self.lightest, everyone, floats(table["weight_kg"]))
        fat = floats(table["body_fat_percentage"])
        fat = np.clip(np.round(fat[np.isfinite(fat)] * 10).astype(np.int64), 0, 1000)
        self.body_fat_hist += np.bincount(fat, minlength=1001)
        table = table.filter(pc.less(pc.cast(table["logged_at"], pa.date32()), self._horizon_end()))
        user = self.user(key64(table["user_id"]))
        t = micros(table["logged_at"]) / _US_PER_DAY - self.window_start
        kg = floats(table["weight_kg"])
        self._add(self.weight, user, n=1.0, t=t, tt=t * t, w=kg, tw=t * kg)
        order = np.lexsort((t, user))
        first = order[np.r_[True, user[order][1:] != user[order][:-1]]]
        earlier = t[first] < self.weight["first_t"][user[first]]
        self.weight["first_t"][user[first][earlier]] = t[first][earlier]
        self.weight["first_w"][user[first][earlier]] = kg[first][earlier]
        last = order[np.r_[user[order][1:] != user[order][:-1], True]]
        later = t[last] > self.weight["last_t"][user[last]]
        self.weight["last_t"][user[last][later]] = t[last][later]
        self.weight["last_w"][user[last][later]] = kg[last][later]

    @staticmethod
    def _add(store: dict[str, np.ndarray], user: np.ndarray, **values: np.ndarray | float) -> None:
        for name, value in values.items():
            store[name] += np.bincount(user, weights=np.broadcast_to(value, user.shape), minlength=store[name].size)

    def _training(self, t: dict[str, pa.Table]) -> None:
        plans = t["workout_plans"]
        plan_user = self.user(key64(plans["user_id"]))
        named = plan_names.fields(plans["name"])
        self.plan_days[plan_user] = floats(named["days"])
        self.plan_experience[plan_user] = plan_names.experience_levels(plans["name"])
        self.plan_setting[plan_user] = named["setting"].fill_null("").to_numpy(zero_copy_only=False)
        plan_of = Lookup(key64(plans["plan_id"]))

        pe = t["plan_exercises"]
        pe_lookup = Lookup(key64(pe["plan_exercise_id"]))
        pe_user = plan_user[plan_of(key64(pe["plan_id"]))]
        pe_exercise = _EXERCISE(key64(pe["exercise_id"]))
        compound = ex.COMPOUND[pe_exercise] & ex.LOADED[pe_exercise]  # ACSM ranges are RM loads
        self._rep_ranges(t["plan_sets"], pe_lookup, pe_user, compound)

        sets = t["plan_sets"]
        first_set = sets.filter(pc.equal(sets["set_number"], 1))
        target = np.full(pe.num_rows, np.nan)
        target[pe_lookup(key64(first_set["plan_exercise_id"]))] = floats(first_set["target_reps"])

        workouts = t["workouts"]
        w_user = self.user(key64(workouts["user_id"]))
        start = micros(workouts["started_at"])
        day = start // _US_PER_DAY - self.window_start
        horizon = self.horizon_days
        self._add(self.workouts, w_user[day < horizon], count=1.0)
        self._add(self.workouts, w_user[day < 28], first4=1.0)
        self._add(self.workouts, w_user[(day >= horizon - 28) & (day < horizon)], last4=1.0)
        self._add(self.workouts, w_user[day >= self.lookback - 28], recent28=1.0)
        self._add(self.workouts, w_user, window=1.0)
        fortnight = day // 14
        inside = (day >= 0) & (fortnight < self.fortnights.shape[1])
        np.add.at(self.fortnights, (w_user[inside], fortnight[inside]), 1.0)
        self.start_hour_utc += np.bincount((start // 3_600_000_000) % 24, minlength=24)[:24]
        minutes = np.clip((micros(workouts["ended_at"]) - start) // 60_000_000, 0, 600)
        self.minutes += np.bincount(minutes, minlength=601)[:601]

        we = t["workout_exercises"]
        session = Lookup(key64(workouts["workout_id"]))(key64(we["workout_id"]))
        we_pe = pe_lookup(key64_or_missing(we["plan_exercise_id"]))
        we_exercise = _EXERCISE(key64(we["exercise_id"]))
        ws = t["workout_sets"]
        working = ~ws["is_warmup"].to_numpy(zero_copy_only=False)
        row = Lookup(key64(we["workout_exercise_id"]))(key64(ws["workout_exercise_id"])[working])
        weight, reps, rir = (floats(ws[c])[working] for c in ("weight", "reps", "rir"))
        rated = np.isfinite(rir)
        level = self.plan_experience[w_user[session[row[rated]]]]
        known = level >= 0
        np.add.at(self.rir_values, (level[known], np.clip(rir[rated][known], 0, 10).astype(np.int64)), 1)
        load = np.full(we.num_rows, np.nan)
        np.fmax.at(load, row, weight)
        fewest = np.full(we.num_rows, np.inf)
        np.minimum.at(fewest, row, reps)

        bench = (we_exercise[row] == BENCH) & (day[session[row]] < 21) & np.isfinite(rir)
        e1rm = epley_1rm(weight[bench], reps[bench] + rir[bench])  # Epley on reps + reps in reserve
        self._add(self.bench, w_user[session[row[bench]]], sum=e1rm, n=1.0)
        fine_steps = load >= 10 * ex.INCREMENT[we_exercise]  # one plate step is at most 10% of the load
        as_planned = we_exercise == pe_exercise[np.maximum(we_pe, 0)]  # a swapped exercise is not the plan's load
        self._progression(
            np.where(fine_steps & as_planned & (we_pe >= 0), we_pe, -1), start[session], load, fewest, target
        )

    def _rep_ranges(self, sets: pa.Table, pe_lookup: Lookup, pe_user: np.ndarray, compound: np.ndarray) -> None:
        row = pe_lookup(key64(sets["plan_exercise_id"]))
        keep = compound[row]
        user = pe_user[row[keep]]
        reps = floats(sets["target_reps"])[keep]
        goal = self.goal[user]
        level = self.plan_experience[user]
        ok = np.zeros(user.size, bool)
        for g, ranges in pub.REP_RANGES.items():
            for lvl, (lo, hi) in enumerate(ranges):
                mine = (goal == g) & (level == lvl)
                ok[mine] = (reps[mine] >= lo) & (reps[mine] <= hi)
        self.rep_range["in_range"] += int(ok.sum())
        self.rep_range["total"] += int(user.size)

    def _progression(self, pe: np.ndarray, when: np.ndarray, load: np.ndarray, fewest: np.ndarray, target: np.ndarray):
        """Relative load change from a session where every working set beat the target to the next one."""
        loaded = (pe >= 0) & np.isfinite(load)
        order = np.lexsort((when[loaded], pe[loaded]))
        pe_s, load_s, fewest_s = pe[loaded][order], load[loaded][order], fewest[loaded][order]
        same = pe_s[1:] == pe_s[:-1]
        beaten = fewest_s[:-1] >= target[pe_s[:-1]] + 1
        pick = same & beaten
        self.progression.append((load_s[1:][pick] / load_s[:-1][pick] - 1).astype(np.float32))

    def close(self) -> None:
        if self._pending:
            raise ValueError(f"incomplete block of training tables: got {sorted(self._pending)}")
