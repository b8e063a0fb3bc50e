"""Where a run's files live under a data root, as the test suite sees it: built from the contracts.

Every stage directory and file name comes from ``fitsense_luigi.contracts`` (``stages``: the stage
registry; ``files``: every file a stage writes, as a :class:`StageFile`); this module names none of its
own. It adds only test conveniences: globs over runs and shards (kill points, data-file selection),
and paths of a run's files on a local data root, so a test never writes ``raw/...`` itself:

    run = RunFiles(data_root, run_id)
    run.path(files.QUERIES)   # <root>/raw/synthetic_queries/<run>/queries.jsonl
    glob(table("users"))      # "raw/synthetic_profiles/*/users.parquet" (a kill point)
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import sqlite3
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fitsense_luigi.contracts import files, stages
from fitsense_luigi.contracts.files import StageFile
from fitsense_luigi.contracts.splits import SPLITS
from fitsense_luigi.contracts.stages import Stage
from fitsense_luigi.synth.schema import TABLES  # the world's tables and the stage each is written by
from fitsense_luigi.teacher import entry_store  # the layout of the teacher's answer cache
from fitsense_luigi.teacher.batch import registry  # the layout of the teacher's batch submissions

# the stages whose outputs are the run's data (tables and rows); the world's, by synth.schema's stage names
DATA_STAGES = (stages.PROFILES, stages.WORKOUTS, stages.QUERIES, stages.TEACHER, stages.DATASET)
WORLD_STAGES = {stage.name: stage for stage in (stages.PROFILES, stages.WORKOUTS)}
# where the world stages' users' tables are: one directory per part (the catalogue tables stay in the stage's)
WORLD_PART_STAGES = tuple(stages.PARTS_OF[stage] for stage in WORLD_STAGES.values())
# the steps of a fanned-out stage: a world part's rows are also the world's (data); the query plan's and
# shards' rows, like the teacher's shards, are merged into their stage's file (``shards=False`` leaves them out)
SHARD_STAGES = (stages.QUERY_PLAN, stages.QUERIES_SHARD, stages.TEACHER_SHARD)

# the run's reports a finished run leaves (the run log too, which no manifest lists)
REPORTS = (
    files.BOOTSTRAP_RECORD,
    files.REALISM_REPORT,
    files.VALIDATION_REPORT,
    files.STATS_REPORT,
    files.ANOMALY_REPORT,
    files.BIAS_REPORT,
    files.QUALITY_GATE,
    files.REPORT_HTML,
)


def table(name: str, part: int = 0) -> StageFile:
    """The Parquet file of one of the world's tables, bound to the stage that lists it.

    A users' table is in each part's directory (``parts/000/``: the test worlds are one part, so the
    first part's file is the whole table); a catalogue table is one file beside the stage's manifest.
    """
    stage = WORLD_STAGES[TABLES[name].stage]
    return files.world_table(name, stage) if name in catalogue_tables() else files.world_part(name, stage, part)


@cache
def catalogue_tables() -> frozenset[str]:
    """The world's reference tables (goals, exercises, ...): the same for every user, not split into parts."""
    from fitsense_luigi.synth import profiles, workouts

    return frozenset(name for stage in (profiles, workouts) for name, _ in stage.reference_tables())


def stage_directory(stage: Stage, run_id: str = "*", shard: int | str = "*") -> str:
    """A stage's directory relative to the data root; ``*`` (the default) for any run or shard: a glob."""
    shard = f"{shard:03d}" if isinstance(shard, int) else shard
    return stage.directory.format(run_id=run_id, shard=shard)


def reports_directory(run_id: str = "*") -> str:
    return stages.REPORTS_DIR.format(run_id=run_id)


def glob(file: StageFile, run_id: str = "*") -> str:
    """Relative path (a glob with ``*`` for the run and the shard) of a file of a stage."""
    directory = reports_directory(run_id) if file.in_reports else stage_directory(file.stage, run_id)
    return f"{directory}/{file.name}"


def manifest_glob(stage: Stage, run_id: str = "*") -> str:
    return f"{stage_directory(stage, run_id)}/{stage.manifest_name}"


def manifest_paths(root: Path, run_id: str = "*") -> list[Path]:
    """Every stage manifest under a local data root (of one run, or of every run), sorted."""
    return sorted({path for stage in stages.STAGES for path in root.glob(manifest_glob(stage, run_id))})


def stage_files_glob(stage: Stage, run_id: str = "*", name: str = "*") -> str:
    """Every file directly in the stage's directory (or those whose name matches ``name``, e.g. ``*.parquet``)."""
    return f"{stage_directory(stage, run_id)}/{name}"


def run_logs_glob(run_id: str = "*") -> str:
    """The per-process run logs an object-store data root keeps beside run.log."""
    return f"{reports_directory(run_id)}/{files.RUN_LOGS_DIR}/*"


def matches(relative: str, pattern: str) -> bool:
    """Does a path relative to the data root match a glob of this module, part by part (``*`` stays in one part)?"""
    parts, wanted = PurePosixPath(relative).parts, PurePosixPath(pattern).parts
    return len(parts) == len(wanted) and all(fnmatch.fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True))


def is_manifest(relative: str, run_id: str = "*") -> bool:
    return any(matches(relative, manifest_glob(stage, run_id)) for stage in stages.STAGES)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class RunFiles:
    """The files of one run under one local data root, read as written (the store's reads verify; these do not)."""

    data_root: Path
    run_id: str

    def directory(self, stage: Stage) -> Path:
        return self.data_root / stage_directory(stage, self.run_id)

    def path(self, file: StageFile) -> Path:
        return self.data_root / glob(file, self.run_id)

    def manifest(self, stage: Stage) -> Path:
        return self.data_root / manifest_glob(stage, self.run_id)

    @property
    def reports(self) -> Path:
        return self.data_root / reports_directory(self.run_id)

    @property
    def run_log(self) -> Path:
        return self.reports / files.RUN_LOG

    def table(self, name: str) -> Path:
        return self.path(table(name))

    def read_table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        """One of the world's tables as written."""
        return pq.read_table(self.table(name), columns=columns)

    def rows(self, file: StageFile | Path) -> list[dict[str, Any]]:
        return read_jsonl(self.path(file) if isinstance(file, StageFile) else file)

    def records(self) -> list[dict[str, Any]]:
        """Every kept record: the split files together (the dataset stores each record once, in its split's file)."""
        return [row for split in SPLITS for row in self.rows(files.records(split))]

    def document(self, file: StageFile | Path) -> Any:
        path = self.path(file) if isinstance(file, StageFile) else file
        return json.loads(path.read_text(encoding="utf-8"))

    def cache_root(self) -> Path:
        return self.data_root / files.TEACHER_CACHE

    def cache_entry(self, key: str) -> CachedEntry:
        return CachedEntry(self.cache_root(), key)

    def cache_entries(self) -> list[CachedEntry]:
        return cache_entries(self.cache_root())

    def batch_records(self, kind: str = registry.BATCH) -> list[Path]:
        """The teacher's batch submission records of one kind (``registry.INTENT``, ``BATCH``, ``COLLECTED``)."""
        return sorted(self.cache_root().glob(f"{registry.DIRECTORY}/*/{kind}"))


def cache_entries(cache_root: Path) -> list[CachedEntry]:
    """The teacher cache's entries under ``cache_root``: rows of its database, and files of the layout earlier
    versions wrote (temporaries left out)."""
    keys = []
    if (cache_root / entry_store.DATABASE).is_file():
        database = contextlib.closing(sqlite3.connect(cache_root / entry_store.DATABASE, timeout=30))
        with database as db, contextlib.suppress(sqlite3.OperationalError):  # no table yet: no entry
            keys = [key for (key,) in db.execute(f"SELECT key FROM {entry_store.TABLE}")]
    in_files = [p.stem for p in cache_root.glob("??/*.json") if not p.name.startswith(".")]
    return [CachedEntry(cache_root, key) for key in sorted({*keys, *in_files})]


@dataclass(frozen=True, order=True)
class CachedEntry:
    """One teacher cache entry, wherever it is: a row of the cache's database, or a file of an earlier version."""

    cache_root: Path
    key: str

    @property
    def file(self) -> Path:
        return self.cache_root / entry_store.entry_file(self.key)

    def _database(self) -> sqlite3.Connection:
        return sqlite3.connect(self.cache_root / entry_store.DATABASE, timeout=30)

    def exists(self) -> bool:
        return self.read_bytes_or_none() is not None

    def read_bytes_or_none(self) -> bytes | None:
        if (self.cache_root / entry_store.DATABASE).is_file():
            with contextlib.closing(self._database()) as db, contextlib.suppress(sqlite3.OperationalError):
                row = db.execute(f"SELECT entry FROM {entry_store.TABLE} WHERE key = ?", (self.key,)).fetchone()
                if row is not None:
                    return bytes(row[0])
        return self.file.read_bytes() if self.file.is_file() else None

    def read_bytes(self) -> bytes:
        data = self.read_bytes_or_none()
        if data is None:
            raise FileNotFoundError(f"no cache entry {self.key}")
        return data

    def write_bytes(self, data: bytes) -> None:
        """Replace what is stored (a test damaging an entry), where it is stored."""
        if self.file.is_file():
            self.file.write_bytes(data)
            return
        with contextlib.closing(self._database()) as db, db:
            db.execute(f"UPDATE {entry_store.TABLE} SET entry = ? WHERE key = ?", (data, self.key))
