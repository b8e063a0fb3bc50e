"""``python -m fitsense_luigi.pipeline.sqlite --data-root data --run-id R fitsense.db``: a run's 23 tables,
verified against their manifests, loaded into a new SQLite database with every constraint of the app schema
enforced (see :mod:`fitsense_luigi.synth.sqlite`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fitsense_luigi.errors import FitSenseError
from fitsense_luigi.pipeline.store import RunStore
from fitsense_luigi.synth import sqlite


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fitsense_luigi.pipeline.sqlite",
        description="Load a run's synthetic tables into a new SQLite database.",
    )
    parser.add_argument("--data-root", default="data", help="a directory or s3://bucket/prefix (default: data)")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("database", type=Path)
    args = parser.parse_args(argv)
    if args.database.exists():
        parser.error(f"{args.database} exists; choose a new file")
    try:
        with RunStore(args.data_root, args.run_id).world() as world:
            tables = {name: world.table(name) for name in world.names()}
    except FitSenseError as exc:
        raise SystemExit(f"{type(exc).__name__}: {exc}") from None
    connection = sqlite.connect(args.database)
    sqlite.load(connection, tables)
    connection.close()
    print(f"{args.database}: {sum(t.num_rows for t in tables.values())} rows in {len(tables)} tables")


if __name__ == "__main__":
    sys.exit(main())
