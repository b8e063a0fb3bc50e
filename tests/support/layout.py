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

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fitsense_luigi.contracts import files, stages
from fitsense_luigi.contracts.files import StageFile
from fitsense_luigi.contracts.splits import SPLITS
from fitsense_luigi.contracts.stages import Stage
from fitsense_luigi.pipeline.roots import LocalRoot
from fitsense_luigi.synth.schema import TABLES  # the world's tables and the stage each is written by
from fitsense_luigi.teacher.batch import registry  # the layout of the teacher's batch submissions
from fitsense_luigi.teacher.cache import ResponseCache  # the layout of the teacher's answer cache

# the stages whose outputs are the run's data (tables and rows); the world's, by synth.schema's stage names
DATA_STAGES = (stages.PROFILES, stages.WORKOUTS, stages.QUERIES, stages.TEACHER, stages.DATASET)
WORLD_STAGES = {stage.name: stage for stage in (stages.PROFILES, stages.WORKOUTS)}

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


def table(name: str) -> StageFile:
    """The Parquet file of one of the world's tables, bound to the stage that writes it."""
    return files.world_table(name, WORLD_STAGES[TABLES[name].stage])


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

    def cache_entry(self, key: str) -> Path:
        return self.cache_root() / ResponseCache(LocalRoot(self.cache_root())).entry_key(key)

    def cache_entries(self) -> list[Path]:
        """The teacher cache's entries under this data root (temporaries left out)."""
        return [p for p in self.cache_root().rglob("*.json") if not p.name.startswith(".")]

    def batch_records(self, kind: str = registry.BATCH) -> list[Path]:
        """The teacher's batch submission records of one kind (``registry.INTENT``, ``BATCH``, ``COLLECTED``)."""
        return sorted(self.cache_root().glob(f"{registry.DIRECTORY}/*/{kind}"))
