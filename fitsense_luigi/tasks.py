"""The whole pipeline as Luigi tasks: read inputs, call one domain function, write outputs.

    Bootstrap -> GenerateProfiles -> GenerateWorkouts -> GenerateQueries
              -> CallTeacher (fans out to TeacherShard) -> BuildDistillationDataset
              -> ValidateData, ComputeStats, DetectAnomalies -> BiasSlicing

Every task is keyed by ``run_id`` and completes when its stage manifest exists
(see :mod:`fitsense_luigi.storage`), so ``luigi --module fitsense_luigi
BiasSlicing --run-id R`` builds exactly what run R is missing. Domain modules
are imported inside ``run()`` so that a rerun with nothing to do stays fast.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import luigi

from fitsense_luigi import logs, storage
from fitsense_luigi.errors import FitSenseError
from fitsense_luigi.identity import check_run_id, default_run_id
from fitsense_luigi.runs import BOOTSTRAP_RECORD, RunContext, open_run
from fitsense_luigi.storage import Stage, StageWriter

logs.install()
log = logging.getLogger("fitsense.tasks")


class RunIdParameter(luigi.Parameter):
    """Letters, digits, '.', '_' and '-' only; defaults to today's UTC date."""

    def normalize(self, x: Any) -> str:
        return check_run_id(x)


class ManifestTarget(luigi.Target):
    """A stage is done when its manifest exists (it is written last)."""

    def __init__(self, store: storage.RunStore, stage: Stage) -> None:
        self.store = store
        self.stage = stage

    def exists(self) -> bool:
        return self.store.is_complete(self.stage)

    @property
    def path(self) -> str:
        return str(self.store.manifest_path(self.stage))


class PipelineTask(luigi.Task):
    """Base of every task: opens the run (validating all input) when instantiated."""

    run_id = RunIdParameter(default=default_run_id(), description="Run id; default: today's UTC date")
    stage: ClassVar[Stage]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ctx: RunContext = open_run(self.run_id)

    def output(self) -> ManifestTarget:
        return ManifestTarget(self.ctx.store, self.stage)

    def input_stages(self) -> list[Stage]:
        return [t.stage for t in luigi.task.flatten(self.requires()) if isinstance(t, PipelineTask)]

    def run(self) -> None:
        logs.attach_run_log(self.ctx.store.reports_dir() / "run.log")
        logs.set_level(self.ctx.config.run.log_level)
        log.info("%s: building %s for run %s", self.task_family, self.stage.name, self.run_id)
        writer = self.ctx.store.writer(self.stage, fingerprint=self.ctx.fingerprint, inputs=self.input_stages())
        with writer:
            self.build(writer)
        log.info("%s: wrote %d files", self.task_family, len(writer.files))

    def build(self, out: StageWriter) -> None:  # pragma: no cover - every task overrides
        raise NotImplementedError

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Shown in the central scheduler's UI; cheap enough to call per item."""
        percent = int(100 * done / total) if total else 100
        self.set_progress_percentage(percent)
        self.set_status_message(message or f"{done}/{total}")

    def on_failure(self, exception: BaseException) -> str:
        if isinstance(exception, FitSenseError):
            return f"{type(exception).__name__}: {exception}"
        return super().on_failure(exception)


class Bootstrap(PipelineTask):
    """Record the run: resolved params, fingerprint, as-of date, software versions."""

    stage = storage.BOOTSTRAP

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.bootstrap import bootstrap_record

        out.json(BOOTSTRAP_RECORD, bootstrap_record(self.ctx))
        out.summary["as_of_date"] = self.ctx.as_of_date.isoformat()


class GenerateProfiles(PipelineTask):
    """Users, profiles, goals, medical context, calorie and sleep targets."""

    stage = storage.PROFILES

    def requires(self) -> Bootstrap:
        return Bootstrap(run_id=self.run_id)

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.synth import profiles, schema

        pieces = profiles.generate(self.ctx.config, self.ctx.as_of_date, progress=self.progress)
        out.summary["rows"] = out.tables(pieces, {n: s.schema for n, s in schema.TABLES.items()})


class GenerateWorkouts(PipelineTask):
    """Exercise catalogue, plans, executed workouts and sets, daily logs."""

    stage = storage.WORKOUTS

    def requires(self) -> GenerateProfiles:
        return GenerateProfiles(run_id=self.run_id)

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.synth import realism, schema, workouts

        config, as_of = self.ctx.config, self.ctx.as_of_date
        observer = realism.Observer(  # watches the tables as they stream to Parquet; keeps per-user sums only
            {name: self.ctx.store.read_table(storage.PROFILES, f"{name}.parquet") for name in realism.PROFILE_TABLES},
            as_of,
            config.world.lookback_days,
        )
        pieces = observer.watch(workouts.generate(config, as_of, progress=self.progress))
        out.summary["rows"] = out.tables(pieces, {n: s.schema for n, s in schema.TABLES.items()})
        report = realism.report(observer)
        out.json("realism.json", report, place="reports")
        out.summary["realism_passed"] = report["passed"]


class GenerateQueries(PipelineTask):
    """Natural-language requests of the four prompt types, built from each user's state."""

    stage = storage.QUERIES

    def requires(self) -> GenerateWorkouts:
        return GenerateWorkouts(run_id=self.run_id)

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.queries import generate

        world = _read_world(self.ctx.store)
        queries = generate.build_queries(self.ctx.config, self.ctx.as_of_date, world)
        out.jsonl("queries.jsonl", queries)
        out.summary.update(generate.summarise(queries))


class TeacherShard(PipelineTask):
    """One slice of the teacher calls, so that workers and hosts can share the stage."""

    shard = luigi.IntParameter(description="Shard index, 0-based")

    @property
    def stage(self) -> Stage:  # type: ignore[override]
        return storage.TEACHER_SHARD.sharded(self.shard)

    def requires(self) -> GenerateQueries:
        return GenerateQueries(run_id=self.run_id)

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.teacher import stage as teacher_stage

        queries = self.ctx.store.read_jsonl(storage.QUERIES, "queries.jsonl")
        mine = teacher_stage.shard_queries(queries, self.shard, self.ctx.config.teacher.shards)
        rows = teacher_stage.answer(
            self.ctx.config,
            mine,
            cache_root=self.ctx.store.data_root / "cache" / "teacher",
            progress=self.progress,
        )
        out.jsonl("responses.jsonl", rows)
        out.summary.update(teacher_stage.summarise(rows, self.ctx.config))


class CallTeacher(PipelineTask):
    """Merge the shards' responses back into query order, with a run summary."""

    stage = storage.TEACHER

    def requires(self) -> dict[str, Any]:
        shards = self.ctx.config.teacher.shards
        return {
            "queries": GenerateQueries(run_id=self.run_id),
            "shards": [TeacherShard(run_id=self.run_id, shard=k) for k in range(shards)],
        }

    def input_stages(self) -> list[Stage]:
        shards = self.ctx.config.teacher.shards
        return [storage.QUERIES] + [storage.TEACHER_SHARD.sharded(k) for k in range(shards)]

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.teacher import stage as teacher_stage

        store = self.ctx.store
        queries = store.read_jsonl(storage.QUERIES, "queries.jsonl")
        parts = [
            store.read_jsonl(storage.TEACHER_SHARD.sharded(k), "responses.jsonl")
            for k in range(self.ctx.config.teacher.shards)
        ]
        rows = teacher_stage.merge_in_query_order(queries, parts)
        out.jsonl("responses.jsonl", rows)
        summary = teacher_stage.summarise(rows, self.ctx.config)
        out.json("summary.json", summary)
        out.summary.update(summary)


class BuildDistillationDataset(PipelineTask):
    """Filter, build chat-format records and split them by user."""

    stage = storage.DATASET

    def requires(self) -> CallTeacher:
        return CallTeacher(run_id=self.run_id)

    def input_stages(self) -> list[Stage]:
        return [storage.QUERIES, storage.TEACHER]

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.dataset import build

        store = self.ctx.store
        queries = store.read_jsonl(storage.QUERIES, "queries.jsonl")
        responses = store.read_jsonl(storage.TEACHER, "responses.jsonl")
        result = build.build_dataset(self.ctx.config, queries, responses, run_id=self.run_id)
        out.jsonl("all_records.jsonl", result.records)
        for split, rows in result.splits.items():
            out.jsonl(f"{split}.jsonl", rows)
        out.jsonl("rejected.jsonl", result.rejected)
        out.text("README.md", result.card)
        out.summary.update(result.summary)


class ValidateData(PipelineTask):
    """Schema, table, realism and split checks; the run fails here if the gate says so."""

    stage = storage.VALIDATION

    def requires(self) -> BuildDistillationDataset:
        return BuildDistillationDataset(run_id=self.run_id)

    def input_stages(self) -> list[Stage]:
        return [storage.PROFILES, storage.WORKOUTS, storage.DATASET]

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.quality import gate, validate

        store = self.ctx.store
        report = validate.validate_run(
            self.ctx.config, _read_world(store), _read_dataset(store), as_of=self.ctx.as_of_date
        )
        out.json("validation_report.json", report)
        out.summary["valid"] = report["valid"]
        gate.enforce(self.ctx.config, report, store.reports_dir() / "validation_report.json")


class ComputeStats(PipelineTask):
    """Per split and per table statistics in the spirit of TFDV."""

    stage = storage.STATS

    def requires(self) -> ValidateData:
        return ValidateData(run_id=self.run_id)

    def input_stages(self) -> list[Stage]:
        return [storage.PROFILES, storage.WORKOUTS, storage.DATASET]

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.quality import stats

        report = stats.compute_stats(_read_world(self.ctx.store), _read_dataset(self.ctx.store))
        out.json("stats_report.json", report)


class DetectAnomalies(PipelineTask):
    """Duplicates, missing or odd-length responses, split imbalance."""

    stage = storage.ANOMALIES

    def requires(self) -> ComputeStats:
        return ComputeStats(run_id=self.run_id)

    def input_stages(self) -> list[Stage]:
        return [storage.DATASET, storage.STATS]

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.quality import anomalies

        store = self.ctx.store
        stats_report = store.read_json(storage.STATS, "stats_report.json")
        report = anomalies.detect(self.ctx.config, _read_dataset(store), stats_report)
        out.json("anomaly_report.json", report)
        out.summary["severity"] = report["severity"]


class BiasSlicing(PipelineTask):
    """Is any group of users served worse? The last task: asking for it builds the whole run."""

    stage = storage.BIAS

    def requires(self) -> dict[str, PipelineTask]:
        return {
            "validation": ValidateData(run_id=self.run_id),
            "stats": ComputeStats(run_id=self.run_id),
            "anomalies": DetectAnomalies(run_id=self.run_id),
        }

    def input_stages(self) -> list[Stage]:
        return [storage.DATASET, storage.VALIDATION, storage.STATS, storage.ANOMALIES]

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.quality import bias

        report = bias.slice_report(self.ctx.config, _read_dataset(self.ctx.store))
        out.json("bias_report.json", report)
        out.summary["bias_alert"] = report["bias_alert"]


def _read_world(store: storage.RunStore, unverified: Stage | None = None) -> dict[str, Any]:
    """All 23 tables; ``unverified`` names a stage still being written (no manifest to check against yet)."""
    import pyarrow.parquet as pq

    from fitsense_luigi.synth import schema

    stages = {"profiles": storage.PROFILES, "workouts": storage.WORKOUTS}
    world = {}
    for name, spec in schema.TABLES.items():
        stage = stages[spec.stage]
        if stage == unverified:
            world[name] = pq.read_table(store.path(stage, f"{name}.parquet"))
        else:
            world[name] = store.read_table(stage, f"{name}.parquet")
    return world


def _read_dataset(store: storage.RunStore) -> dict[str, list[dict[str, Any]]]:
    names = ("all_records", "train", "val", "test", "rejected")
    return {name: store.read_jsonl(storage.DATASET, f"{name}.jsonl") for name in names}


ALL_TASKS = (
    Bootstrap,
    GenerateProfiles,
    GenerateWorkouts,
    GenerateQueries,
    TeacherShard,
    CallTeacher,
    BuildDistillationDataset,
    ValidateData,
    ComputeStats,
    DetectAnomalies,
    BiasSlicing,
)

__all__ = [t.__name__ for t in ALL_TASKS] + ["PipelineTask", "RunIdParameter"]
