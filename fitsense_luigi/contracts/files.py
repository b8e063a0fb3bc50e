"""Every file a stage writes, bound to the stage that writes it.

The writer of a stage and every reader of its files use these constants, so a
file name is spelled once. A :class:`StageFile` knows its stage, so a reader
cannot look for queries.jsonl in the teacher's directory, and the runtime can
check that a task reads only the stages it requires.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from fitsense_luigi.contracts import splits, stages
from fitsense_luigi.contracts.rows import (
    AskedQuery,
    DistillationRecord,
    PreferencePair,
    PromptCompletionRow,
    Query,
    RejectedRow,
    TeacherResponse,
)
from fitsense_luigi.contracts.stages import Stage


@dataclass(frozen=True)
class StageFile:
    """One file of a stage: in the stage's directory, or (``in_reports``) in the run's reports directory.

    ``rows`` is the shape of every row of a JSONL or Parquet file of rows (a
    TypedDict of :mod:`.rows`); None for documents and for the world's tables,
    whose Arrow schemas ``synth.schema.TABLES`` declares.
    """

    stage: Stage
    name: str
    in_reports: bool = False
    rows: Any = None

    def sharded(self, shard: int) -> StageFile:
        return replace(self, stage=self.stage.sharded(shard))


def world_table(name: str, stage: Stage) -> StageFile:
    """The Parquet file of one app table (``synth.schema.TABLES[name].stage`` says which stage writes it)."""
    return StageFile(stage, f"{name}.parquet")


def world_part(name: str, stage: Stage, part: int) -> StageFile:
    """One app table of one world part, as its world stage lists it: ``parts/003/<name>.parquet``.

    The part's own task writes the same file as ``world_table(name, PARTS_OF[stage].sharded(part))``.
    """
    relative = stages.PARTS_OF[stage].sharded(part).directory.removeprefix(stage.directory + "/")
    return StageFile(stage, f"{relative}/{name}.parquet")


def written_by(file: StageFile) -> Stage:
    """The stage whose task wrote ``file``: a world part's task for a part file its world stage lists.

    A damaged file is rebuilt by deleting the manifest of the stage that wrote it; the world stage's own
    manifest lists its parts' files too, but deleting it rebuilds only the stage, not the damaged part.
    """
    prefix = "parts/"
    if file.stage in stages.PARTS_OF and file.name.startswith(prefix):
        number = file.name[len(prefix) :].split("/", 1)[0]
        if number.isdigit():
            return stages.PARTS_OF[file.stage].sharded(int(number))
    return file.stage


def records(part: str) -> StageFile:
    """The JSONL file of one part of the dataset: a split (records), or ``rejected``."""
    return StageFile(
        stages.DATASET, f"{part}.jsonl", rows=RejectedRow if part == splits.REJECTED else DistillationRecord
    )


def records_table(split: str) -> StageFile:
    """The Parquet copy of one split, typed by the record schema."""
    return StageFile(stages.DATASET, f"{split}.parquet", rows=DistillationRecord)


def form(name: str, split: str) -> StageFile:
    """One split of the records in another form (``splits.FORMS``) or of the preference pairs."""
    rows = PreferencePair if name == splits.PREFERENCE else PromptCompletionRow
    return StageFile(stages.DATASET, f"{name}/{split}.jsonl", rows=rows)


def student_evaluation(name: str) -> StageFile:
    """EvaluateStudent's scores (JSON; ``student_evaluation_html`` for the page) for the student ``name``."""
    return StageFile(stages.evaluation(name), "student_evaluation.json")


def student_evaluation_html(name: str) -> StageFile:
    return StageFile(stages.evaluation(name), "student_evaluation.html")


BOOTSTRAP_RECORD = StageFile(stages.BOOTSTRAP, "phase1_bootstrap.json")  # the run's config, checked by every task
REALISM_REPORT = StageFile(stages.WORKOUTS, "realism.json", in_reports=True)
QUERIES = StageFile(stages.QUERIES, "queries.jsonl", rows=Query)
QUERY_PLAN = StageFile(stages.QUERY_PLAN, "askers.parquet", rows=AskedQuery)  # per query: place, type, user, part
SHARD_QUERIES = StageFile(stages.QUERIES_SHARD, "queries.jsonl", rows=Query)  # .sharded(k): one world part's askers
SHARD_RESPONSES = StageFile(stages.TEACHER_SHARD, "responses.jsonl", rows=TeacherResponse)  # .sharded(k)
RESPONSES = StageFile(stages.TEACHER, "responses.jsonl", rows=TeacherResponse)  # the shards' rows in query order
TEACHER_SUMMARY = StageFile(stages.TEACHER, "summary.json")
TEACHER_BATCHES = StageFile(stages.TEACHER, "batches.json")  # provider openai_batch: the run's batches
REJECTED = records(splits.REJECTED)
SPLIT_REPORT = StageFile(stages.DATASET, "split_report.json")
LENGTH_REPORT = StageFile(stages.DATASET, "length_report.json")  # the records' token counts
DATASET_CARD = StageFile(stages.DATASET, "README.md")
DATASET_LICENSE = StageFile(stages.DATASET, "LICENSE.md")  # the card's license_link
VALIDATION_REPORT = StageFile(stages.VALIDATION, "validation_report.json")
STATS_REPORT = StageFile(stages.STATS, "stats_report.json")
ANOMALY_REPORT = StageFile(stages.ANOMALIES, "anomaly_report.json")
BIAS_REPORT = StageFile(stages.BIAS, "bias_report.json")
QUALITY_GATE = StageFile(stages.BIAS, "quality_gate.json")
REPORT_HTML = StageFile(stages.BIAS, "report.html")
CHARTS_DIR = "charts"  # the BIAS stage's charts: charts/<name>.svg in the reports directory

# Every file of rows a run writes (the shard's file stands for each shard's).
ROW_FILES = (
    QUERY_PLAN,
    SHARD_QUERIES,
    QUERIES,
    SHARD_RESPONSES,
    RESPONSES,
    *(records(part) for part in splits.DATASET_FILES),
    *(records_table(split) for split in splits.SPLITS),
    *(form(name, split) for name in (*splits.FORMS, splits.PREFERENCE) for split in splits.SPLITS),
)


def chart(name: str) -> StageFile:
    return StageFile(stages.BIAS, f"{CHARTS_DIR}/{name}")


# Beside the runs, under the data root
TEACHER_CACHE = "cache/teacher"  # answers shared by every run and shard (teacher.cache)
RUN_LOG = "run.log"  # in the reports directory, appended to by every process of the run; not in any manifest
RUN_LOGS_DIR = "run-logs"  # on an object store (no appends): one uploaded log per process, beside run.log
