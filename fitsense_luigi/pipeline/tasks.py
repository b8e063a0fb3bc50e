"""The whole pipeline as Luigi tasks: read inputs, call one domain function, write outputs.

    Bootstrap -> GenerateProfiles -> GenerateWorkouts -> GenerateQueries
              -> CallTeacher (fans out to TeacherShard) -> BuildDistillationDataset
              -> ValidateData -> ComputeStats -> DetectAnomalies -> BiasSlicing (the quality gate)

Every task is keyed by ``run_id`` and completes when its stage manifest exists
(see :mod:`fitsense_luigi.pipeline.store`), so ``luigi --module fitsense_luigi
BiasSlicing --run-id R`` builds exactly what run R is missing. A task's
``requires()`` names every stage it reads: its manifest lists exactly those
inputs, and ``self.inputs`` reads only those. Domain modules are imported
inside ``build()`` so that a rerun with nothing to do stays fast.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import luigi

from fitsense_luigi._version import __version__
from fitsense_luigi.contracts import files, splits, stages
from fitsense_luigi.contracts.manifest import GATE_PASSED
from fitsense_luigi.contracts.parts import world_parts
from fitsense_luigi.contracts.rows import TeacherResponse
from fitsense_luigi.contracts.stages import Stage
from fitsense_luigi.errors import ConfigError, FitSenseError
from fitsense_luigi.pipeline import locks, logs, luigi_internals, outcome, termination
from fitsense_luigi.pipeline.identity import check_run_id, default_run_id
from fitsense_luigi.pipeline.runs import RunContext, open_run
from fitsense_luigi.pipeline.store import RunStore, StageWriter
from fitsense_luigi.teacher import redact

logs.install()
logs.close_luigi_summaries_with(outcome.closing_summary)
termination.install()
log = logging.getLogger("fitsense.tasks")
STUDENT_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RunIdParameter(luigi.Parameter):
    """Letters, digits, '.', '_' and '-' only, a real date if it starts like one; defaults to today's UTC date.

    ``--run-id ""`` is refused (luigi would take it for "not given" and build today's run).
    """

    def normalize(self, x: Any) -> str:
        return check_run_id("" if luigi_internals.empty_on_command_line("run_id") else x)


class ManifestTarget(luigi.Target):
    """A stage is done when its manifest exists (it is written last) and every stage it was built from, at any
    depth, still has the manifest it was built from (``RunStore.outdated``)."""

    def __init__(self, store: RunStore, stage: Stage) -> None:
        self.store = store
        self.stage = stage

    def exists(self) -> bool:
        if not self.store.is_complete(self.stage):
            return False
        reason = self.store.outdated(self.stage)
        if reason and (self.store.uri(""), self.stage.name) not in _REPORTED_OUTDATED:
            _REPORTED_OUTDATED.add((self.store.uri(""), self.stage.name))
            log.info(
                "stage %s of run %s is out of date: %s; it is built again", self.stage.name, self.store.run_id, reason
            )
        return reason is None

    @property
    def path(self) -> str:
        return self.store.uri(self.store.manifest_key(self.stage))


_REPORTED_OUTDATED: set[tuple[str, str]] = set()  # said once per process: luigi asks complete() many times


class PipelineTask(luigi.Task):
    """Base of every task: opens the run (validating all input) when instantiated."""

    run_id = RunIdParameter(default=default_run_id(), description="Run id; default: today's UTC date")
    stage: ClassVar[Stage]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ctx: RunContext = open_run(self.run_id)
        # the run is in use while this process lives: no pruning (a run not yet made: from its first build on)
        locks.hold_shared(self.ctx.store.run_lock_path(), create=False)
        outcome.worked_on(self.ctx.store)

    def output(self) -> ManifestTarget:
        return ManifestTarget(self.ctx.store, self.stage)

    def required_stages(self) -> list[Stage]:
        """The stages of ``requires()``: what the task reads, and what its manifest lists as inputs."""
        return [task.stage for task in luigi.task.flatten(self.requires())]

    @property
    def inputs(self) -> RunStore:
        """The run's store, reading only the stages this task requires."""
        return self.ctx.store.reading_only(self.required_stages())

    def run(self) -> None:
        store = self.ctx.store
        locks.hold_shared(store.run_lock_path())
        logs.attach_run_log(store.root, store.run_log_key())
        logs.set_level(self.ctx.config.run.log_level)
        with locks.exclusive(store.lock_path(self.stage), f"{self.task_family} of run {self.run_id}"):
            if self.complete():
                log.info("%s: already built by another process", self.task_family)
                self.progress(1, 1, "done: built by another process")
                return
            log.info("%s: building %s for run %s", self.task_family, self.stage.name, self.run_id)
            self.progress(0, 1, f"building {self.stage.name}")
            writer = store.writer(self.stage, fingerprint=self.ctx.fingerprint, inputs=self.required_stages())
            try:
                with writer:
                    self.build(writer)
            except FitSenseError as exc:
                if exc.permanent:  # it would fail the same way again: no retries minutes later
                    luigi_internals.stop_retries(self)
                raise
        message = outcome.done_message(self.stage, writer.summary, len(writer.files), store)
        log.info("%s: %s", self.task_family, message)
        self.progress(1, 1, message)

    def build(self, out: StageWriter) -> None:  # pragma: no cover - every task overrides
        raise NotImplementedError

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Shown in the central scheduler's UI; cheap enough to call per item."""
        percent = int(100 * done / total) if total else 100
        self.set_progress_percentage(percent)
        self.set_status_message(message or f"{done}/{total}")

    def on_success(self) -> None:
        logs.sync_run_logs()  # S3 data roots: upload this process's run log
        return super().on_success()

    def on_failure(self, exception: BaseException) -> str:
        """The explanation Luigi logs and sends to the scheduler (luigid keeps it in its state file and serves it
        at ``/api/fetch_error``): one line for a user error, a traceback otherwise; no secret either way."""
        logs.sync_run_logs()
        if isinstance(exception, FitSenseError):
            return redact.redact_text(f"{type(exception).__name__}: {exception}")
        return redact.redact_text(super().on_failure(exception))


class Bootstrap(PipelineTask):
    """Record the run: resolved params, fingerprint, as-of date, software versions."""

    stage = stages.BOOTSTRAP

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.pipeline.bootstrap import bootstrap_record

        out.json(files.BOOTSTRAP_RECORD, bootstrap_record(self.ctx))
        out.summary["as_of_date"] = self.ctx.as_of_date.isoformat()


def parts_of(config: Any) -> list[range]:
    """The run's world parts (``run.users_per_part`` users each)."""
    return world_parts(config.world.users, config.run.users_per_part)


class WorldPart(PipelineTask):
    """One world part (a fixed range of users, ``contracts.parts``) of one world stage: its users' rows.

    The parts of a stage are independent tasks, so ``--workers N`` and several hosts on one luigid
    generate them side by side; the part's files are the ones a one-worker run writes.
    """

    part = luigi.IntParameter(description="World part, 0-based (parts of contracts.parts.PART_USERS users)")
    whole: ClassVar[Stage]  # the world stage this is a part of

    @property
    def stage(self) -> Stage:  # type: ignore[override]
        return stages.PARTS_OF[self.whole].sharded(self.part)

    def requires(self) -> dict[str, PipelineTask]:
        return {"bootstrap": Bootstrap(run_id=self.run_id)}

    def users(self) -> range:
        ranges = parts_of(self.ctx.config)
        if not 0 <= self.part < len(ranges):
            raise ConfigError(
                f"world part {self.part} does not exist: {self.ctx.config.world.users} users make {len(ranges)} parts"
            )
        return ranges[self.part]

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.synth import schema

        users = self.users()
        out.summary["users"] = [users.start, users.stop]
        out.summary["rows"] = out.tables(self.generate(users), {n: s.schema for n, s in schema.TABLES.items()})
        out.summary["piece_rows"] = out.piece_rows  # how GenerateWorkouts replays the pieces to the realism observer

    def generate(self, users: range) -> Any:  # pragma: no cover - every part overrides
        raise NotImplementedError


class ProfilesPart(WorldPart):
    """Users, profiles, goals, medical context and targets of one world part."""

    whole = stages.PROFILES

    def generate(self, users: range) -> Any:
        from fitsense_luigi.synth import profiles

        return profiles.generate(self.ctx.config, self.ctx.as_of_date, self.progress, users)


class WorkoutsPart(WorldPart):
    """Plans, executed workouts and sets, and daily logs of one world part (needs no profile files)."""

    whole = stages.WORKOUTS

    def generate(self, users: range) -> Any:
        from fitsense_luigi.synth import workouts

        return workouts.generate(self.ctx.config, self.ctx.as_of_date, self.progress, users)


class WorldStage(PipelineTask):
    """A world stage: its catalogue tables, and the files of its parts listed in its manifest, in part order."""

    part_task: ClassVar[type[WorldPart]]

    def parts(self) -> list[WorldPart]:
        count = len(parts_of(self.ctx.config))
        return [self.part_task(run_id=self.run_id, part=k) for k in range(count)]

    def collect(self, out: StageWriter, reference: Any) -> None:
        from fitsense_luigi.synth import schema

        rows = out.tables(reference, {n: s.schema for n, s in schema.TABLES.items()})
        for k, (part, users) in enumerate(zip(self.parts(), parts_of(self.ctx.config), strict=True)):
            manifest = self.inputs.manifest(part.stage)
            if manifest["summary"]["users"] != [users.start, users.stop]:  # a part written before a size change
                first, stop = manifest["summary"]["users"]
                raise ConfigError(
                    f"world part {k} of run {self.run_id} holds users {first}..{stop - 1}, but this run's parts "
                    f"put users {users.start}..{users.stop - 1} there: delete its manifest, or use a new run id"
                )
            for name, count in manifest["summary"]["rows"].items():
                entry = manifest["files"][self.ctx.store.key(files.world_table(name, part.stage))]
                out.adopt(files.world_part(name, self.stage, k), entry)
                rows[name] = rows.get(name, 0) + count
        out.summary["rows"] = rows
        out.summary["parts"] = len(self.parts())


class GenerateProfiles(WorldStage):
    """Users, profiles, goals, medical context, calorie and sleep targets."""

    stage = stages.PROFILES
    part_task = ProfilesPart

    def requires(self) -> dict[str, Any]:
        return {"bootstrap": Bootstrap(run_id=self.run_id), "parts": self.parts()}

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.synth import profiles

        self.collect(out, profiles.reference())


class GenerateWorkouts(WorldStage):
    """Exercise catalogue, plans, executed workouts and sets, daily logs; the realism report over all parts."""

    stage = stages.WORKOUTS
    part_task = WorkoutsPart

    def requires(self) -> dict[str, Any]:
        return {"profiles": GenerateProfiles(run_id=self.run_id), "parts": self.parts()}

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.synth import realism, workouts
        from fitsense_luigi.synth.ahead import ahead

        config, as_of, inputs = self.ctx.config, self.ctx.as_of_date, self.inputs
        self.collect(out, workouts.reference())
        # the observer keeps per-user sums only; it sees the parts' pieces exactly as their generators yielded them
        observer = realism.Observer(
            {name: inputs.read_world_table(name) for name in realism.PROFILE_TABLES}, as_of, config.world.lookback_days
        )
        parts = self.parts()
        for k, part in enumerate(parts):
            self.progress(k, len(parts), f"realism: part {k + 1}/{len(parts)}")
            for name, table in ahead(inputs.pieces(part.stage), depth=9):  # the next block is read meanwhile
                observer.add(name, table)
        report = realism.report(observer)
        out.json(files.REALISM_REPORT, report)
        out.summary["realism_passed"] = report["passed"]


class QueryPlan(PipelineTask):
    """Who asks what, drawn once from the whole population (profile tables only): the shards' shared input."""

    stage = stages.QUERY_PLAN

    def requires(self) -> dict[str, PipelineTask]:
        return {"profiles": GenerateProfiles(run_id=self.run_id)}

    def build(self, out: StageWriter) -> None:
        import pyarrow as pa

        from fitsense_luigi.queries import generate, state

        with self.inputs.world(names=state.POPULATION_TABLES) as world:
            asked = generate.plan(self.ctx.config, self.ctx.as_of_date, world)
        out.parquet(files.QUERY_PLAN, pa.Table.from_pandas(asked, preserve_index=False))
        out.summary.update(queries=len(asked), askers=int(asked["user_id"].nunique()))


class QueryShard(PipelineTask):
    """The queries of the askers in one world part, so that workers and hosts share the stage."""

    shard = luigi.IntParameter(description="World part whose askers this shard writes, 0-based")

    @property
    def stage(self) -> Stage:  # type: ignore[override]
        return stages.QUERIES_SHARD.sharded(self.shard)

    def requires(self) -> dict[str, PipelineTask]:
        return {
            "plan": QueryPlan(run_id=self.run_id),
            "profiles": GenerateProfiles(run_id=self.run_id),
            "workouts": GenerateWorkouts(run_id=self.run_id),
        }

    def build(self, out: StageWriter) -> None:
        import pyarrow.compute as pc

        from fitsense_luigi.queries import generate

        inputs, config = self.inputs, self.ctx.config
        plan = inputs.read_table(files.QUERY_PLAN)
        asked = plan.filter(pc.equal(plan["part"], self.shard)).to_pandas()
        # every table is verified against its manifest; the askers' state reads only their part's rows
        with inputs.world(parts=[self.shard]) as part:
            queries = generate.queries_of(config, self.ctx.as_of_date, asked, part)
            out.jsonl(files.SHARD_QUERIES.sharded(self.shard), (query for _, query in queries))
        out.summary["queries"] = len(asked)


class GenerateQueries(PipelineTask):
    """Natural-language requests of the four prompt types, built from each user's state (the shards merged)."""

    stage = stages.QUERIES

    def shards(self) -> list[QueryShard]:
        return [QueryShard(run_id=self.run_id, shard=k) for k in range(len(parts_of(self.ctx.config)))]

    def requires(self) -> dict[str, Any]:
        return {"plan": QueryPlan(run_id=self.run_id), "shards": self.shards()}

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.queries import generate

        inputs = self.inputs
        owner = inputs.read_table(files.QUERY_PLAN, ["position", "part"]).sort_by("position")["part"].to_pylist()
        summary = generate.Summary()
        with contextlib.ExitStack() as stack:
            shards = [
                stack.enter_context(inputs.streamed_lines(files.SHARD_QUERIES.sharded(k)))
                for k in range(len(self.shards()))
            ]

            def merged() -> Any:  # the shards' lines in the plan's order, copied byte for byte
                for part in owner:
                    line = next(shards[part])
                    summary.add(generate.summary_facts(line))
                    yield line

            out.jsonl_lines(files.QUERIES, merged())
        out.summary.update(summary.result())


TEACHER_BATCHES_LOCK = f"{files.TEACHER_CACHE}/batches.lock"  # every process under the data root submits under it
# run id -> when this process stops waiting for the run's teacher batches: the first shard to wait sets it, the
# shards after it (one worker runs them one after another) poll once and leave
_BATCH_WAIT_ENDS: dict[str, float] = {}


class TeacherShard(PipelineTask):
    """One slice of the teacher calls, so that workers and hosts can share the stage."""

    shard = luigi.IntParameter(description="Shard index, 0-based")

    @property
    def stage(self) -> Stage:  # type: ignore[override]
        return stages.TEACHER_SHARD.sharded(self.shard)

    def requires(self) -> dict[str, PipelineTask]:
        return {"queries": GenerateQueries(run_id=self.run_id)}

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.teacher import stage as teacher_stage
        from fitsense_luigi.teacher.batch.rounds import Share
        from fitsense_luigi.teacher.summary import summarise
        from fitsense_luigi.teacher.workahead import ShardClaims

        store, shards = self.ctx.store, self.ctx.config.teacher.shards
        # by position, each query read when its request is made: at 100,000 queries the file is a gigabyte
        with self.inputs.line_rows(files.QUERIES) as queries:
            mine = teacher_stage.shard_queries(queries, self.shard, shards)
            others = {k: teacher_stage.shard_queries(queries, k, shards) for k in range(shards) if k != self.shard}
            claims = ShardClaims(  # work ahead on shards nobody builds, so the endpoint stays busy to the last request
                others,
                try_lock=lambda k: locks.try_exclusive(store.lock_path(stages.TEACHER_SHARD.sharded(k))),
                is_complete=lambda k: store.is_complete(stages.TEACHER_SHARD.sharded(k)),
            )
            rows = teacher_stage.answer(
                self.ctx.config,
                mine,
                cache_root=store.root.scoped(files.TEACHER_CACHE),
                progress=self.progress,
                run_id=self.run_id,
                # an object store spans hosts, whose locks are their own: no work-ahead there
                claims=None if store.root.uri().startswith("s3://") else claims,
                batch=Share(  # provider openai_batch: the stage's requests go out together, submitted under one lock
                    queries,
                    lock=lambda: locks.exclusive(
                        store.root.lock_path(TEACHER_BATCHES_LOCK), "teacher batch submission"
                    ),
                    deadline=_BATCH_WAIT_ENDS.setdefault(
                        self.run_id, time.monotonic() + self.ctx.config.teacher.batch.wait_s
                    ),
                ),
            )
        out.jsonl(files.SHARD_RESPONSES.sharded(self.shard), rows)
        out.summary.update(summarise(rows, self.ctx.config))


class CallTeacher(PipelineTask):
    """Merge the shards' responses back into query order, with a run summary."""

    stage = stages.TEACHER

    def requires(self) -> dict[str, Any]:
        return {
            "queries": GenerateQueries(run_id=self.run_id),
            "shards": [TeacherShard(run_id=self.run_id, shard=k) for k in range(self.ctx.config.teacher.shards)],
        }

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.teacher import stage as teacher_stage
        from fitsense_luigi.teacher.summary import summarise, summary_view

        inputs, views = self.inputs, []

        def viewed(rows: Iterator[TeacherResponse]) -> Iterator[TeacherResponse]:
            for row in rows:
                views.append(summary_view(row))
                yield row

        with contextlib.ExitStack() as stack:  # streamed: at 100,000 queries the rows are gigabytes as objects
            queries = stack.enter_context(inputs.rows(files.QUERIES))
            parts = [
                stack.enter_context(inputs.rows(files.SHARD_RESPONSES.sharded(k)))
                for k in range(self.ctx.config.teacher.shards)
            ]
            merged = teacher_stage.merge_in_query_order((q["query_id"] for q in queries), parts)
            out.jsonl(files.RESPONSES, viewed(merged))
        summary = summarise(views, self.ctx.config)
        teacher_stage.warn_if_unusable(summary, self.ctx.config)
        out.json(files.TEACHER_SUMMARY, summary)
        out.summary.update(summary)
        if self.ctx.config.teacher.provider == "openai_batch":
            from fitsense_luigi.teacher.batch import report

            batches = report.for_run(self.ctx.store.root.scoped(files.TEACHER_CACHE), self.run_id)
            out.json(files.TEACHER_BATCHES, batches)
            out.summary["batches"] = batches["totals"]


class BuildDistillationDataset(PipelineTask):
    """Filter, deduplicate, build chat-format records and split them by user; write the dataset card."""

    stage = stages.DATASET

    def requires(self) -> dict[str, PipelineTask]:
        return {"queries": GenerateQueries(run_id=self.run_id), "teacher": CallTeacher(run_id=self.run_id)}

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.dataset import build

        inputs = self.inputs
        provenance = build.Provenance(
            run_id=self.run_id,
            source_run_ids={s.name: inputs.manifest(s)["run_id"] for s in self.required_stages()},
            config_fingerprint=self.ctx.fingerprint,
            package_version=__version__,
        )
        # streamed: the queries twice from their file, each answer looked up in its file, the records written a
        # chunk at a time (each record once per form, in its split's file: trainers read these)
        with (
            inputs.rows(files.QUERIES) as queries,
            inputs.indexed_rows(files.RESPONSES, "query_id", build.check_response) as responses,
        ):
            result = build.write_dataset(self.ctx.config, queries, responses, provenance, out, self.progress)
        written = {file.name: out.files[out.store.key(file)]["bytes"] for file in build.row_files()}
        out.json(files.SPLIT_REPORT, result.split_report)
        out.json(files.LENGTH_REPORT, result.length_report)
        out.text(files.DATASET_LICENSE, build.card.LICENSE_TEXT)
        out.text(files.DATASET_CARD, result.card(result.sizes(written)))  # last: it states the files' sizes
        out.summary.update(result.summary)


class ValidateData(PipelineTask):
    """Schema, table, rule, realism and split checks, each with counts and examples (enforced by the gate)."""

    stage = stages.VALIDATION

    def requires(self) -> dict[str, PipelineTask]:
        return {
            "profiles": GenerateProfiles(run_id=self.run_id),
            "workouts": GenerateWorkouts(run_id=self.run_id),
            "dataset": BuildDistillationDataset(run_id=self.run_id),
        }

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.quality import validate

        inputs = self.inputs
        realism = inputs.read_json(files.REALISM_REPORT)
        with inputs.world() as world, inputs.dataset() as dataset:
            report = validate.validate_run(self.ctx.config, world, dataset, realism, as_of=self.ctx.as_of_date)
        out.json(files.VALIDATION_REPORT, report)
        out.summary.update(valid=report["valid"], errors=report["num_errors"], warnings=report["num_warnings"])


class ComputeStats(PipelineTask):
    """Per split and per table statistics in the spirit of TFDV (after validation: the quality tasks run as a chain)."""

    stage = stages.STATS

    def requires(self) -> dict[str, PipelineTask]:
        return {
            "profiles": GenerateProfiles(run_id=self.run_id),
            "workouts": GenerateWorkouts(run_id=self.run_id),
            "dataset": BuildDistillationDataset(run_id=self.run_id),
            "validation": ValidateData(run_id=self.run_id),
        }

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.contracts.world_sql import limits
        from fitsense_luigi.quality import stats

        inputs = self.inputs
        with inputs.world() as world, inputs.dataset() as dataset:
            report = stats.compute_stats(world, dataset, self.ctx.as_of_date, limits(self.ctx.config))
        out.json(files.STATS_REPORT, report)
        out.summary["records"] = report["splits"][splits.ALL_RECORDS]["count"]


class DetectAnomalies(PipelineTask):
    """Duplicates, missing or odd-length responses, split imbalance, drift against the last good run."""

    stage = stages.ANOMALIES

    def requires(self) -> dict[str, PipelineTask]:
        return {
            "queries": GenerateQueries(run_id=self.run_id),
            "teacher": CallTeacher(run_id=self.run_id),
            "dataset": BuildDistillationDataset(run_id=self.run_id),
            "stats": ComputeStats(run_id=self.run_id),
        }

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.pipeline.history import previous_successful_run
        from fitsense_luigi.quality import anomalies

        inputs = self.inputs
        previous, notes = previous_successful_run(self.ctx.store)
        # rows are streamed on every pass: at 100,000 queries they are gigabytes as Python objects
        with (
            inputs.dataset() as dataset,
            inputs.rows(files.QUERIES) as queries,
            inputs.rows(files.RESPONSES) as answers,
        ):
            report = anomalies.detect(
                self.ctx.config,
                dataset,
                queries,
                answers,
                inputs.read_json(files.STATS_REPORT),
                previous,
                notes,
                params=self.ctx.resolved_params(),
            )
        out.json(files.ANOMALY_REPORT, report)
        out.summary.update(severity=report["severity"], baseline_run_id=previous.run_id if previous else None)


class BiasSlicing(PipelineTask):
    """Is any group of users served worse? Then charts, report.html and the quality gate: the run's last word.

    Asking for it builds the whole run. The gate is enforced after every report
    is written; its failure is deterministic, so Luigi does not retry it.
    """

    stage = stages.BIAS
    # a failed gate fails the same way again: no retries, cron sees the exit code at once (QualityGateError is
    # permanent too; this also covers --workers N with the local scheduler)
    retry_count = 1

    def requires(self) -> dict[str, PipelineTask]:
        return {
            "queries": GenerateQueries(run_id=self.run_id),
            "teacher": CallTeacher(run_id=self.run_id),
            "dataset": BuildDistillationDataset(run_id=self.run_id),
            "validation": ValidateData(run_id=self.run_id),
            "stats": ComputeStats(run_id=self.run_id),
            "anomalies": DetectAnomalies(run_id=self.run_id),
        }

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.dataset.filters import REASON_DESCRIPTIONS
        from fitsense_luigi.quality import bias, publish
        from fitsense_luigi.quality.publish import gate
        from fitsense_luigi.quality.publish.html_report import Filters

        inputs, config = self.inputs, self.ctx.config
        with (
            inputs.rows(files.QUERIES) as queries,
            inputs.rows(files.RESPONSES) as answers,
            inputs.records() as records,
        ):
            report = bias.slice_report(config, queries, answers, records)
        out.json(files.BIAS_REPORT, report)
        run = {
            "run_id": self.run_id,
            "as_of_date": self.ctx.as_of_date.isoformat(),
            "fingerprint": self.ctx.fingerprint,
            "version": __version__,
        }
        published = publish.publish(
            config,
            run,
            inputs.read_json(files.VALIDATION_REPORT),
            inputs.read_json(files.STATS_REPORT),
            inputs.read_json(files.ANOMALY_REPORT),
            report,
            Filters(inputs.manifest(stages.DATASET)["summary"], REASON_DESCRIPTIONS),
        )
        for file, data in published.files.items():
            out.bytes(file, data)
        out.summary["bias_alert"] = report["bias_alert"]
        out.summary[GATE_PASSED] = published.verdict["passed"]
        gate.enforce(config, published.verdict, self.run_id, self.ctx.store.uri(self.ctx.store.key(files.REPORT_HTML)))


class StudentNameParameter(luigi.Parameter):
    """Names the student's report directory: letters, digits, '.', '_' and '-'."""

    def normalize(self, x: Any) -> str:
        if not isinstance(x, str) or not STUDENT_NAME.match(x) or x in (".", ".."):
            raise FitSenseError(f"bad student name {x!r}: use 1-64 letters, digits, '.', '_' or '-'")
        return x


class EvaluateStudent(PipelineTask):
    """Outside the chain: the test split's prompts sent to the student endpoint (``evaluation:``), scored with the
    teacher's post-checks against the teacher's answers; reports/<run>/evaluation/<name>/student_evaluation.*"""

    name = StudentNameParameter(default="student", description="Names this student's report (default: student)")

    @property
    def stage(self) -> Stage:  # type: ignore[override]
        return stages.evaluation(self.name)

    def requires(self) -> dict[str, PipelineTask]:
        return {"dataset": BuildDistillationDataset(run_id=self.run_id)}

    def build(self, out: StageWriter) -> None:
        from fitsense_luigi.evaluation import html_report, student

        config = self.ctx.config
        records = self.inputs.read_jsonl(files.records("test"))
        provider = student.make_student(config)
        try:
            report = student.evaluate(config, records, provider, progress=self.progress)
        finally:
            provider.close()
        out.json(files.student_evaluation(self.name), report)
        out.text(files.student_evaluation_html(self.name), html_report.render(self.run_id, report))
        out.summary.update({side: report["summary"][side] for side in student.SIDES})
        out.summary["prompts"] = report["prompts"]
        ours, theirs = (report["summary"][side] for side in student.SIDES)
        log.info(
            "EvaluateStudent: %s on %d test prompts: parsed %.1f%%, valid %.1f%% (teacher %.1f%%), constraints "
            "addressed %.1f%%, %d safety flags; report %s",
            config.evaluation.model,
            report["prompts"],
            100 * ours["parsed"],
            100 * ours["valid"],
            100 * theirs["valid"],
            100 * ours["constraints_addressed"],
            sum(ours["safety_flags_by_rule"].values()),
            self.ctx.store.uri(self.ctx.store.key(files.student_evaluation_html(self.name))),
        )


WORLD_PARTS = (ProfilesPart, WorkoutsPart)

ALL_TASKS = (
    Bootstrap,
    ProfilesPart,
    GenerateProfiles,
    WorkoutsPart,
    GenerateWorkouts,
    QueryPlan,
    QueryShard,
    GenerateQueries,
    TeacherShard,
    CallTeacher,
    BuildDistillationDataset,
    ValidateData,
    ComputeStats,
    DetectAnomalies,
    BiasSlicing,
)

__all__ = [t.__name__ for t in ALL_TASKS] + [
    "EvaluateStudent",
    "PipelineTask",
    "RunIdParameter",
    "WorldPart",
    "WorldStage",
]
