"""Schema conformance proven by a real database: all 23 tables load into SQLite with every constraint enforced."""

from __future__ import annotations

import re
import sqlite3

import pyarrow as pa
import pytest
import synth_world

from fitsense_luigi.synth import sqlite as sql
from fitsense_luigi.synth.schema import TABLES


@pytest.fixture(scope="module")
def loaded() -> tuple[sqlite3.Connection, dict[str, pa.Table]]:
    world = synth_world.default_tables()
    connection = sql.connect()
    sql.load(connection, world)
    yield connection, world
    connection.close()


def test_every_table_loads_with_foreign_keys_on(loaded):
    connection, world = loaded
    assert connection.execute("PRAGMA foreign_keys").fetchone() == (1,)
    for name in TABLES:
        (count,) = connection.execute(f"SELECT COUNT(*) FROM {name}").fetchone()
        assert count == world[name].num_rows > 0, name
    assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def create_statements() -> dict[str, str]:
    found = {}
    for statement in sql.ddl():
        match = re.match(r"CREATE TABLE (\w+) \(", statement)
        if match:
            found[match.group(1)] = statement
    return found


def test_ddl_declares_every_key_and_rule():
    statements = "\n".join(sql.ddl())
    tables = create_statements()
    assert set(tables) == set(TABLES)
    for name, spec in TABLES.items():
        table = tables[name]  # each rule in its own table's statement, not anywhere in the DDL
        if spec.primary_key:
            assert f"PRIMARY KEY ({', '.join(spec.primary_key)})" in table
        for column, parent, parent_column in spec.foreign_keys:
            assert f"FOREIGN KEY ({column}) REFERENCES {parent} ({parent_column})" in table
        for unique in spec.unique:
            assert f"UNIQUE ({', '.join(unique)})" in table
        columns = {
            m.group(1): "NOT NULL" in line
            for line in table.splitlines()[1:]
            if (m := re.match(r"  (\w+) [A-Z]", line)) and m.group(1) not in ("PRIMARY", "UNIQUE", "FOREIGN", "CHECK")
        }
        assert set(columns) == set(spec.schema.names), name
        assert {c for c, not_null in columns.items() if not_null} == set(spec.not_null), name
    assert "FOREIGN KEY (plan_id, user_id) REFERENCES workout_plans (plan_id, user_id)" in statements
    assert "CHECK (ended_at > started_at)" in statements


def test_implied_rules_hold_in_the_loaded_data(loaded):
    connection, _ = loaded
    wrong_owner = connection.execute(
        "SELECT COUNT(*) FROM workouts w JOIN workout_plans p ON p.plan_id = w.plan_id WHERE p.user_id <> w.user_id"
    ).fetchone()[0]
    wrong_plan = connection.execute(
        """SELECT COUNT(*) FROM workout_exercises we JOIN workouts w ON w.workout_id = we.workout_id
           JOIN plan_exercises pe ON pe.plan_exercise_id = we.plan_exercise_id WHERE pe.plan_id <> w.plan_id"""
    ).fetchone()[0]
    backwards = connection.execute("SELECT COUNT(*) FROM workouts WHERE ended_at <= started_at").fetchone()[0]
    outside = connection.execute(
        """SELECT COUNT(*) FROM workout_sets s JOIN workout_exercises we USING (workout_exercise_id)
           JOIN workouts w USING (workout_id) WHERE s.completed_at < w.started_at OR s.completed_at > w.ended_at"""
    ).fetchone()[0]
    assert (wrong_owner, wrong_plan, backwards, outside) == (0, 0, 0, 0)


@pytest.fixture
def empty() -> sqlite3.Connection:
    connection = sql.connect()
    yield connection
    connection.close()


def _copy(connection: sqlite3.Connection, source: sqlite3.Connection, table: str, limit: int = 1) -> list[tuple]:
    rows = source.execute(f"SELECT * FROM {table} LIMIT {limit}").fetchall()
    marks = ", ".join("?" * len(rows[0]))
    connection.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    return rows


def test_database_rejects_a_dangling_foreign_key(empty, loaded):
    source, _ = loaded
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        _copy(empty, source, "user_profiles")  # its user is not there


def test_database_rejects_a_duplicate_primary_key(empty, loaded):
    source, _ = loaded
    (row,) = _copy(empty, source, "users")
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        empty.execute("INSERT INTO users VALUES (?, ?, ?, ?)", (row[0], "Someone Else", "else@example.com", row[3]))


def test_database_rejects_a_workout_on_another_users_plan(empty, loaded):
    source, _ = loaded
    users = _copy(empty, source, "users", limit=2)
    plan = source.execute("SELECT * FROM workout_plans WHERE user_id = ?", (users[0][0],)).fetchone()
    empty.execute("INSERT INTO workout_plans VALUES (?, ?, ?, ?, ?)", plan)
    workout = source.execute("SELECT * FROM workouts WHERE user_id = ? LIMIT 1", (users[0][0],)).fetchone()
    stolen = (workout[0], users[1][0], *workout[2:])  # same plan, other user
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        empty.execute("INSERT INTO workouts VALUES (?, ?, ?, ?, ?, ?)", stolen)
    empty.execute("INSERT INTO workouts VALUES (?, ?, ?, ?, ?, ?)", workout)  # the owner may


def test_database_rejects_an_exercise_from_another_plan_and_a_backwards_workout(empty, loaded):
    source, _ = loaded
    for table in ("goals", "conditions", "equipment", "exercises"):
        _copy(empty, source, table, limit=100)
    users = _copy(empty, source, "users", limit=2)
    for user in users:
        empty.execute(
            "INSERT INTO workout_plans VALUES (?, ?, ?, ?, ?)",
            source.execute("SELECT * FROM workout_plans WHERE user_id = ?", (user[0],)).fetchone(),
        )
        empty.executemany(
            "INSERT INTO plan_exercises VALUES (?, ?, ?, ?, ?)",
            source.execute(
                "SELECT pe.* FROM plan_exercises pe JOIN workout_plans p USING (plan_id) WHERE p.user_id = ?",
                (user[0],),
            ).fetchall(),
        )
    workout = source.execute("SELECT * FROM workouts WHERE user_id = ? LIMIT 1", (users[0][0],)).fetchone()
    empty.execute("INSERT INTO workouts VALUES (?, ?, ?, ?, ?, ?)", workout)
    foreign = source.execute(
        "SELECT pe.plan_exercise_id, pe.exercise_id FROM plan_exercises pe JOIN workout_plans p USING (plan_id) "
        "WHERE p.user_id = ? LIMIT 1",
        (users[1][0],),
    ).fetchone()
    with pytest.raises(sqlite3.IntegrityError, match="must belong to the plan of its workout"):
        empty.execute(
            "INSERT INTO workout_exercises VALUES (?, ?, ?, ?, ?, ?)",
            ("00000000-0000-8000-8000-000000000001", workout[0], foreign[1], foreign[0], 1, None),
        )
    backwards = ("00000000-0000-8000-8000-000000000002", workout[1], workout[2], workout[4], workout[3], None)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        empty.execute("INSERT INTO workouts VALUES (?, ?, ?, ?, ?, ?)", backwards)


def test_command_line_export(tmp_path, capsys):
    from fitsense_luigi.pipeline import sqlite as command  # the runtime reads the run; synth.sqlite loads it

    run = synth_world.small_world()
    target = tmp_path / "fitsense.db"
    command.main(["--data-root", str(run.data_root), "--run-id", run.run_id, str(target)])
    assert "in 23 tables" in capsys.readouterr().out
    connection = sqlite3.connect(target)
    assert connection.execute("SELECT COUNT(*) FROM users").fetchone() == (150,)
    connection.close()
    with pytest.raises(SystemExit):
        command.main(["--data-root", str(run.data_root), "--run-id", run.run_id, str(target)])
    assert "exists; choose a new file" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="manifest missing"):
        command.main(["--data-root", str(tmp_path), "--run-id", "nope", str(tmp_path / "other.db")])
    assert not (tmp_path / "other.db").exists()
