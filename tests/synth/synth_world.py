"""Shared worlds of the synthetic-world tests, each built once per test session by the real `luigi` command.

(A plain module with cached builders rather than fixtures: module-level tests and parametrisations use them.)
"""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from fitsense_luigi.pipeline.store import RunStore
from fitsense_luigi.synth.schema import TABLES
from tests.support import layout
from tests.support.harness import BuiltRun, build_run

AS_OF = dt.date(2026, 2, 17)
SMALL_WORLD = {"world": {"users": 150, "lookback_days": 28}}


class WorldRun(BuiltRun):
    """A world written by GenerateWorkouts, read the way the pipeline reads it."""

    @property
    def lookback_days(self) -> int:
        return yaml.safe_load(self.params.read_text())["world"]["lookback_days"]

    @property
    def store(self) -> RunStore:
        return RunStore(self.data_root, self.run_id)

    def path(self, name: str) -> Path:
        return self.files.table(name)

    def table(self, name: str) -> pa.Table:
        """A table as the pipeline reads it (verified against its manifest)."""
        return self.store.read_table(layout.table(name))

    def world(self) -> dict[str, pa.Table]:
        return {name: self.table(name) for name in TABLES}


def _scratch() -> Path:
    path = Path(tempfile.mkdtemp(prefix="fitsense-synth-tests-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def make_world_run(base: Path, overrides: dict[str, dict[str, Any]] | None = None) -> WorldRun:
    """GenerateWorkouts (and what it needs) through `luigi`, with default params plus ``overrides``."""
    built = build_run(base, overrides, task="GenerateWorkouts", small=False)
    return WorldRun(built.data_root, built.params, built.run_id, built.result)


@cache
def default_world() -> WorldRun:
    """The default scale of config/params.yaml (1000 users, 84 days)."""
    return make_world_run(_scratch())


@cache
def default_tables() -> dict[str, pa.Table]:
    return default_world().world()


@cache
def small_world() -> WorldRun:
    """150 users over 28 days: quick enough to build twice (determinism) and to load into SQLite."""
    return make_world_run(_scratch(), SMALL_WORLD)


def frame(table: pa.Table):
    """pandas DataFrame with uuid columns as canonical strings."""
    from fitsense_luigi import ids

    uuid_columns = [f.name for f in table.schema if isinstance(f.type, pa.BaseExtensionType)]
    df = table.drop_columns(uuid_columns).to_pandas()
    for name in uuid_columns:
        column = table[name].combine_chunks()
        if column.null_count:
            import pyarrow.compute as pc

            filled = pc.fill_null(column.storage, pa.scalar(b"\0" * 16, pa.binary(16)))
            text = ids.to_strings(ids.from_arrow(filled)).astype(object)
            text[column.is_null().to_numpy(zero_copy_only=False)] = None
        else:
            text = ids.to_strings(ids.from_arrow(column))
        df[name] = text
    return df


@cache
def frames() -> dict[str, Any]:
    return {name: frame(table) for name, table in default_tables().items()}
