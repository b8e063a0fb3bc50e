"""Where a run's files live under a data root, as the test suite sees it: taken from the stage registry.

This is the only module of the tests (and the one place besides the pipeline) that knows the data-root
layout. Stage directories and manifest names come from the pipeline's stage registry, imported once
below; file names are spelled once here, until the registry owns them too. When the registry moves
(``fitsense_luigi/contracts``), the import line below is what changes.

Paths are built from a stage's own ``directory`` template, so a test never writes ``raw/...`` itself:

    files = RunFiles(data_root, run_id)
    files.path(QUERIES, QUERIES_FILE)        # <root>/raw/synthetic_queries/<run>/queries.jsonl
    glob(PROFILES, "users.parquet")          # "raw/synthetic_profiles/*/users.parquet" (kill points)
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fitsense_luigi import storage as registry  # the stage registry (Stage and one constant per stage)
from fitsense_luigi.dataset.split import SPLITS  # the dataset's split names, owned by the split
from fitsense_luigi.synth.schema import TABLES  # the world's tables and the stage each is written by
from fitsense_luigi.teacher.cache import ResponseCache  # the layout of the teacher's answer cache

Stage = registry.Stage
BOOTSTRAP = registry.BOOTSTRAP
PROFILES = registry.PROFILES
WORKOUTS = registry.WORKOUTS
QUERIES = registry.QUERIES
TEACHER_SHARD = registry.TEACHER_SHARD
TEACHER = registry.TEACHER
DATASET = registry.DATASET
VALIDATION = registry.VALIDATION
STATS = registry.STATS
ANOMALIES = registry.ANOMALIES
BIAS = registry.BIAS

# every stage in pipeline order, and those whose outputs are the run's data (tables and rows)
STAGES = (BOOTSTRAP, PROFILES, WORKOUTS, QUERIES, TEACHER_SHARD, TEACHER, DATASET, VALIDATION, STATS, ANOMALIES, BIAS)
DATA_STAGES = (PROFILES, WORKOUTS, QUERIES, TEACHER, DATASET)
WORLD_STAGES = {"profiles": PROFILES, "workouts": WORKOUTS}  # synth.schema's stage names -> stages

# file names (tasks.py spells them today)
QUERIES_FILE = "queries.jsonl"
RESPONSES_FILE = "responses.jsonl"
TEACHER_SUMMARY = "summary.json"
ALL_RECORDS = "all_records.jsonl"
REJECTED = "rejected.jsonl"
SPLIT_REPORT = "split_report.json"
DATASET_CARD = "README.md"
SPLIT_FILES = {split: f"{split}.jsonl" for split in SPLITS}
SPLIT_TABLES = {split: f"{split}.parquet" for split in SPLITS}
BOOTSTRAP_RECORD = "phase1_bootstrap.json"
REALISM = "realism.json"
VALIDATION_REPORT = "validation_report.json"
STATS_REPORT = "stats_report.json"
ANOMALY_REPORT = "anomaly_report.json"
BIAS_REPORT = "bias_report.json"
QUALITY_GATE = "quality_gate.json"
REPORT_HTML = "report.html"
RUN_LOG = "run.log"
RUN_LOGS = "run-logs"  # logs.py: on an S3 data root, one run log per process in here, beside run.log
CHARTS = "charts"
REPORTS = (BOOTSTRAP_RECORD, VALIDATION_REPORT, STATS_REPORT, ANOMALY_REPORT, BIAS_REPORT, REALISM, RUN_LOG)
TEACHER_CACHE = "cache/teacher"  # tasks.py: <data root>/cache/teacher, shared by every run


def table_file(table: str) -> str:
    return f"{table}.parquet"


def table_stage(table: str) -> Stage:
    """The stage that writes one of the world's tables."""
    return WORLD_STAGES[TABLES[table].stage]


def stage_directory(stage: Stage, run_id: str = "*", shard: int | str = "*") -> str:
    """A stage's directory relative to the data root; ``*`` (the default) for any run or shard: a glob."""
    shard = f"{shard:03d}" if isinstance(shard, int) else shard
    return stage.directory.format(run_id=run_id, shard=shard)


def glob(stage: Stage, name: str, run_id: str = "*") -> str:
    """Relative path (a glob with ``*`` for the run and the shard) of a file of ``stage``."""
    return f"{stage_directory(stage, run_id)}/{name}"


def manifest_glob(stage: Stage, run_id: str = "*") -> str:
    return glob(stage, stage.manifest_name, run_id)


def stage_files_glob(stage: Stage, run_id: str = "*") -> str:
    """Every file directly in the stage's directory."""
    return glob(stage, "*", run_id)


def matches(relative: str, pattern: str) -> bool:
    """Does a path relative to the data root match a glob of this module, part by part (``*`` stays in one part)?"""
    parts, wanted = PurePosixPath(relative).parts, PurePosixPath(pattern).parts
    return len(parts) == len(wanted) and all(fnmatch.fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True))


def is_manifest(relative: str, run_id: str = "*") -> bool:
    return any(matches(relative, manifest_glob(stage, run_id)) for stage in STAGES)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class RunFiles:
    """The files of one run under one data root."""

    data_root: Path
    run_id: str

    def directory(self, stage: Stage) -> Path:
        return self.data_root / stage_directory(stage, self.run_id)

    def path(self, stage: Stage, name: str) -> Path:
        return self.directory(stage) / name

    def manifest(self, stage: Stage) -> Path:
        return self.directory(stage) / stage.manifest_name

    def shard(self, shard: int) -> Stage:
        return TEACHER_SHARD.sharded(shard)

    @property
    def reports(self) -> Path:
        return self.directory(BOOTSTRAP)

    def report(self, name: str) -> Path:
        return self.reports / name

    @property
    def queries(self) -> Path:
        return self.path(QUERIES, QUERIES_FILE)

    @property
    def responses(self) -> Path:
        return self.path(TEACHER, RESPONSES_FILE)

    def dataset(self, name: str) -> Path:
        """A file of the distillation dataset: ``train``, ``val``, ``test``, ``all_records``, ``rejected`` (JSONL)
        or any other file name."""
        return self.path(DATASET, name if "." in name else f"{name}.jsonl")

    def table(self, table: str) -> Path:
        return self.path(table_stage(table), table_file(table))

    def read_table(self, table: str, columns: list[str] | None = None) -> pa.Table:
        """One of the world's tables as written (not checked against its manifest: the store's reads do that)."""
        return pq.read_table(self.table(table), columns=columns)

    def rows(self, path: Path) -> list[dict[str, Any]]:
        return read_jsonl(path)

    def document(self, path: Path) -> Any:
        return json.loads(path.read_text(encoding="utf-8"))

    def cache_root(self) -> Path:
        return self.data_root / TEACHER_CACHE

    def cache_entry(self, key: str) -> Path:
        return ResponseCache(self.cache_root()).path(key)

    def cache_entries(self) -> list[Path]:
        """The teacher cache's entries under this data root (temporaries left out)."""
        return [p for p in self.cache_root().rglob("*.json") if not p.name.startswith(".")]
