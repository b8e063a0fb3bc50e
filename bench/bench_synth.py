"""Benchmark of the synthetic world: profiles + workouts generated and written to Parquet.

Each size runs in a fresh Python process (so peak RSS is that size's own), with
the default history (config/params.yaml: 84 days), the real domain generators
and the real StageWriter into a temporary directory; no luigi. It prints wall
time, CPU time (the machine is shared: CPU seconds say what the code costs
when wall time is inflated by other processes), users/s, rows/s and peak RSS,
then the same for the realism observer that GenerateWorkouts runs alongside.

    .venv/bin/python bench/bench_synth.py                 # 2,000 / 20,000 / 100,000 users
    .venv/bin/python bench/bench_synth.py --sizes 5000    # any sizes

Targets on the 2-core machine: 2,000 users < 2 s; 100,000 users < 60 s with peak RSS < 3 GiB, flat in users.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AS_OF = dt.date(2026, 2, 17)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(users: int, observe: bool) -> dict:
    """Generate and write one world; runs in its own process."""
    from fitsense_luigi.config import load_config
    from fitsense_luigi.contracts import files
    from fitsense_luigi.contracts.stages import PROFILES, WORKOUTS
    from fitsense_luigi.pipeline.store import RunStore
    from fitsense_luigi.synth import profiles, realism, schema, workouts

    config = load_config()
    config = dataclasses.replace(config, world=dataclasses.replace(config.world, users=users))
    schemas = {n: s.schema for n, s in schema.TABLES.items()}
    with tempfile.TemporaryDirectory() as scratch:
        store = RunStore(Path(scratch), "bench")
        wall, cpu = time.perf_counter(), _cpu()
        with store.writer(PROFILES, fingerprint="bench") as out:
            rows = sum(out.tables(profiles.generate(config, AS_OF), schemas).values())
        pieces = workouts.generate(config, AS_OF)
        observer = None
        if observe:
            tables = {n: store.read_table(files.world_table(n, PROFILES)) for n in realism.PROFILE_TABLES}
            observer = realism.Observer(tables, AS_OF, config.world.lookback_days)
            del tables  # as in GenerateWorkouts: the observer keeps per-user arrays, not the tables
            pieces = observer.watch(pieces)
        with store.writer(WORKOUTS, fingerprint="bench") as out:
            rows += sum(out.tables(pieces, schemas).values())
        passed = realism.report(observer)["passed"] if observer else None
        wall, cpu = time.perf_counter() - wall, _cpu() - cpu
        size = sum(p.stat().st_size for p in Path(scratch).rglob("*.parquet"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {
        "users": users,
        "wall_s": wall,
        "cpu_s": cpu,
        "rows": rows,
        "peak_rss_mib": peak,
        "parquet_mib": size / 2**20,
        "realism_passed": passed,
    }


def measure(users: int, observe: bool) -> dict:
    args = [sys.executable, __file__, "--child", str(users)] + (["--observe"] if observe else [])
    done = subprocess.run(args, capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2000,20000,100000")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--observe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.observe)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    columns = ("users", 8), ("wall s", 8), ("cpu s", 8), ("users/s", 9), ("rows", 12), ("rows/s", 11), ("peak RSS", 10)
    header = " ".join(f"{name:>{width}}" for name, width in columns) + f" {'parquet':>9}"
    for observe, title in ((False, "generate + write Parquet (both stages)"), (True, "... plus the realism observer")):
        print(f"\n{title}\n{header}")
        for users in sizes:
            r = measure(users, observe)
            line = (
                f"{r['users']:>8,} {r['wall_s']:>8.2f} {r['cpu_s']:>8.2f} {r['users'] / r['wall_s']:>9,.0f} "
                f"{r['rows']:>12,} {r['rows'] / r['wall_s']:>11,.0f} {r['peak_rss_mib']:>6,.0f} MiB "
                f"{r['parquet_mib']:>5,.0f} MiB"
            )
            print(line + (f"  realism passed={r['realism_passed']}" if observe else ""), flush=True)
    print("\ntargets: 2,000 users < 2 s; 100,000 users < 60 s, peak RSS < 3 GiB and flat in users")


if __name__ == "__main__":
    main()
