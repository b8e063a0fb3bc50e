"""Shared worlds of the synthetic-world tests, each built once per test session by the real `luigi` command.

(A plain module with cached builders rather than a conftest.py, so that the root
harness stays importable however the test folders are laid out.)
"""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from fitsense_luigi.contracts import files
from fitsense_luigi.contracts.stages import BY_NAME
from fitsense_luigi.pipeline.store import RunStore
from fitsense_luigi.synth.schema import TABLES

try:  # the shared harness: importable as a package where pytest puts the repository on the path
    from tests.conftest import default_params, run_luigi
except ModuleNotFoundError:  # otherwise as the root conftest module
    from conftest import default_params, run_luigi

RUN_ID = "2026-02-17"
AS_OF = dt.date(2026, 2, 17)
SMALL_WORLD = {"world": {"users": 150, "lookback_days": 28}}


@dataclass
class WorldRun:
    data_root: Path
    params: Path
    run_id: str
    lookback_days: int

    @property
    def store(self) -> RunStore:
        return RunStore(self.data_root, self.run_id)

    def path(self, name: str) -> Path:
        return self.data_root / self.store.key(files.world_table(name, BY_NAME[TABLES[name].stage]))

    def table(self, name: str) -> pa.Table:
        return self.store.read_table(files.world_table(name, BY_NAME[TABLES[name].stage]))

    def world(self) -> dict[str, pa.Table]:
        return {name: self.table(name) for name in TABLES}

    @property
    def reports(self) -> Path:
        return self.data_root / "reports" / self.run_id


def _scratch() -> Path:
    path = Path(tempfile.mkdtemp(prefix="fitsense-synth-tests-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def make_world_run(base: Path, overrides: dict[str, dict[str, Any]] | None = None) -> WorldRun:
    """GenerateWorkouts (and what it needs) through `luigi`, with default params plus ``overrides``."""
    params = default_params()
    for section, values in (overrides or {}).items():
        params[section] = {**params[section], **values}
    base.mkdir(parents=True, exist_ok=True)
    path = base / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    result = run_luigi("GenerateWorkouts", RUN_ID, base / "data", path)
    assert result.returncode == 0, result.output[-4000:]
    return WorldRun(base / "data", path, RUN_ID, params["world"]["lookback_days"])


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
