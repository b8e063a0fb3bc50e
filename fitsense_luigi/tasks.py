"""The whole pipeline as Luigi tasks: read inputs, call one domain function, write outputs.

    Bootstrap -> GenerateProfiles -> GenerateWorkouts -> GenerateQueries
              -> CallTeacher (fans out to TeacherShard) -> BuildDistillationDataset
              -> ValidateData -> ComputeStats -> DetectAnomalies -> BiasSlicing (the quality gate)

Every task is keyed by ``run_id`` and completes when its stage manifest exists
(see :mod:`fitsense_luigi.storage`), so ``luigi --module fitsense_luigi
BiasSlicing --run-id R`` builds exactly what run R is missing. Domain modules
are imported inside ``run()`` so that a rerun with nothing to do stays fast.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any, ClassVar

import luigi
from luigi.task_status import RUNNING

from fitsense_luigi import locks, logs, storage
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
        with locks.exclusive(self.ctx.store.lock_path(self.stage), f"{self.task_family} of run {self.run_id}"):
            if self.complete():
                log.info("%s: already built by another process", self.task_family)
                self.progress(1, 1, "done: built by another process")
                return
            log.info("%s: building %s for run %s", self.task_family, self.stage.name, self.run_id)
            self.progress(0, 1, f"building {self.stage.name}")
            writer = self.ctx.store.writer(self.stage, fingerprint=self.ctx.fingerprint, inputs=self.input_stages())
            try:
                with writer:
                    self.build(writer)
            except FitSenseError as exc:
                if exc.permanent:
                    self._no_more_attempts()
                raise
        log.info("%s: wrote %d files", self.task_family, len(writer.files))
        self.progress(1, 1, f"done: wrote {len(writer.files)} files")

    def build(self, out: StageWriter) -> None:  # pragma: no cover - every task overrides
        raise NotImplementedError

    def _no_more_attempts(self) -> None:
        """Ask the scheduler to disable this task at this failure instead of retrying it minutes later.

        Luigi decides on a retry from the retry policy the scheduler already
        holds when the failure arrives, and offers no per-exception hook, so the
        policy (``retry_count`` 1) is sent just before the failure is reported,
        the way luigi's own status reporter updates a running task. That reaches
        luigid from any worker process, and the local scheduler when the task
        runs in its process (one worker); with ``--workers N --local-scheduler``
        the task runs in a child whose copy of the scheduler is not the real
        one, and the configured retries still happen.
        """
        reporter = getattr(self.set_tracking_url, "__self__", None)  # luigi.worker.TaskStatusReporter, in run()
        scheduler, worker = getattr(reporter, "_scheduler", None), getattr(reporter, "_worker_id", None)
        if scheduler is None or worker is None:
            return
        try:
            scheduler.add_task(
                task_id=self.task_id, worker=worker, status=RUNNING, retry_policy_dict={"retry_count": 1}
            )
        except Exception as exc:  # the failure itself must still be reported
            log.debug("could not turn off retries for %s: %s", self.task_id, exc)

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Shown in the central scheduler's UI; cheap enough to call per item."""
        percent = int(100 * done / total) if total else 100
        self.set_progress_percentage(percent)
        self.set_status_message(message or f"{done}/{total}")

    def on_success(self) -> None:
        logs.sync_run_logs()  # S3 data roots: upload this process's run log
        return super().on_success()

    def on_failure(self, exception: BaseException) -> str:
        logs.sync_run_logs()
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
        from fitsense_luigi.queries import generate, state, tables

        # every input table is verified against its manifest; state.py streams only the rows and columns it needs
        with _world_paths(self.ctx.store) as paths:
            world = tables.ParquetTables(paths, state.COLUMNS)
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
        from fitsense_luigi.teacher.summary import summarise
        from fitsense_luigi.teacher.workahead import ShardClaims

        store, shards = self.ctx.store, self.ctx.config.teacher.shards
        queries = store.read_jsonl(storage.QUERIES, "queries.jsonl")
        mine = teacher_stage.shard_queries(queries, self.shard, shards)
        others = {k: teacher_stage.shard_queries(queries, k, shards) for k in range(shards) if k != self.shard}
        claims = ShardClaims(  # work ahead on shards nobody builds, so the endpoint stays busy to the last request
            others,
            try_lock=lambda k: locks.try_exclusive(store.lock_path(storage.TEACHER_SHARD.sharded(k))),
            is_complete=lambda k: store.is_complete(storage.TEACHER_SHARD.sharded(k)),
        )
        if not storage.is_local(store.data_root):  # S3 roots span hosts, whose locks are their own
            claims = None
        rows = teacher_stage.answer(
            self.ctx.config,
            mine,
            cache_root=store.data_root / "cache" / "teacher",
            progress=self.progress,
            run_id=self.run_id,
            claims=claims,
        )
        out.jsonl("responses.jsonl", rows)
        out.summary.update(summarise(rows, self.ctx.config))


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
        from fitsense_luigi.teacher.summary import summarise

        store = self.ctx.store
        queries = store.read_jsonl(storage.QUERIES, "queries.jsonl")
        parts = [
            store.read_jsonl(storage.TEACHER_SHARD.sharded(k), "responses.jsonl")
            for k in range(self.ctx.config.teacher.shards)
        ]
        rows = teacher_stage.merge_in_query_order(queries, parts)
        out.jsonl("responses.jsonl", rows)
        summary = summarise(rows, self.ctx.config)
        teacher_stage.warn_if_unusable(summary, self.ctx.config)
        out.json("summary.json", summary)
        out.summary.update(summary)


class BuildDistillationDataset(PipelineTask):
    """Filter, deduplicate, build chat-format records and split them by user; write the dataset card."""

    stage = storage.DATASET

    def requires(self) -> CallTeacher:
        return CallTeacher(run_id=self.run_id)

    def input_stages(self) -> list[Stage]:
        return [storage.QUERIES, storage.TEACHER]

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi._version import __version__
        from fitsense_luigi.dataset import build
        from fitsense_luigi.dataset.split import SPLITS

        store = self.ctx.store
        queries = store.read_jsonl(storage.QUERIES, "queries.jsonl")
        responses = storage.iter_jsonl(store.verified_path(storage.TEACHER, "responses.jsonl"))
        provenance = build.Provenance(
            run_id=self.run_id,
            source_run_ids={s.name: store.manifest(s)["run_id"] for s in (storage.QUERIES, storage.TEACHER)},
            config_fingerprint=self.ctx.fingerprint,
            package_version=__version__,
        )
        result = build.build_dataset(self.ctx.config, queries, responses, provenance, progress=self.progress)
        out.jsonl("all_records.jsonl", result.records)
        for split in SPLITS:
            out.jsonl(f"{split}.jsonl", result.splits[split])
            out.parquet(f"{split}.parquet", result.table(split))
        out.jsonl("rejected.jsonl", result.rejected)
        out.json("split_report.json", result.split_report)
        out.text("README.md", result.card)
        out.summary.update(result.summary)


class ValidateData(PipelineTask):
    """Schema, table, rule, realism and split checks, each with counts and examples (enforced by the gate)."""

    stage = storage.VALIDATION

    def requires(self) -> BuildDistillationDataset:
        return BuildDistillationDataset(run_id=self.run_id)

    def input_stages(self) -> list[Stage]:
        return [storage.PROFILES, storage.WORKOUTS, storage.DATASET]

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.quality import validate

        store = self.ctx.store
        realism = store.read_json(storage.WORKOUTS, "realism.json", place="reports")
        with _world_files(store) as world:
            report = validate.validate_run(
                self.ctx.config, world, _read_dataset(store), realism, as_of=self.ctx.as_of_date
            )
        out.json("validation_report.json", report)
        out.summary.update(valid=report["valid"], errors=report["num_errors"], warnings=report["num_warnings"])


class ComputeStats(PipelineTask):
    """Per split and per table statistics in the spirit of TFDV."""

    stage = storage.STATS

    def requires(self) -> ValidateData:
        return ValidateData(run_id=self.run_id)

    def input_stages(self) -> list[Stage]:
        return [storage.PROFILES, storage.WORKOUTS, storage.DATASET]

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.quality import stats

        store = self.ctx.store
        with _world_files(store) as world:
            report = stats.compute_stats(world, _read_dataset(store), self.ctx.as_of_date)
        out.json("stats_report.json", report)
        out.summary["records"] = report["splits"]["all_records"]["count"]


class DetectAnomalies(PipelineTask):
    """Duplicates, missing or odd-length responses, split imbalance, drift against the last good run."""

    stage = storage.ANOMALIES

    def requires(self) -> ComputeStats:
        return ComputeStats(run_id=self.run_id)

    def input_stages(self) -> list[Stage]:
        return [storage.QUERIES, storage.TEACHER, storage.DATASET, storage.STATS]

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.quality import anomalies
        from fitsense_luigi.quality.anomalies import baseline

        store = self.ctx.store
        previous, notes = baseline.previous_successful_run(store.data_root, self.run_id)
        report = anomalies.detect(
            self.ctx.config,
            _read_dataset(store),
            store.read_jsonl(storage.QUERIES, "queries.jsonl"),
            store.read_jsonl(storage.TEACHER, "responses.jsonl"),
            store.read_json(storage.STATS, "stats_report.json"),
            previous,
            notes,
            params=self.ctx.resolved_params(),
        )
        out.json("anomaly_report.json", report)
        out.summary.update(severity=report["severity"], baseline_run_id=previous.run_id if previous else None)


class BiasSlicing(PipelineTask):
    """Is any group of users served worse? Then charts, report.html and the quality gate: the run's last word.

    Asking for it builds the whole run. The gate is enforced after every report
    is written; its failure is deterministic, so Luigi does not retry it.
    """

    stage = storage.BIAS
    # a failed gate fails the same way again: no retries, cron sees the exit code at once (QualityGateError is
    # permanent too; this also covers --workers N with the local scheduler)
    retry_count = 1

    def requires(self) -> dict[str, PipelineTask]:
        return {
            "validation": ValidateData(run_id=self.run_id),
            "stats": ComputeStats(run_id=self.run_id),
            "anomalies": DetectAnomalies(run_id=self.run_id),
        }

    def input_stages(self) -> list[Stage]:
        return [storage.QUERIES, storage.TEACHER, storage.DATASET, storage.VALIDATION, storage.STATS, storage.ANOMALIES]

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi import __version__
        from fitsense_luigi.quality import bias, publish
        from fitsense_luigi.quality.publish import gate

        store, config = self.ctx.store, self.ctx.config
        report = bias.slice_report(
            config,
            store.read_jsonl(storage.QUERIES, "queries.jsonl"),
            store.read_jsonl(storage.TEACHER, "responses.jsonl"),
            store.read_jsonl(storage.DATASET, "all_records.jsonl"),
        )
        out.json("bias_report.json", report)
        run = {
            "run_id": self.run_id,
            "as_of_date": self.ctx.as_of_date.isoformat(),
            "fingerprint": self.ctx.fingerprint,
            "version": __version__,
        }
        published = publish.publish(
            config,
            run,
            store.read_json(storage.VALIDATION, "validation_report.json"),
            store.read_json(storage.STATS, "stats_report.json"),
            store.read_json(storage.ANOMALIES, "anomaly_report.json"),
            report,
        )
        for name, data in published.files.items():
            out.bytes(name, data)
        out.summary.update(bias_alert=report["bias_alert"], gate_passed=published.verdict["passed"])
        gate.enforce(config, published.verdict, self.run_id, str(store.reports_dir() / "report.html"))


@contextlib.contextmanager
def _world_paths(store: storage.RunStore) -> Iterator[dict[str, Any]]:
    """Local paths of the 23 tables, each verified against its manifest once.

    On an S3 root each table is downloaded once and kept until the caller is done.
    """
    from fitsense_luigi.synth import schema

    stages = {"profiles": storage.PROFILES, "workouts": storage.WORKOUTS}
    with contextlib.ExitStack() as stack:
        yield {
            name: stack.enter_context(store.verified_local(stages[spec.stage], f"{name}.parquet"))
            for name, spec in schema.TABLES.items()
        }


@contextlib.contextmanager
def _world_files(store: storage.RunStore) -> Iterator[Any]:
    """The 23 tables, verified, read lazily column by column."""
    from fitsense_luigi.quality.world import ParquetWorld

    with _world_paths(store) as paths:
        yield ParquetWorld(paths)


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
