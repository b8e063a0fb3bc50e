"""Cross-table rules of the synthetic world: every table tells the same story about each person."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import synth_world
from faker.providers.person.en_US import Provider as PersonNames

from fitsense_luigi.reference.catalogue import EXERCISES_BY_NAME
from fitsense_luigi.reference.goals import GOALS
from fitsense_luigi.reference.medications import BETA_BLOCKERS, MEDICATIONS
from fitsense_luigi.reference.safety import avoided_tags
from fitsense_luigi.synth import plan_names
from fitsense_luigi.synth.population import ACTIVITY_FACTORS, ACTIVITY_LEVELS


@pytest.fixture(scope="module")
def f() -> dict[str, pd.DataFrame]:
    return synth_world.frames()


def _named(f, table: str, reference: str, key: str) -> pd.DataFrame:
    return f[table].merge(f[reference][[key, "name"]], on=key)


def test_a_workouts_plan_belongs_to_its_user(f):
    joined = f["workouts"].merge(f["workout_plans"], on="plan_id", suffixes=("", "_plan"))
    assert len(joined) == len(f["workouts"])
    assert (joined["user_id"] == joined["user_id_plan"]).all()
    linked = f["workout_exercises"].merge(f["workouts"][["workout_id", "plan_id"]], on="workout_id")
    linked = linked.merge(f["plan_exercises"][["plan_exercise_id", "plan_id", "exercise_id"]], on="plan_exercise_id")
    assert (linked["plan_id_x"] == linked["plan_id_y"]).all()
    swapped = linked["notes"].fillna("").str.startswith("In place of ")
    assert (linked["exercise_id_x"] == linked["exercise_id_y"])[~swapped].all()
    assert (linked["exercise_id_x"] != linked["exercise_id_y"])[swapped].all() and swapped.any()
    extra = f["workout_exercises"][f["workout_exercises"]["plan_exercise_id"].isna()]
    assert len(extra) and (extra["notes"] == "Extra: not on today's plan").all()  # off-plan work has no plan row


def test_beta_blockers_only_with_a_condition_that_warrants_them(f):
    meds, conditions = f["user_medications"], _named(f, "user_conditions", "conditions", "condition_id")
    beta = set(meds.loc[meds["medication_name"].isin(BETA_BLOCKERS), "user_id"])
    hypertensive = set(conditions.loc[conditions["name"] == "hypertension", "user_id"])
    assert beta and beta <= hypertensive


def test_every_medication_treats_a_condition_of_its_user_and_started_after_diagnosis(f):
    conditions = _named(f, "user_conditions", "conditions", "condition_id")
    held = set(zip(conditions["user_id"], conditions["name"], strict=True))
    meds = f["user_medications"]
    treats = meds["medication_name"].map({m.name: m.treats for m in MEDICATIONS})
    assert treats.notna().all()
    assert all(pair in held for pair in zip(meds["user_id"], treats, strict=True))
    dosages = {m.name: m.dosages for m in MEDICATIONS}
    assert all(d in dosages[n] for n, d in zip(meds["medication_name"], meds["dosage"], strict=True))
    assert (pd.to_datetime(meds["start_date"]) <= pd.Timestamp(synth_world.AS_OF)).all()
    stopped = meds[meds["end_date"].notna()]
    assert 0.05 < len(stopped) / len(meds) < 0.5  # drugs are stopped and switched, not taken for ever
    assert (pd.to_datetime(stopped["end_date"]) >= pd.to_datetime(stopped["start_date"])).all()
    assert (pd.to_datetime(stopped["end_date"]) < pd.Timestamp(synth_world.AS_OF)).all()
    assert stopped["notes"].str.match(r"stopped: |course finished").all()
    current = meds[meds["end_date"].isna()]
    assert not current.duplicated(["user_id", "medication_name"]).any()
    diagnosed = conditions.assign(year=conditions["notes"].str.extract(r"Diagnosed (\d{4})", expand=False).astype(int))
    year = diagnosed.set_index(["user_id", "name"])["year"]
    started = pd.to_datetime(meds["start_date"]).dt.year.to_numpy()
    assert (started >= year.reindex(list(zip(meds["user_id"], treats, strict=True))).to_numpy()).all()
    assert diagnosed["year"].min() < synth_world.AS_OF.year - 30  # diagnoses across a lifetime, not 15 years


def test_knee_and_back_conditions_show_in_the_medical_profile(f):
    conditions = _named(f, "user_conditions", "conditions", "condition_id")
    profiles = f["user_medical_profiles"].set_index("user_id")
    for condition, word in (("knee_osteoarthritis", "knee"), ("lower_back_pain", "back|disc|L5")):
        users = conditions.loc[conditions["name"] == condition, "user_id"]
        assert len(users) > 0, condition
        details = profiles.loc[users, "injury_details"]
        assert details.str.contains(word, case=False).all(), condition
    assert (profiles["has_injuries"] == profiles["injury_details"].notna()).all()


def _weight_slopes(f) -> pd.Series:
    w = f["weight_logs"]
    day = (w["logged_at"] - w["logged_at"].min()).dt.total_seconds() / 86400
    kg = w["weight_kg"].astype(float)
    g = pd.DataFrame({"user_id": w["user_id"], "t": day, "w": kg}).groupby("user_id")
    return g.apply(lambda d: np.polyfit(d["t"], d["w"], 1)[0] if d["t"].max() - d["t"].min() >= 14 else np.nan)


def test_weight_trend_follows_intake(f):
    slopes = _weight_slopes(f).dropna()
    logs = f["calorie_intake_logs"].groupby("user_id")["calories_consumed"]
    kcal = logs.mean().where(logs.count() >= 42)  # users who kept logging (a lapse mostly ends the logging)
    maintenance = f["calorie_targets"].set_index("user_id")["maintenance_calories"]
    balance = (kcal / 0.8 - maintenance).reindex(slopes.index)  # logged intake is ~20% under-reported
    ok = balance.notna()
    rho = pd.Series(balance[ok]).rank().corr(pd.Series(slopes[ok]).rank())
    assert rho > 0.6  # the exact 7700 kcal/kg physics is tested on the simulation itself (test_synth_units)


def test_goals_move_weight_in_their_direction(f):
    slopes = _weight_slopes(f)
    goals = _named(f, "user_goals", "goals", "goal_id")
    primary = goals[goals["priority"] == 1].set_index("user_id")["name"]
    by_goal = slopes.groupby(primary.reindex(slopes.index)).median()
    assert by_goal["weight_loss"] < 0 < by_goal["muscle_gain"]


def test_maintenance_is_mifflin_st_jeor_times_activity(f):
    profile = f["user_profiles"].set_index("user_id")
    first = f["weight_logs"].sort_values("logged_at").groupby("user_id")["weight_kg"].first().astype(float)
    age = (pd.Timestamp(synth_world.AS_OF) - pd.to_datetime(profile["date_of_birth"])).dt.days // 365.2425
    male = profile["sex"] == "male"
    bmr = 10 * first + 6.25 * profile["height_cm"].astype(float) - 5 * age + male.map({True: 5, False: -161})
    factor = profile["activity_level"].map(dict(zip(ACTIVITY_LEVELS, ACTIVITY_FACTORS, strict=True)))
    targets = f["calorie_targets"].set_index("user_id")["maintenance_calories"]
    first_day = f["weight_logs"].groupby("user_id")["logged_at"].min()
    early = first_day < pd.Timestamp(synth_world.AS_OF, tz="UTC") - pd.Timedelta(days=84 - 8)
    ratio = (targets / (bmr * factor))[early.reindex(targets.index, fill_value=False)]
    assert ratio.median() == pytest.approx(1.0, abs=0.005)
    assert ratio.between(0.97, 1.03).all()  # the first weigh-in is up to a week in and carries water
    notes = f["calorie_targets"]["notes"]
    assert notes.str.fullmatch(r"target \d+ kcal/day \([a-z_]+: [+-]?\d+%(, held at the AHA/ACC/TOS minimum)?\)").all()


def test_plans_respect_contraindications_and_equipment(f):
    pe = f["plan_exercises"].merge(f["workout_plans"][["plan_id", "user_id", "name"]], on="plan_id")
    pe = pe.merge(f["exercises"][["exercise_id", "name"]].rename(columns={"name": "exercise"}), on="exercise_id")
    conditions = _named(f, "user_conditions", "conditions", "condition_id").groupby("user_id")["name"].agg(list)
    current = f["user_medications"][f["user_medications"]["end_date"].isna()]  # stopped drugs constrain nothing
    meds = current.groupby("user_id")["medication_name"].agg(list)
    for user, rows in pe.groupby("user_id"):
        avoid = avoided_tags(conditions.get(user, []), meds.get(user, []))
        label = plan_names.parse(rows["name"].iloc[0])
        for name in rows["exercise"]:
            exercise = EXERCISES_BY_NAME[name]
            assert not (exercise.tags & avoid), (user, name, avoid)
            if label.setting == "home":
                assert set(exercise.equipment) <= set(label.equipment), (user, name, label.equipment)


def test_plan_names_parse_and_agree_with_the_plan(f):
    plans = f["workout_plans"]
    pe = f["plan_exercises"]
    day_count = pe.assign(day=pe["notes"].str.slice(0, 3)).groupby("plan_id")["day"].nunique()
    for row in plans.itertuples():
        label = plan_names.parse(row.name)
        assert label.days_per_week == day_count[row.plan_id]
        assert label.experience in plan_names.EXPERIENCE_LEVELS
        assert label.goal in GOALS
    active = plans[plans["is_active"]]
    assert active["user_id"].is_unique and set(active["user_id"]) == set(plans["user_id"])  # one current plan each
    replaced = plans[~plans["is_active"]]
    newer = active.set_index("user_id").loc[replaced["user_id"], "created_at"].to_numpy()
    assert len(replaced) and (newer > replaced["created_at"].to_numpy()).all()  # a restart plan is the newer one


def test_training_happens_inside_the_window_and_each_workout_on_one_day(f):
    as_of = pd.Timestamp(synth_world.AS_OF, tz="UTC")
    first_day = as_of - pd.Timedelta(days=83)
    end = as_of + pd.Timedelta(days=1)
    w = f["workouts"]
    assert (w["started_at"] >= first_day).all() and (w["ended_at"] < end).all()
    assert ((w["ended_at"] - w["started_at"]) < pd.Timedelta(hours=6)).all()  # one sitting (dates are UTC)
    minutes = (w["ended_at"] - w["started_at"]).dt.total_seconds() / 60
    assert minutes.between(10, 180).all() and 40 < minutes.median() < 80
    for table, column in (("calorie_intake_logs", "log_date"), ("sleep_duration_logs", "log_date")):
        dates = pd.to_datetime(f[table][column])
        assert dates.min() >= first_day.tz_localize(None) and dates.max() <= as_of.tz_localize(None)
    plans = f["workout_plans"]
    created = plans.sort_values("created_at").drop_duplicates("user_id")["created_at"]
    assert (created < first_day + pd.Timedelta(days=1, hours=10)).all()  # made on or before the first local day
    assert (created.max() - created.min()).days > 365  # across the users' histories, not in the same six weeks
    restart = plans.loc[plans["user_id"].duplicated(keep=False) & plans["is_active"], "created_at"]
    assert len(restart) and (restart >= first_day).all()  # a user back from a lapse in the window starts over
    joined = f["workout_plans"].merge(f["users"], on="user_id", suffixes=("_plan", "_user"))
    assert (joined["created_at_plan"] > joined["created_at_user"]).all()


def test_sets_follow_the_clock_and_warm_ups_come_first_and_lighter(f):
    sets = f["workout_sets"].merge(
        f["workout_exercises"][["workout_exercise_id", "workout_id"]], on="workout_exercise_id"
    )
    sets = sets.merge(f["workouts"][["workout_id", "started_at", "ended_at"]], on="workout_id")
    assert ((sets["completed_at"] > sets["started_at"]) & (sets["completed_at"] < sets["ended_at"])).all()
    ordered = sets.sort_values(["workout_exercise_id", "set_number"])
    gaps = ordered.groupby("workout_exercise_id")["completed_at"].diff().dropna()
    assert (gaps.dt.total_seconds() > 0).all()
    warm = sets[sets["is_warmup"]]
    assert len(warm) > 0 and warm["rir"].isna().all()
    warm = warm[warm["weight"].notna()]  # body-weight warm-ups (asthma: warm up gradually) carry no load
    working = sets[~sets["is_warmup"]].groupby("workout_exercise_id")["weight"].max().astype(float)
    heaviest_warmup = warm.groupby("workout_exercise_id")["weight"].max().astype(float)
    assert len(heaviest_warmup) > 0 and (heaviest_warmup < working.reindex(heaviest_warmup.index)).all()
    first_working = sets[~sets["is_warmup"]].groupby("workout_exercise_id")["set_number"].min()
    last_warmup = warm.groupby("workout_exercise_id")["set_number"].max()
    assert (last_warmup < first_working.reindex(last_warmup.index)).all()


def test_load_rises_after_a_session_that_beats_the_target(f):
    sets = f["workout_sets"][~f["workout_sets"]["is_warmup"] & f["workout_sets"]["weight"].notna()]
    per = sets.groupby("workout_exercise_id").agg(load=("weight", "max"), fewest=("reps", "min")).reset_index()
    off_plan = f["workout_exercises"]["notes"].notna()  # swaps and extras move the load off the plan's sequence
    touched = set(f["workout_exercises"].loc[off_plan, "plan_exercise_id"].dropna())
    plain = f["workout_exercises"][~off_plan & ~f["workout_exercises"]["plan_exercise_id"].isin(touched)]
    per = per.merge(plain, on="workout_exercise_id").merge(
        f["workouts"][["workout_id", "started_at", "plan_id"]], on="workout_id"
    )
    per["home"] = per["plan_id"].map(f["workout_plans"].set_index("plan_id")["name"].str.contains(", home"))
    target = f["plan_sets"][f["plan_sets"]["set_number"] == 1].set_index("plan_exercise_id")["target_reps"]
    per["target"] = per["plan_exercise_id"].map(target)
    per = per.sort_values(["plan_exercise_id", "started_at"])
    per["next_load"] = per.groupby("plan_exercise_id")["load"].shift(-1)
    beaten = per[(per["fewest"] >= per["target"] + 1) & per["next_load"].notna()]
    assert len(beaten) > 500
    rose = beaten["next_load"].astype(float) > beaten["load"].astype(float)
    assert rose[~beaten["home"]].all()
    assert rose[beaten["home"]].mean() > 0.7  # at home the heaviest dumbbell caps the load
    missed = per[(per["fewest"] < per["target"]) & per["next_load"].notna()]
    assert len(missed) > 0 and (missed["next_load"].astype(float) <= missed["load"].astype(float)).all()


def test_strength_is_plausible_for_sex_and_body_weight(f):
    sets = f["workout_sets"][~f["workout_sets"]["is_warmup"]].merge(f["workout_exercises"], on="workout_exercise_id")
    sets = sets.merge(f["exercises"][["exercise_id", "name"]], on="exercise_id")
    bench = sets[sets["name"] == "Barbell Bench Press"].merge(f["workouts"][["workout_id", "user_id"]], on="workout_id")
    e1rm = (bench["weight"].astype(float) * (1 + bench["reps"] / 30)).groupby(bench["user_id"]).max()
    body = f["weight_logs"].groupby("user_id")["weight_kg"].median().astype(float)
    sex = f["user_profiles"].set_index("user_id")["sex"]
    ratio = (e1rm / body).dropna()
    by_sex = ratio.groupby(sex.reindex(ratio.index)).median()
    assert 0.8 < by_sex["male"] < 1.6 and 0.45 < by_sex["female"] < 1.0
    assert by_sex["male"] > by_sex["female"] * 1.3


def test_names_and_emails(f):
    users = f["users"]
    assert users["email"].is_unique
    assert users["email"].str.fullmatch(r"[a-z._]+\d+@example\.(com|org|net)").all()
    first = users["name"].str.split(" ").str[0]
    last = users["name"].str.split(" ").str[-1]
    names = set(PersonNames.first_names_female) | set(PersonNames.first_names_male)
    assert first.isin(names).all() and last.isin(set(PersonNames.last_names)).all()
    sex = f["user_profiles"].set_index("user_id")["sex"].reindex(users["user_id"]).to_numpy()
    women = first[sex == "female"]
    assert women.isin(set(PersonNames.first_names_female)).mean() > 0.95


def test_logs_vary_like_real_logs(f):
    kcal = f["calorie_intake_logs"]
    per_user = kcal.groupby("user_id")["calories_consumed"].count() / 84
    assert 0.25 < per_user.mean() < 0.85 and per_user.std() > 0.05  # missing days, unevenly, few after a lapse
    sleep = f["sleep_duration_logs"]
    minutes = (sleep["sleep_duration_hours"].astype(float) * 60).round(6)
    assert 0.3 < (minutes % 15 == 0).mean() < 0.7  # manual logs in quarter hours, trackers to the minute
    weights = f["weight_logs"]
    assert weights["body_fat_percentage"].notna().mean() == pytest.approx(0.4, abs=0.1)
    counts = weights.groupby("user_id").size()
    assert (counts >= 2).mean() > 0.9 and counts.max() > 50  # daily weighers, occasional ones, lapsed ones
