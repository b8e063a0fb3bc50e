"""Independent realism audit of a run's synthetic world: DuckDB SQL over the Parquet files, nothing else.

It reads only the app tables a run wrote (never the generator, never realism.json)
and prints each "Done when" figure of issue 15 beside its bound, then further
figures of the same issue (calendar, engagement, medications, training detail),
each with the SQL that measured it.

    .venv/bin/python bench/audit_realism.py --data-root data --run-id 2026-11-29
    .venv/bin/python bench/audit_realism.py --data-root D --run-id R --sql   # also print every query

Exit code 1 when a "Done when" bound is broken, so it can gate a release by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

# (figure, bound text, test on the value, SQL). Every query returns one number.
DONE_WHEN: list[tuple[str, str, str, str]] = [
    (
        "underweight share (BMI < 18.5 at the first weigh-in)",
        "<= 0.03",
        "v <= 0.03",
        """WITH first AS (SELECT user_id, arg_min(weight_kg, logged_at) AS kg FROM weight_logs GROUP BY user_id)
        SELECT avg(CASE WHEN kg / (height_cm / 100) ^ 2 < 18.5 THEN 1 ELSE 0 END)
        FROM first JOIN user_profiles USING (user_id)""",
    ),
    (
        "users with weight loss as first goal and a weigh-in under BMI 20",
        "== 0",
        "v == 0",
        """WITH lowest AS (SELECT user_id, min(weight_kg) AS kg FROM weight_logs GROUP BY user_id)
        SELECT count(*) FROM lowest JOIN user_profiles USING (user_id)
        JOIN user_goals USING (user_id) JOIN goals USING (goal_id)
        WHERE priority = 1 AND goals.name = 'weight_loss' AND kg / (height_cm / 100) ^ 2 < 20""",
    ),
    (
        "users with a weigh-in below BMI 15",
        "== 0",
        "v == 0",
        """SELECT count(DISTINCT user_id) FROM weight_logs JOIN user_profiles USING (user_id)
        WHERE weight_kg / (height_cm / 100) ^ 2 < 15""",
    ),
    (
        "users without a workout in the last 28 days",
        "0.15 - 0.60",
        "0.15 <= v <= 0.60",
        """SELECT avg(CASE WHEN w.user_id IS NULL THEN 1 ELSE 0 END) FROM users u LEFT JOIN (
            SELECT DISTINCT user_id FROM workouts
            WHERE started_at >= (DATE '{as_of}' - INTERVAL 27 DAY)::TIMESTAMPTZ) w USING (user_id)""",
    ),
    (
        "weight-loss users (first goal) lighter at the last weigh-in (weigh-ins >= 28 days apart)",
        "0.50 - 0.90",
        "0.50 <= v <= 0.90",
        """WITH span AS (
            SELECT user_id, arg_min(weight_kg, logged_at) AS first_kg, arg_max(weight_kg, logged_at) AS last_kg,
                   date_diff('day', min(logged_at), max(logged_at)) AS days
            FROM weight_logs GROUP BY user_id)
        SELECT avg(CASE WHEN last_kg < first_kg THEN 1 ELSE 0 END) FROM span
        JOIN user_goals USING (user_id) JOIN goals USING (goal_id)
        WHERE priority = 1 AND goals.name = 'weight_loss' AND days >= 28""",
    ),
    (
        "obese share (first weigh-in BMI >= 30) of users with type 2 diabetes",
        "0.55 - 0.75",
        "0.55 <= v <= 0.75",
        """WITH first AS (SELECT user_id, arg_min(weight_kg, logged_at) AS kg FROM weight_logs GROUP BY user_id)
        SELECT avg(CASE WHEN kg / (height_cm / 100) ^ 2 >= 30 THEN 1 ELSE 0 END)
        FROM first JOIN user_profiles USING (user_id) JOIN user_conditions USING (user_id)
        JOIN conditions USING (condition_id) WHERE conditions.name = 'type_2_diabetes'""",
    ),
    (
        "height spike: most users at one height value / most at a value within 0.2 cm of it",
        "< 3 (no pile-up)",
        "v < 3",
        """WITH h AS (SELECT round(height_cm, 1) AS cm, count(*) AS n FROM user_profiles GROUP BY 1),
        ranked AS (SELECT cm, n, (SELECT max(n) FROM h h2 WHERE h2.cm <> h.cm AND abs(h2.cm - h.cm) <= 0.21)
                   AS near FROM h)
        SELECT max(n / greatest(coalesce(near, 0), 1)) FROM ranked WHERE n >= 10""",
    ),
    (
        "RIR spike: sets at the highest logged RIR / sets one below it",
        "< 1 (no pile-up at the top)",
        "v < 1",
        """WITH r AS (SELECT rir, count(*) AS n FROM workout_sets WHERE rir IS NOT NULL AND NOT is_warmup GROUP BY 1)
        SELECT (SELECT n FROM r ORDER BY rir DESC LIMIT 1) / (SELECT n FROM r ORDER BY rir DESC LIMIT 1 OFFSET 1)""",
    ),
    (
        "session starts between 21:00 and 05:00 UTC (US evenings in every zone)",
        "0.25 - 0.60",
        "0.25 <= v <= 0.60",
        """SELECT avg(CASE WHEN hour(started_at AT TIME ZONE 'UTC') >= 21 OR hour(started_at AT TIME ZONE 'UTC') < 5
                   THEN 1 ELSE 0 END) FROM workouts""",
    ),
]

MORE: list[tuple[str, str]] = [
    (
        "session starts by UTC hour (0..23)",
        """SELECT string_agg(h || ':' || n, ' ' ORDER BY h) FROM (
            SELECT hour(started_at AT TIME ZONE 'UTC') AS h, count(*) AS n FROM workouts GROUP BY 1)""",
    ),
    (
        "weigh-ins outside 06:00-10:00 UTC (were 0%: local mornings labelled UTC)",
        """SELECT avg(CASE WHEN hour(logged_at AT TIME ZONE 'UTC') NOT BETWEEN 6 AND 9 THEN 1 ELSE 0 END)
        FROM weight_logs""",
    ),
    (
        "weight-loss energy targets under 1,200 kcal (women) / 1,500 kcal (men) and under maintenance",
        """SELECT count(*) FROM calorie_targets JOIN user_profiles USING (user_id)
        JOIN user_goals USING (user_id) JOIN goals USING (goal_id)
        WHERE priority = 1 AND goals.name = 'weight_loss' AND
              CAST(regexp_extract(notes, 'target (\\d+) kcal', 1) AS INTEGER)
              < least(CASE WHEN sex = 'male' THEN 1500 ELSE 1200 END, maintenance_calories)""",
    ),
    (
        "lowest weight-loss target (kcal/day), women / men",
        """SELECT string_agg(sex || ' ' || lowest, ', ') FROM (
            SELECT sex, min(CAST(regexp_extract(notes, 'target (\\d+) kcal', 1) AS INTEGER)) AS lowest
            FROM calorie_targets JOIN user_profiles USING (user_id) JOIN user_goals USING (user_id)
            JOIN goals USING (goal_id) WHERE priority = 1 AND goals.name = 'weight_loss' GROUP BY sex)""",
    ),
    (
        "hypertension at 18-39: men / women",
        """WITH p AS (SELECT user_id, sex, date_diff('year', date_of_birth, DATE '{as_of}') AS age FROM user_profiles
                   WHERE date_diff('year', date_of_birth, DATE '{as_of}') BETWEEN 18 AND 39),
        h AS (SELECT user_id FROM user_conditions JOIN conditions USING (condition_id) WHERE name = 'hypertension')
        SELECT round(avg(CASE WHEN sex = 'male' THEN (h.user_id IS NOT NULL)::INT END), 3) || ' / ' ||
               round(avg(CASE WHEN sex = 'female' THEN (h.user_id IS NOT NULL)::INT END), 3)
        FROM p LEFT JOIN h USING (user_id)""",
    ),
    (
        "users aged 65+ (was 3%)",
        """SELECT avg(CASE WHEN date_diff('year', date_of_birth, DATE '{as_of}') >= 65 THEN 1 ELSE 0 END)
        FROM user_profiles""",
    ),
    (
        "users by age decade 18-85 (no steps at five-year edges)",
        """SELECT string_agg(n::VARCHAR, ' ' ORDER BY a) FROM (
            SELECT date_diff('year', date_of_birth, DATE '{as_of}') // 5 * 5 AS a, count(*) AS n
            FROM user_profiles GROUP BY 1)""",
    ),
    (
        "women at the most common height value: cm x users",
        """SELECT cm || ' cm x ' || n FROM (SELECT round(height_cm, 1) AS cm, count(*) AS n FROM user_profiles
        WHERE sex = 'female' GROUP BY 1 ORDER BY n DESC LIMIT 1)""",
    ),
    (
        "body-fat spike: most readings at one 0.1% value / most within 0.2% of it (a clip piles up: >= 3)",
        """WITH h AS (SELECT body_fat_percentage AS v, count(*) AS n FROM weight_logs
                   WHERE body_fat_percentage IS NOT NULL GROUP BY 1),
        ranked AS (SELECT v, n, (SELECT max(n) FROM h h2 WHERE h2.v <> h.v AND abs(h2.v - h.v) <= 0.21) AS near FROM h)
        SELECT max(n / greatest(coalesce(near, 0), 1)) FROM ranked WHERE n >= 10""",
    ),
    (
        "body fat: largest value and users' readings at it",
        """SELECT max(body_fat_percentage) || '% x ' || (SELECT count(*) FROM weight_logs WHERE body_fat_percentage =
        (SELECT max(body_fat_percentage) FROM weight_logs)) FROM weight_logs""",
    ),
    (
        "novice working sets logged at RIR 0 (was 30%)",
        """SELECT avg(CASE WHEN rir = 0 THEN 1 ELSE 0 END) FROM workout_sets s
        JOIN workout_exercises we USING (workout_exercise_id) JOIN workouts w USING (workout_id)
        JOIN workout_plans p ON p.plan_id = w.plan_id
        WHERE p.name LIKE '%, novice,%' AND s.rir IS NOT NULL AND NOT s.is_warmup""",
    ),
    (
        "working sets by logged RIR (0..)",
        """SELECT string_agg(n::VARCHAR, ' ' ORDER BY rir) FROM (SELECT rir, count(*) AS n FROM workout_sets
        WHERE rir IS NOT NULL AND NOT is_warmup GROUP BY 1)""",
    ),
    (
        "workout exercises not as planned (a swap: exercise differs from the plan exercise)",
        """SELECT avg(CASE WHEN we.exercise_id <> pe.exercise_id THEN 1 ELSE 0 END) FROM workout_exercises we
        JOIN plan_exercises pe USING (plan_exercise_id)""",
    ),
    (
        "workout exercises with more working sets than planned / fewer",
        """WITH done AS (SELECT workout_exercise_id, count(*) FILTER (WHERE NOT is_warmup) AS n FROM workout_sets
                      GROUP BY 1),
        planned AS (SELECT plan_exercise_id, count(*) AS n FROM plan_sets GROUP BY 1)
        SELECT round(avg((done.n > planned.n)::INT), 4) || ' / ' || round(avg((done.n < planned.n)::INT), 4)
        FROM workout_exercises we JOIN done USING (workout_exercise_id) JOIN planned USING (plan_exercise_id)""",
    ),
    (
        "sessions a week over the last 28 days by stated activity level",
        """WITH s AS (SELECT user_id, count(*) AS n FROM workouts
                   WHERE started_at >= (DATE '{as_of}' - INTERVAL 27 DAY)::TIMESTAMPTZ GROUP BY 1)
        SELECT string_agg(activity_level || ' ' || round(per_week, 2), ', ' ORDER BY per_week) FROM (
            SELECT activity_level, avg(coalesce(n, 0)) / 4 AS per_week FROM user_profiles LEFT JOIN s USING (user_id)
            GROUP BY 1)""",
    ),
    (
        "plans: created-at months spanned (were six weeks) and the share made before the window",
        """SELECT count(DISTINCT date_trunc('month', created_at)) || ' months, ' ||
               round(avg((created_at < (DATE '{as_of}' - INTERVAL 83 DAY)::TIMESTAMPTZ)::INT), 3)
        FROM workout_plans""",
    ),
    (
        "medications with an end date (were none) / users whose current drug replaced a stopped one",
        """SELECT round(avg((end_date IS NOT NULL)::INT), 3) || ' / ' ||
               count(DISTINCT user_id) FILTER (WHERE notes LIKE 'stopped:%') FROM user_medications""",
    ),
    (
        "diagnosis years in condition notes: earliest and latest",
        """SELECT min(y) || ' - ' || max(y) FROM (
            SELECT CAST(regexp_extract(notes, 'Diagnosed (\\d{{4}})', 1) AS INTEGER) AS y FROM user_conditions)""",
    ),
    (
        "logged intake on Thanksgiving / other Thursdays of the window (1 = an ordinary Thursday)",
        """WITH t AS (SELECT make_date(year(DATE '{as_of}'), 11, 1) AS nov1),
        tg AS (SELECT nov1 + INTERVAL ((4 - dayofweek(nov1) + 7) % 7 + 21) DAY AS day FROM t)
        SELECT avg(calories_consumed) FILTER (WHERE log_date = (SELECT day FROM tg)::DATE) /
               avg(calories_consumed) FILTER (WHERE dayofweek(log_date) = 4 AND log_date <> (SELECT day FROM tg)::DATE)
        FROM calorie_intake_logs""",
    ),
    (
        "workouts on Thanksgiving / mean of the other Thursdays of the window",
        """WITH t AS (SELECT make_date(year(DATE '{as_of}'), 11, 1) AS nov1),
        tg AS (SELECT (nov1 + INTERVAL ((4 - dayofweek(nov1) + 7) % 7 + 21) DAY)::DATE AS day FROM t),
        d AS (SELECT (started_at AT TIME ZONE 'America/Chicago')::DATE AS day, count(*) AS n FROM workouts GROUP BY 1)
        SELECT max(n) FILTER (WHERE day = (SELECT day FROM tg)) /
               avg(n) FILTER (WHERE dayofweek(day) = 4 AND day <> (SELECT day FROM tg)) FROM d""",
    ),
]


def connect(data_root: Path, run_id: str) -> duckdb.DuckDBPyConnection:
    """One view per table of the run: ``<data_root>/raw/<stage>/<run_id>/<table>.parquet``."""
    files = sorted(data_root.glob(f"raw/*/{run_id}/*.parquet"))
    if not files:
        raise SystemExit(f"audit: no Parquet tables under {data_root}/raw/*/{run_id}/")
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    for path in files:
        db.execute(f"CREATE VIEW {path.stem} AS SELECT * FROM read_parquet('{path}')")
    return db


def as_of_date(db: duckdb.DuckDBPyConnection) -> str:
    """The run's as-of date: the last local log date in the world (every user logs something most days)."""
    return str(db.execute("SELECT max(log_date) FROM sleep_duration_logs").fetchone()[0])


def open_run(doc: str | None) -> tuple[argparse.Namespace, duckdb.DuckDBPyConnection, str]:
    """(arguments, connection, as-of date) of an audit script's command line (--data-root, --run-id, --sql)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--sql", action="store_true", help="print every query under its figure")
    args = parser.parse_args()
    db = connect(args.data_root, args.run_id)
    return args, db, as_of_date(db)


def main() -> int:
    args, db, as_of = open_run(__doc__)
    users = db.execute("SELECT count(*) FROM users").fetchone()[0]
    where = f"{args.data_root} run {args.run_id}"
    print(f"realism audit (DuckDB {duckdb.__version__}): {where}, {users:,} users, as of {as_of}")
    print('\nissue 15 "Done when"')
    broken = 0
    for name, bound, test, sql in DONE_WHEN:
        value = db.execute(sql.format(as_of=as_of)).fetchone()[0]
        ok = value is not None and eval(test, {}, {"v": float(value)})
        broken += not ok
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"  {'ok  ' if ok else 'FAIL'} {name:<92} {shown:>10}   bound {bound}")
        if args.sql:
            print("       " + " ".join(sql.split()))
    print("\nfurther figures")
    for name, sql in MORE:
        value = db.execute(sql.format(as_of=as_of)).fetchone()[0]
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"  {name:<97} {shown}")
        if args.sql:
            print("       " + " ".join(sql.split()))
    print(f"\n{len(DONE_WHEN) - broken} of {len(DONE_WHEN)} 'Done when' figures inside their bounds")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
