"""DuckDB or Polars for reading the world out of core: the measurement behind the choice.

Runs the world reads the quality and query stages make, over the Parquet
files of a real run, once with DuckDB (``memory_limit`` and ``threads`` set)
and once with Polars lazy scans (streaming engine), each operation in a fresh
process so that its peak RSS is its own. Prints wall time and peak RSS per
operation and engine. Figures only; nothing is asserted.

    .venv/bin/python bench/bench_engines.py DATA_ROOT RUN_ID [--memory-limit 1GB]

The operations (workout_sets is the largest table: ~50M rows at 100,000 users):

* ``fk``: workout_sets.workout_exercise_id rows with no parent (anti-join);
* ``pk``: duplicated workout_sets.workout_set_id (a uuid per row);
* ``value_counts``: value counts of workout_sets.completed_at (what exact quantiles need);
* ``askers``: the lifts of 18% of the users (sets -> exercises -> workouts, max e1RM per user and exercise).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPERATIONS = ("fk", "pk", "value_counts", "askers")
ENGINES = ("duckdb", "polars")


def _files(root: Path, run_id: str) -> dict[str, str]:
    out = {}
    for stage in ("synthetic_profiles", "synthetic_workouts"):
        for path in sorted((root / "raw" / stage / run_id).glob("*.parquet")):
            out[path.stem] = str(path)
        for path in sorted((root / "raw" / stage / run_id).glob("parts/*/*.parquet")):  # a world in parts
            out.setdefault(path.stem, str(root / "raw" / stage / run_id / "parts" / "*" / path.name))
    return out


def _duckdb(op: str, f: dict[str, str], memory_limit: str) -> object:
    import duckdb

    with tempfile.TemporaryDirectory() as spill:
        con = duckdb.connect(
            config={
                "memory_limit": memory_limit,
                "threads": 2,
                "temp_directory": spill,
                "preserve_insertion_order": False,
            }
        )
        if op == "fk":
            sql = f"""SELECT count(*) FROM read_parquet('{f["workout_sets"]}') s
                      ANTI JOIN read_parquet('{f["workout_exercises"]}') e USING (workout_exercise_id)"""
        elif op == "pk":
            sql = f"""SELECT count(*) - count(DISTINCT workout_set_id) FROM read_parquet('{f["workout_sets"]}')"""
        elif op == "value_counts":
            sql = f"""SELECT count(*), sum(c) FROM (SELECT completed_at, count(*) c
                      FROM read_parquet('{f["workout_sets"]}') GROUP BY completed_at)"""
        else:
            sql = f"""WITH askers AS (SELECT user_id FROM read_parquet('{f["users"]}')
                                      USING SAMPLE 18 PERCENT (reservoir, 7)),
                      w AS (SELECT workout_id, user_id FROM read_parquet('{f["workouts"]}')
                            SEMI JOIN askers USING (user_id)),
                      e AS (SELECT workout_exercise_id, exercise_id, user_id
                            FROM read_parquet('{f["workout_exercises"]}') JOIN w USING (workout_id))
                      SELECT count(*) FROM (SELECT user_id, exercise_id, max(weight * (1 + reps / 30.0)) best
                      FROM read_parquet('{f["workout_sets"]}') JOIN e USING (workout_exercise_id)
                      WHERE weight IS NOT NULL GROUP BY ALL)"""
        return con.sql(sql).fetchall()


def _polars(op: str, f: dict[str, str]) -> object:
    import polars as pl

    def scan(name: str) -> pl.LazyFrame:
        return pl.scan_parquet(f[name])

    if op == "fk":
        q = scan("workout_sets").join(scan("workout_exercises"), on="workout_exercise_id", how="anti").select(pl.len())
    elif op == "pk":
        q = scan("workout_sets").select(pl.len() - pl.col("workout_set_id").n_unique())
    elif op == "value_counts":
        q = scan("workout_sets").group_by("completed_at").len().select(pl.len().alias("values"), pl.col("len").sum())
    else:
        askers = scan("users").select("user_id").collect().sample(fraction=0.18, seed=7).lazy()
        w = scan("workouts").select("workout_id", "user_id").join(askers, on="user_id", how="semi")
        e = (
            scan("workout_exercises")
            .select("workout_exercise_id", "workout_id", "exercise_id")
            .join(w, on="workout_id")
        )
        q = (
            scan("workout_sets")
            .filter(pl.col("weight").is_not_null())
            .join(e, on="workout_exercise_id")
            .group_by("user_id", "exercise_id")
            .agg((pl.col("weight").cast(pl.Float64) * (1 + pl.col("reps") / 30.0)).max())
            .select(pl.len())
        )
    return q.collect(engine="streaming").rows()


def child(engine: str, op: str, root: str, run_id: str, memory_limit: str) -> None:
    f = _files(Path(root), run_id)
    t0 = time.perf_counter()
    answer = _duckdb(op, f, memory_limit) if engine == "duckdb" else _polars(op, f)
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall_s": round(wall, 2), "peak_rss_mib": round(rss), "answer": str(answer)[:60]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("run_id")
    parser.add_argument("--memory-limit", default="1GB", help="DuckDB memory_limit (Polars has no such setting)")
    parser.add_argument("--ops", nargs="+", choices=OPERATIONS, default=OPERATIONS, help="only these operations")
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "OP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.root, args.run_id, args.memory_limit)
        return
    print(f"{'operation':<14}{'engine':<8}{'wall s':>8}{'peak RSS MiB':>14}  answer")
    for op in args.ops:
        for engine in ENGINES:
            cmd = [sys.executable, __file__, args.root, args.run_id, "--memory-limit", args.memory_limit]
            done = subprocess.run([*cmd, "--child", engine, op], capture_output=True, text=True)
            if done.returncode:
                print(f"{op:<14}{engine:<8}  failed: {(done.stderr.strip().splitlines() or ['?'])[-1][:90]}")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{op:<14}{engine:<8}{r['wall_s']:>8}{r['peak_rss_mib']:>14}  {r['answer']}", flush=True)


if __name__ == "__main__":
    main()
