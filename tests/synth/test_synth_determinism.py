"""Same seed and config: byte-identical files. Another seed: other people. Block size never changes anybody."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pyarrow as pa
import synth_world

from fitsense_luigi.contracts import files, stages
from fitsense_luigi.synth import population, profiles, workouts
from fitsense_luigi.synth.schema import TABLES
from tests.support import params as test_params
from tests.support.hashing import sha256


def test_same_seed_gives_byte_identical_tables_and_report(tmp_path):
    first = synth_world.small_world()
    again = synth_world.make_world_run(tmp_path / "again", synth_world.SMALL_WORLD)
    for name in TABLES:
        assert sha256(first.path(name)) == sha256(again.path(name)), name
    assert first.files.path(files.REALISM_REPORT).read_bytes() == again.files.path(files.REALISM_REPORT).read_bytes()
    ours = json.loads(first.files.manifest(stages.WORKOUTS).read_text())["files"]
    theirs = json.loads(again.files.manifest(stages.WORKOUTS).read_text())["files"]
    assert {k: v["sha256"] for k, v in ours.items()} == {k: v["sha256"] for k, v in theirs.items()}


def test_another_seed_gives_other_people(tmp_path):
    first = synth_world.small_world()
    other = synth_world.make_world_run(tmp_path / "other", {**synth_world.SMALL_WORLD, "reproducibility": {"seed": 7}})
    for name in ("users", "user_profiles", "workouts", "workout_sets", "weight_logs"):
        a, b = first.table(name), other.table(name)
        assert a.schema == b.schema
        assert not a.equals(b), name
    ids_a = set(first.table("users")["user_id"].combine_chunks().storage.to_pylist())
    ids_b = set(other.table("users")["user_id"].combine_chunks().storage.to_pylist())
    assert not ids_a & ids_b
    names_a = first.table("users")["name"].to_pylist()
    names_b = other.table("users")["name"].to_pylist()
    assert sum(x == y for x, y in zip(names_a, names_b, strict=True)) < 10
    # the reference catalogues are the app's fixed rows: the same for every seed
    for name in ("goals", "conditions", "equipment", "exercises", "exercise_equipment"):
        assert first.table(name).equals(other.table(name)), name


def _generate(users: int, module, as_of=dt.date(2026, 2, 17)) -> dict[str, pa.Table]:
    config = test_params.config({"world": {"users": users, "lookback_days": 28}}, small=False)
    out: dict[str, list[pa.Table]] = {}
    for name, table in module.generate(config, as_of):
        out.setdefault(name, []).append(table)
    return {name: pa.concat_tables(parts) for name, parts in out.items()}


def test_more_users_never_change_the_first_ones():
    small, large = _generate(1200, profiles), _generate(2100, profiles)
    assert small["users"].num_rows == small["user_profiles"].num_rows == 1200
    assert large["calorie_targets"].num_rows == 2100
    for name in ("users", "user_profiles", "user_conditions", "user_medications"):
        head = large[name].slice(0, small[name].num_rows)
        assert small[name].equals(head), name


def test_people_are_the_same_in_both_stages_and_on_the_next_day():
    today = population.draw_people(20260217, 0, 1500, dt.date(2026, 2, 17))
    again = population.draw_people(20260217, 0, 1500, dt.date(2026, 2, 17))
    middle = population.draw_people(20260217, 900, 1100, dt.date(2026, 2, 17))
    tomorrow = population.draw_people(20260217, 0, 1500, dt.date(2026, 2, 18))
    for field in dataclasses.fields(population.People):
        a, b = getattr(today, field.name), getattr(again, field.name)
        assert np.array_equal(a, b), field.name
        assert np.array_equal(a[900:1100], getattr(middle, field.name)), field.name
    # a daily run observes the same people one day older
    assert np.array_equal(today.user_id, tomorrow.user_id)
    assert np.array_equal(today.birth_date, tomorrow.birth_date)
    assert np.allclose(tomorrow.age - today.age, 1 / 365.2425)


def test_workouts_of_a_block_do_not_depend_on_other_blocks():
    small, large = _generate(1000, workouts), _generate(1500, workouts)
    owners = large["workout_plans"]["user_id"].combine_chunks().storage
    assert len(set(owners.to_pylist())) == 1500 < large["workout_plans"].num_rows  # restarts bring a second plan
    kept = set(large["users" if "users" in large else "workout_plans"]["user_id"].combine_chunks().storage.to_pylist())
    assert set(large["weight_logs"]["user_id"].combine_chunks().storage.to_pylist()) <= kept
    for name in ("workout_plans", "plan_sets", "workouts", "workout_sets", "sleep_duration_logs"):
        assert small[name].equals(large[name].slice(0, small[name].num_rows)), name
