"""Independent safety audit of a run's training data: DuckDB SQL over the world's Parquet and train/val/test.

It never calls the pipeline: every record of ``train``, ``val`` and ``test``
(the dataset's Parquet copies) is joined to its user in the app tables the
run wrote (age from the date of birth, BMI from the latest weigh-in,
diagnoses, current medications, the app's own plan label), its plan is read
out of the response JSON, and violations are counted by this script's own
reading of the guidance (``shared/reference/safety_guidance.md``):

- jumping (a flight phase: jumps, hops, bounds, burpees) for anyone aged 65+,
  with BMI >= 35, knee osteoarthritis or lower back pain (ACSM/AHA 2007,
  AHA/ACC/TOS 2013 with NSCA on landing forces, ACR/OARSI 2019, NICE NG59);
- plyometric drills (NSCA's jump drills and burpees) for a novice;
- holds, carries and intervals written as repetitions instead of seconds, and
  holds shorter than 15 s (ACSM: holds prescribed as time, 20-60 s for planks);
- a yes/no safety question ("Is my current plan safe for me?") whose answer
  does not start with yes or no;

and further figures of issue 13 (questions answered, equipment, medication
and diabetes rules, load jumps) plus the variety of the answers' wording.

    .venv/bin/python bench/audit_safety.py --data-root data --run-id 2026-11-29
    .venv/bin/python bench/audit_safety.py --data-root D --run-id R --sql   # also print every query

Exit code 1 when a "Done when" count is not zero.
"""

from __future__ import annotations

import re
import sys
from collections import Counter

import duckdb
from audit_realism import open_run

# Own vocabulary, read off the exercise names (not the catalogue's tags).
JUMPING = r"(?i)jump|hop\b|bound|burpee"  # anything with a flight phase
PLYOMETRIC = r"(?i)jump squat|box jump|jumping lunge|depth jump|tuck jump|bound|burpee"  # NSCA jump drills
HOLD = r"(?i)plank|wall sit|hold\b|hang\b"
CARRY = r"(?i)carry|farmer"
INTERVAL = r"(?i)interval"
REP_CUES = r"(?i)lowering phase|reps? in reserve|drive up|\bfor \d+ reps|smooth reps"
HR_ZONES = r"(?i)heart[- ]rate zone|\bhr zone|zone [1-5]\b|% of (your )?max(imum)? heart rate|220 ?- ?age|\bbpm\b"
YES_NO_QUESTION = r"(?i)(is my current plan safe|still ok for me|should i keep doing)"

SETUP = """
CREATE OR REPLACE VIEW recs AS
    SELECT record_id, user_id, split, instruction, response, context,
           split_part(instruction, chr(10) || chr(10), 1) AS request,
           response->>'answer' AS answer,
           coalesce(response->>'answer', '') || ' ' || coalesce(response->>'explanation', '') AS said
    FROM (SELECT * REPLACE ('train' AS split) FROM train UNION ALL SELECT * REPLACE ('val' AS split) FROM val
          UNION ALL SELECT * REPLACE ('test' AS split) FROM test);
CREATE OR REPLACE VIEW rx AS
    SELECT r.record_id, r.user_id, r.split, d.value->>'day' AS day, e.value->>'name' AS name,
           e.value->>'reps' AS reps, TRY_CAST(e.value->>'seconds' AS INTEGER) AS seconds,
           TRY_CAST(e.value->>'rir' AS INTEGER) AS rir, TRY_CAST(e.value->>'rest_seconds' AS INTEGER) AS rest,
           TRY_CAST(e.value->>'load_kg' AS DOUBLE) AS load_kg, coalesce(e.value->>'notes', '') AS notes,
           TRY_CAST(split_part(e.value->>'reps', '-', 1) AS INTEGER) AS reps_low
    FROM recs r, json_each(r.response, '$.days') d, json_each(d.value, '$.exercises') e;
CREATE OR REPLACE VIEW people AS
    WITH w AS (SELECT user_id, arg_max(weight_kg, logged_at) AS kg FROM weight_logs
               WHERE logged_at::DATE <= DATE '{as_of}' GROUP BY user_id)
    SELECT p.user_id::VARCHAR AS user_id, datesub('year', p.date_of_birth, DATE '{as_of}') AS age,
           w.kg / (p.height_cm / 100) ^ 2 AS bmi
    FROM user_profiles p LEFT JOIN w USING (user_id);
CREATE OR REPLACE VIEW diagnosed AS
    SELECT user_id::VARCHAR AS user_id, conditions.name AS condition
    FROM user_conditions JOIN conditions USING (condition_id);
CREATE OR REPLACE VIEW medicated AS
    SELECT DISTINCT user_id::VARCHAR AS user_id, medication_name FROM user_medications
    WHERE coalesce(start_date, DATE '{as_of}') <= DATE '{as_of}'
      AND coalesce(end_date, DATE '{as_of}') >= DATE '{as_of}';
CREATE OR REPLACE VIEW gear AS
    SELECT exercises.name AS exercise, equipment.name AS item
    FROM exercise_equipment JOIN exercises USING (exercise_id) JOIN equipment USING (equipment_id);
"""


def jumping_for(who: str) -> str:
    return f"""SELECT split, count(*) FROM rx JOIN people USING (user_id)
        WHERE regexp_matches(name, '{JUMPING}') AND {who} GROUP BY split"""


def has(condition: str) -> str:
    return f"user_id IN (SELECT user_id FROM diagnosed WHERE condition = '{condition}')"


# (figure, SQL returning (split, count) rows). Every "Done when" figure must be 0.
DONE_WHEN: list[tuple[str, str]] = [
    ("jumping prescribed to users aged 65+", jumping_for("age >= 65")),
    ("jumping prescribed to users with BMI >= 35", jumping_for("bmi >= 35")),
    ("jumping prescribed to users with knee osteoarthritis", jumping_for(has("knee_osteoarthritis"))),
    ("jumping prescribed to users with lower back pain", jumping_for(has("lower_back_pain"))),
    (
        "plyometric drills prescribed to novices (as the teacher was told)",
        f"""SELECT rx.split, count(*) FROM rx JOIN recs USING (record_id)
        WHERE regexp_matches(name, '{PLYOMETRIC}') AND recs.context.context_summary.experience = 'novice'
        GROUP BY rx.split""",
    ),
    (
        "holds, carries and intervals prescribed as repetitions (not seconds)",
        f"""SELECT split, count(*) FROM rx WHERE (regexp_matches(name, '{HOLD}') OR regexp_matches(name, '{CARRY}')
        OR regexp_matches(name, '{INTERVAL}')) AND (seconds IS NULL OR reps IS NOT NULL) GROUP BY split""",
    ),
    (
        "holds shorter than 15 s",
        f"SELECT split, count(*) FROM rx WHERE regexp_matches(name, '{HOLD}') AND seconds < 15 GROUP BY split",
    ),
    (
        "yes/no safety questions whose answer does not start with yes or no",
        f"""SELECT split, count(*) FROM recs WHERE regexp_matches(request, '{YES_NO_QUESTION}')
        AND NOT regexp_matches(lower(trim(coalesce(answer, ''))), '^(yes|no)\\b') GROUP BY split""",
    ),
]

MORE: list[tuple[str, str]] = [
    (
        "yes/no safety questions asked",
        f"SELECT split, count(*) FROM recs WHERE regexp_matches(request, '{YES_NO_QUESTION}') GROUP BY split",
    ),
    (
        "plyometric drills for users the app's plan label calls novice",
        f"""SELECT split, count(*) FROM rx WHERE regexp_matches(name, '{PLYOMETRIC}') AND user_id IN (
            SELECT user_id::VARCHAR FROM workout_plans WHERE is_active AND name LIKE '%, novice, %') GROUP BY split""",
    ),
    (
        "reps in reserve on holds, carries or intervals",
        f"""SELECT split, count(*) FROM rx WHERE rir IS NOT NULL AND (regexp_matches(name, '{HOLD}')
        OR regexp_matches(name, '{CARRY}') OR regexp_matches(name, '{INTERVAL}')) GROUP BY split""",
    ),
    (
        "repetition cues in the notes of holds, carries or intervals",
        f"""SELECT split, count(*) FROM rx WHERE regexp_matches(notes, '{REP_CUES}') AND (
        regexp_matches(name, '{HOLD}') OR regexp_matches(name, '{CARRY}') OR regexp_matches(name, '{INTERVAL}'))
        GROUP BY split""",
    ),
    (
        "'push harder or back off?' without a decision and a number in the answer",
        """SELECT split, count(*) FROM recs WHERE request ILIKE '%push harder or back off%' AND NOT (
        regexp_matches(lower(coalesce(answer, '')), 'push|back off|ease off|hold|deload|keep')
        AND regexp_matches(coalesce(answer, ''), '[0-9]')) GROUP BY split""",
    ),
    (
        "'push harder or back off?' asked",
        "SELECT split, count(*) FROM recs WHERE request ILIKE '%push harder or back off%' GROUP BY split",
    ),
    (
        "stalled lifts the answer does not name",
        """WITH s AS (SELECT split, said, regexp_extract(request,
            '.*\\b[Mm]y ([A-Za-z'' -]+?) (?:has been stuck|is stuck)', 1) AS lift FROM recs)
        SELECT split, count(*) FILTER (WHERE NOT contains(lower(said), lower(lift))) FROM s
        WHERE lift <> '' GROUP BY split""",
    ),
    (
        "stalled lifts mentioned in requests",
        """SELECT split, count(*) FROM recs WHERE regexp_matches(request, '(has been stuck|is stuck)')
        GROUP BY split""",
    ),
    (
        "two day counts in one request, not both named in the answer",
        """WITH c AS (SELECT split, said,
            regexp_extract(request, 'only make (\\d) days', 1) AS fewer,
            coalesce(nullif(regexp_extract(request, 'freed up time for (\\d) days', 1), ''),
                     CASE WHEN request LIKE '%extra day free%'
                          THEN CAST(CAST(regexp_extract(request, '(\\d)[- ]day', 1) AS INTEGER) + 1 AS VARCHAR) END)
                AS more
            FROM recs)
        SELECT split, count(*) FILTER (WHERE NOT (regexp_matches(said, fewer || ' days?')
                                                AND regexp_matches(said, more || ' days?')))
        FROM c WHERE fewer <> '' AND more IS NOT NULL AND more <> '' GROUP BY split""",
    ),
    (
        "exercises needing equipment outside the user's list (the request's new setting counted)",
        """WITH r AS (SELECT record_id, split, request, context.context_summary.equipment AS listed FROM recs),
        needs AS (SELECT rx.record_id, rx.split, rx.name, gear.item FROM rx JOIN gear ON gear.exercise = rx.name)
        SELECT n.split, count(DISTINCT n.record_id || n.name) FROM needs n JOIN r USING (record_id)
        WHERE n.item <> 'exercise_mat'
          AND NOT regexp_matches(r.request, 'joined a gym|gym access')
          AND NOT (CASE WHEN r.request LIKE '%training at home for a while with only dumbbells and a band%'
                        THEN n.item IN ('dumbbells', 'resistance_band') ELSE list_contains(r.listed, n.item) END)
        GROUP BY n.split""",
    ),
    (
        "heart-rate zones prescribed to users on a beta-blocker (metoprolol)",
        f"""WITH t AS (SELECT r.split, r.user_id, coalesce(r.response->>'progression', '') || ' ' ||
            coalesce((SELECT string_agg(notes, ' ') FROM rx WHERE rx.record_id = r.record_id), '') AS prescribed
            FROM recs r)
        SELECT split, count(*) FROM t WHERE regexp_matches(prescribed, '{HR_ZONES}') AND user_id IN (
            SELECT user_id FROM medicated WHERE medication_name LIKE 'metoprolol%') GROUP BY split""",
    ),
    (
        "back-to-back training days for users with type 2 diabetes",
        f"""WITH d AS (SELECT DISTINCT record_id, split, user_id, list_position(
            ['monday','tuesday','wednesday','thursday','friday','saturday','sunday'], lower(day)) - 1 AS k FROM rx)
        SELECT a.split, count(DISTINCT a.record_id) FROM d a JOIN d b ON a.record_id = b.record_id
        AND (b.k - a.k + 7) % 7 = 1 AND a.k <> b.k WHERE {has("type_2_diabetes").replace("user_id", "a.user_id", 1)}
        GROUP BY a.split""",
    ),
    (
        "maximal sets (3 reps or fewer, or to failure) for users with hypertension",
        f"""SELECT split, count(*) FROM rx WHERE (reps_low <= 3 OR rir = 0) AND {has("hypertension")}
        GROUP BY split""",
    ),
    (
        "loads more than 10% above what the user's estimated max allows (Epley, + 2.5 kg rounding)",
        """WITH lifts AS (SELECT record_id, unnest(context.context_summary.top_lifts) AS l FROM recs)
        SELECT rx.split, count(*) FROM rx JOIN lifts ON lifts.record_id = rx.record_id AND l.exercise = rx.name
        WHERE rx.load_kg IS NOT NULL AND rx.reps_low IS NOT NULL
          AND rx.load_kg > 1.10 * l.estimated_1rm_kg / (1 + (rx.reps_low + coalesce(rx.rir, 0)) / 30.0) + 2.5
        GROUP BY rx.split""",
    ),
]

SPLITS = ("train", "val", "test")


def by_split(db: duckdb.DuckDBPyConnection, sql: str) -> dict[str, int]:
    counts = {split: int(n) for split, n in db.execute(sql).fetchall()}
    return {split: counts.get(split, 0) for split in SPLITS}


def variety(db: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """How templated the answers read: distinct openings, and the largest share one sentence template takes."""
    names = sorted((n for (n,) in db.execute("SELECT name FROM exercises").fetchall()), key=len, reverse=True)
    named = re.compile("|".join(re.escape(n) for n in names), re.IGNORECASE)

    def template(sentence: str) -> str:
        return re.sub(r"\d+(?:[.,]\d+)?", "#", named.sub("<exercise>", sentence.strip().lower()))

    def sentences(texts: list[str]) -> list[str]:
        return [s for t in texts for s in re.split(r"(?<=[.!?])\s+", t or "") if s.strip()]

    rows = db.execute(
        """SELECT coalesce(response->>'answer', ''), coalesce(response->>'explanation', ''),
        coalesce(response->>'summary', ''), coalesce(response->>'progression', ''),
        (SELECT list(e.value->>'note') FROM json_each(response, '$.safety_notes') e) FROM recs"""
    ).fetchall()
    notes = [n for (n,) in db.execute("SELECT notes FROM rx").fetchall()]
    answers = [r[0] for r in rows]
    openings = [sentences([a])[0] if sentences([a]) else "" for a in answers]
    safety = [n for r in rows for n in (r[4] or [])]
    every = sentences([t for r in rows for t in r[:4]] + safety + notes)
    top_all = Counter(template(s) for s in every).most_common(1)
    top_notes = Counter(template(s) for s in sentences(notes)).most_common(1)

    def share(top: list[tuple[str, int]], n: int) -> str:
        return f"{top[0][1] / n:.1%} ({top[0][1]:,}/{n:,}): {top[0][0][:70]!r}" if top else "-"

    return [
        ("answers / distinct answers", f"{len(answers):,} / {len(set(answers)):,}"),
        ("distinct openings (first sentence of the answer)", f"{len(set(openings)):,}"),
        ("distinct opening templates (numbers and exercise names masked)", f"{len({template(o) for o in openings}):,}"),
        ("exercise notes / distinct note templates", f"{len(notes):,} / {len({template(n) for n in notes}):,}"),
        ("safety notes / distinct safety notes", f"{len(safety):,} / {len(set(safety)):,}"),
        ("largest share of one sentence template, all free text", share(top_all, len(every))),
        ("largest share of one sentence template, exercise notes", share(top_notes, len(sentences(notes)))),
    ]


def main() -> int:
    args, db, as_of = open_run(__doc__)
    views = {name for (name,) in db.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    if "val" not in views and "validation" in views:  # the validation split's file, as the dataset names it
        db.execute("CREATE VIEW val AS SELECT * FROM validation")
    for statement in SETUP.format(as_of=as_of).split(";"):
        if statement.strip():
            db.execute(statement)
    records = by_split(db, "SELECT split, count(*) FROM recs GROUP BY split")
    users = db.execute("SELECT count(*) FROM users").fetchone()[0]
    print(
        f"safety audit (DuckDB {duckdb.__version__}): {args.data_root} run {args.run_id}, {users:,} users, "
        f"as of {as_of}; records " + ", ".join(f"{s} {n:,}" for s, n in records.items())
    )
    header = f"  {'':4} {'figure':<92} {'train':>7} {'val':>6} {'test':>6} {'total':>7}"
    broken = 0
    for title, figures, gating in (
        ('issue 13 "Done when" (must be 0)', DONE_WHEN, True),
        ("further figures", MORE, False),
    ):
        print(f"\n{title}\n{header}")
        for name, sql in figures:
            counts = by_split(db, sql)
            total = sum(counts.values())
            broken += gating and total > 0
            mark = ("ok  " if total == 0 else "FAIL") if gating else "    "
            print(
                f"  {mark} {name:<92} "
                + " ".join(f"{counts[s]:>{w},}" for s, w in zip(SPLITS, (7, 6, 6), strict=True))
                + f" {total:>7,}"
            )
            if args.sql:
                print("       " + " ".join(sql.split()))
    print("\nanswer wording")
    for name, value in variety(db):
        print(f"  {name:<70} {value}")
    print(f"\n{len(DONE_WHEN) - broken} of {len(DONE_WHEN)} 'Done when' figures at zero")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
