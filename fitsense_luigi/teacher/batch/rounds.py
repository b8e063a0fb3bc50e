"""The teacher stage in batch mode: rounds of batches until every request has its answer.

A round:

1. **Resolve** every query of the stage the online way
   (:meth:`StageRun.resolve`: cache lookup, extraction and checks, re-asks),
   with a provider that never sends (:class:`.answers.BatchAnswers`). A query
   stops at the first request no cache entry answers: that request is
   *pending* (one per cache key, so identical requests are paid once).
   Answers already in the cache are never submitted.
2. **Submit**, under the stage lock that every process of the data root
   shares: first finish submissions a killed run left unfinished (find their
   batch by the submission id in its ``metadata``, else upload and create),
   then put every pending request that no open batch holds into new input
   files, split by ``teacher.batch.max_lines`` and ``max_bytes``. Each
   submission is recorded (:mod:`.registry`) before its upload, and its batch
   id right after the create, before the first poll.
3. **Poll** the open batches that hold pending requests, backing off from
   ``poll_initial_s`` to ``poll_max_s``, with their ``request_counts`` as the
   stage's progress. When one ends (completed, expired, cancelled, failed),
   **collect** it under the lock: every answer (matched by ``custom_id``, in
   any order) into the cache, and in its collected record the failures that
   would repeat and the lines to submit again (retryable errors, expired or
   cancelled requests, lines the batch lost).

The next round submits only what is still pending: the lost and retryable
lines (at most ``max_submissions`` times per run, then the row is an
``http_error``), and the re-asks of answers that failed the checks, so a
re-ask costs one more round of waiting, at the batch price, cached per
attempt like online. A format the endpoint rejects (a 400 naming
``response_format`` on every line) moves the negotiation down and the next
round asks in the next format.

**Waiting.** The stage polls inside the task (its progress in the scheduler
UI) until ``teacher.batch.wait_s`` has passed since the first shard of this
process started waiting; then it raises :class:`TeacherBatchesPending` and
leaves the batches running. The rerun (the next cron run) finds them in the
records and goes on polling; nothing is submitted twice. Shards that come
after a shard that left, in the same process, poll once and leave too.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fitsense_luigi.config import Config
from fitsense_luigi.contracts.dataroot import DataRoot
from fitsense_luigi.contracts.progress import Progress, no_progress
from fitsense_luigi.contracts.rows import Query, TeacherResponse
from fitsense_luigi.errors import TeacherBatchesPending, TeacherStageError
from fitsense_luigi.teacher.batch import wire
from fitsense_luigi.teacher.batch.answers import AwaitingBatch, BatchAnswers
from fitsense_luigi.teacher.batch.client import RUN, SUBMISSION, TERMINAL, BatchClient
from fitsense_luigi.teacher.batch.registry import (
    Line,
    Registry,
    Submission,
    given_up,
    open_keys,
    submissions_per_key,
)
from fitsense_luigi.teacher.stage import StageRun
from fitsense_luigi.teacher.types import FINAL_STATUSES, TeacherOutcome, TeacherRequest

log = logging.getLogger("fitsense.teacher.batch")
Lock = Callable[[], AbstractContextManager[Any]]
# Batch-level failures that pass by themselves (OpenAI: too many tokens already enqueued): the lines go again.
TRANSIENT_BATCH_ERRORS = frozenset({"token_limit_exceeded", "rate_limit_exceeded", "server_error"})


@dataclass(frozen=True)
class Share:
    """What the shards of one stage share in batch mode (the runtime makes it)."""

    queries: Sequence[Query]  # every query of the stage: their requests go out together, whichever shard runs first
    lock: Lock  # held while submitting or collecting, by every process of the data root
    deadline: float  # time.monotonic() when this process stops waiting (the first shard's start + wait_s)


@dataclass
class Pending:
    """A request no cache entry answers yet (the first query that needs it names its line)."""

    key: str
    digest: str
    custom_id: str
    request: TeacherRequest
    template_version: str


def answer(
    config: Config,
    queries: Sequence[Query],
    cache_root: DataRoot,
    progress: Progress | None,
    run_id: str | None,
    share: Share | None,
) -> list[TeacherResponse]:
    """The rows of ``queries``, once every request of the stage (``share.queries``) is answered or given up."""
    if share is None:  # one call is the whole stage
        share = Share(queries, contextlib.nullcontext, time.monotonic() + config.teacher.batch.wait_s)
    run = BatchRun(config, cache_root, run_id, progress or no_progress, share)
    try:
        rows = run.until_answered(share.queries)
    finally:
        run.close()
    return [rows[q["query_id"]] for q in queries]


class BatchRun:
    def __init__(self, config: Config, cache_root: DataRoot, run_id: str | None, progress: Progress, share: Share):
        t = config.teacher
        self.config, self.run_id, self.progress = config, run_id, progress
        self.lock, self.deadline = share.lock, share.deadline
        self.batch = t.batch
        self.stage = StageRun(config, cache_root, run_id)
        assert isinstance(self.stage.provider, BatchAnswers)
        self.answers: BatchAnswers = self.stage.provider
        self.registry = Registry(cache_root)
        self._client: BatchClient | None = None
        self.oversized: dict[str, TeacherOutcome] = {}  # digest -> failure: a request larger than max_bytes
        self.total = 0

    @property
    def client(self) -> BatchClient | None:
        """The Batch API client, made at first use; None offline (``teacher.base_url`` null)."""
        t = self.config.teacher
        if self._client is None and t.base_url:
            self._client = BatchClient(
                t.base_url,
                t.api_key_env,
                connect_s=t.timeouts.connect_s,
                read_s=t.timeouts.read_s,
                max_attempts=t.retries.max_attempts,
                initial_wait_s=t.retries.initial_wait_s,
                max_wait_s=t.retries.max_wait_s,
                retry_after_cap_s=t.retries.retry_after_cap_s,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def pending(self, queries: Sequence[Query]) -> dict[str, Pending]:
        """The requests the stage still has to ask (first asks and re-asks), as the next round would submit them."""
        self.answers.failures = given_up(self.registry.load(self.run_id), self.run_id, self.batch.max_submissions)
        return self.resolve(queries, {})

    # -- the rounds
    def until_answered(self, queries: Sequence[Query]) -> dict[str, TeacherResponse]:
        rows: dict[str, TeacherResponse] = {}
        todo, self.total = list(queries), len(queries)
        while True:
            self.answers.failures = {
                **given_up(self.registry.load(self.run_id), self.run_id, self.batch.max_submissions),
                **self.oversized,
            }
            pending = self.resolve(todo, rows)
            todo = [q for q in todo if q["query_id"] not in rows]
            if not pending:
                self.collect_leftovers()
                return rows
            self.progress(len(rows), self.total, f"teacher: {len(rows)}/{self.total} answered, {len(pending)} to ask")
            if self.client is None:
                raise TeacherStageError(self._offline_message(len(pending)))
            too_large = len(self.oversized)
            with self.lock():
                submissions = self.submit(pending)
            watched = [s for s in submissions if s.open and s.batch_id and s.keys() & pending.keys()]
            if watched:
                self.wait_and_collect(watched, rows)
            elif len(self.oversized) == too_large:  # every pending request is in a batch or was just failed
                raise RuntimeError(f"{len(pending)} pending requests are neither in a batch nor submitted")

    def resolve(self, queries: Sequence[Query], rows: dict[str, TeacherResponse]) -> dict[str, Pending]:
        """Rows of the queries the cache (or a final failure) answers; the requests the others wait for."""
        pending: dict[str, Pending] = {}
        for query in queries:
            try:
                rows[query["query_id"]] = self.stage.resolve(query)
            except AwaitingBatch as waiting:
                request = waiting.request
                key = self.stage.key(request, query)
                if key not in pending:
                    attempt = (len(request.messages) - len(query["messages"])) // 2  # each re-ask adds two turns
                    line_id = wire.custom_id(query["query_id"], attempt, key)
                    digest = wire.request_digest(request)
                    pending[key] = Pending(key, digest, line_id, request, query["template_version"])
            if self.stage.verdict:
                raise self.stage.verdict[0]
        return pending

    def collect_leftovers(self) -> None:
        """Collect this run's batches that ended but were never collected (a kill after their answers reached the
        cache, before the collected record): their records close, and the run's ``batches.json`` counts them."""
        if self.client is None:
            return
        for submission in self.registry.load(self.run_id):
            if submission.open and submission.batch_id and submission.run_id == self.run_id:
                batch = self.client.get(submission.batch_id)
                if batch["status"] in TERMINAL:
                    with self.lock():
                        self.collect(submission, batch)

    # -- submitting (under the lock)
    def submit(self, pending: dict[str, Pending]) -> list[Submission]:
        """Finish what a killed run left half-submitted, then submit what no open batch holds."""
        assert self.client is not None
        submissions = self.registry.load(self.run_id)
        for submission in submissions:
            if submission.open and submission.batch is None and submission.lines:
                self.start(submission, resuming=True)
        in_flight = open_keys(submissions)
        earlier = submissions_per_key(submissions, self.run_id)
        fresh = [p for p in pending.values() if p.key not in in_flight and self.stage.lookup(p.key) is None]
        lines: list[bytes] = []
        kept: list[Pending] = []
        for p in fresh:
            line = wire.input_line(p.custom_id, p.request.body())
            if len(line) > self.batch.max_bytes:
                self.oversized[p.digest] = TeacherOutcome(
                    "http_error",
                    None,
                    None,
                    None,
                    f"request line of {len(line)} bytes exceeds teacher.batch.max_bytes ({self.batch.max_bytes})",
                )
                continue
            lines.append(line)
            kept.append(p)
        start = 0
        for group in wire.split(lines, self.batch.max_lines, self.batch.max_bytes):
            members = kept[start : start + len(group)]
            start += len(group)
            about = {
                "base_url": self.config.teacher.base_url,
                "model": self.config.teacher.model,
                "completion_window": self.batch.completion_window,
                "resubmitted": sum(earlier[p.key] > 0 for p in members),
            }
            lines_of = {p.custom_id: Line(p.key, p.digest, p.template_version) for p in members}
            submission = self.registry.create(self.run_id or "", about, lines_of, b"".join(group))
            log.info(
                "teacher: submitting %d requests (%d of them again) as %s",
                len(members),
                about["resubmitted"],
                submission.id,
            )
            self.start(submission, resuming=False)
            submissions.append(submission)
        return submissions

    def start(self, submission: Submission, *, resuming: bool) -> None:
        """Upload and create the batch of a recorded submission (resuming: unless it already exists)."""
        assert self.client is not None
        if resuming:
            existing = self.client.find(submission.id)
            if existing is not None:
                log.info("teacher: %s has batch %s (its run was killed): resuming it", submission.id, existing["id"])
                self.registry.record_batch(submission, existing)
                return
        with self.registry.input_file(submission) as path:
            file_id = self.client.upload(path, f"fitsense-{submission.id}.jsonl")
        metadata = {SUBMISSION: submission.id, RUN: submission.run_id}
        batch = self.client.create(file_id, self.batch.completion_window, metadata)
        self.registry.record_batch(submission, batch)
        log.info("teacher: batch %s holds %d requests (%s)", batch["id"], len(submission.lines), submission.id)

    # -- waiting
    def wait_and_collect(self, watched: list[Submission], rows: dict[str, TeacherResponse]) -> None:
        """Poll until one of ``watched`` ends, then collect every one that has; or leave at the deadline."""
        assert self.client is not None
        interval = self.batch.poll_initial_s
        while True:
            batches = {s.id: self.client.get(s.batch_id or "") for s in watched}
            self.show(watched, batches, rows)
            finished = [s for s in watched if batches[s.id]["status"] in TERMINAL]
            if finished:
                with self.lock():
                    for submission in finished:
                        self.collect(submission, batches[submission.id])
                return
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TeacherBatchesPending(self._pending_message(watched, batches, rows))
            time.sleep(min(interval, remaining))
            interval = min(interval * 2, self.batch.poll_max_s)

    def show(self, watched: list[Submission], batches: dict[str, dict[str, Any]], rows: dict[str, Any]) -> None:
        settled = sum(_counts(b)["completed"] + _counts(b)["failed"] for b in batches.values())
        message = f"teacher: {len(rows)}/{self.total} answered; {_describe(watched, batches)}"
        self.progress(min(len(rows) + settled, self.total), self.total, message)

    # -- collecting (under the lock)
    def collect(self, submission: Submission, batch: dict[str, Any]) -> None:
        """Answers into the cache; failures and lines to submit again into the collected record."""
        assert self.client is not None
        if self.registry.collected(submission):
            return  # another process collected it meanwhile
        results, malformed, unknown = self._results(submission, batch)
        status = batch["status"]
        failure = _batch_failure(batch) if status == "failed" else None
        counts = submissions_per_key(self.registry.load(self.run_id), self.run_id)
        failed: dict[str, Any] = {}
        again: dict[str, str] = {}
        answered = 0
        settled = False
        for line_id, line in submission.lines.items():
            result = results.get(line_id)
            if result is None:
                if failure is not None:
                    outcome, retry = failure
                    if retry:
                        again[line_id] = outcome.error or ""
                    else:
                        failed[line_id] = outcome.to_dict()
                else:
                    again[line_id] = f"no line for it in the output or error file of {status} batch {batch['id']}"
                continue
            outcome = wire.outcome_of(result, max(counts[line.key], 1))
            if result.again:
                again[line_id] = outcome.error or ""
            elif outcome.status in FINAL_STATUSES:
                about = self.stage.about(line.template_version, submission.run_id, batch_id=batch["id"])
                self.stage.store.put(line.key, outcome, about)
                answered += 1
                if not settled:  # the endpoint took this response format: later runs need not find out again
                    self.stage.formats.settle(outcome)
                    settled = True
            else:
                failed[line_id] = outcome.to_dict()
        record = {
            "status": status,
            "request_counts": _counts(batch),
            "output_file_id": batch.get("output_file_id"),
            "error_file_id": batch.get("error_file_id"),
            "answered": answered,
            "failed": failed,
            "again": again,
            "malformed_lines": malformed,
            "unknown_lines": unknown,
        }
        self.registry.record_collected(submission, record)
        log.info(
            "teacher: batch %s %s: %d answers, %d failed, %d to submit again%s",
            batch["id"],
            status,
            answered,
            len(failed),
            len(again),
            f", {malformed} malformed lines" if malformed else "",
        )

    def _results(self, submission: Submission, batch: dict[str, Any]) -> tuple[dict[str, wire.LineResult], int, int]:
        """Every line of the batch's output and error files by ``custom_id`` (an answer beats an error)."""
        assert self.client is not None
        results: dict[str, wire.LineResult] = {}
        malformed = unknown = 0
        with tempfile.TemporaryDirectory(prefix="fitsense-batch-") as tmp:
            for kind in ("output_file_id", "error_file_id"):
                file_id = batch.get(kind)
                if not file_id:
                    continue
                path = self.client.download(file_id, Path(tmp) / kind)
                for result in wire.read_lines(self.client.lines(path), f"{kind} {file_id} of batch {batch['id']}"):
                    if isinstance(result, wire.MalformedLine):
                        malformed += 1
                        if malformed <= 3:
                            log.warning("teacher: ignoring a malformed result line: %s", result)
                        continue
                    if result.custom_id not in submission.lines:
                        unknown += 1
                        continue
                    earlier = results.get(result.custom_id)
                    if earlier is None or (earlier.again and not result.again):
                        results[result.custom_id] = result
        return results, malformed, unknown

    # -- messages
    def _pending_message(self, watched: list[Submission], batches: dict[str, dict[str, Any]], rows: dict) -> str:
        return (
            f"teacher: still waiting after this run's wait (teacher.batch.wait_s = {self.batch.wait_s:g} s) for "
            f"{_describe(watched, batches)}; {len(rows)}/{self.total} queries answered so far; the batches "
            f"are recorded in {self.registry.root.uri('batches')}: run the same command again to pick them up"
        )

    def _offline_message(self, pending: int) -> str:
        run = self.run_id or "R"
        return (
            f"teacher: {pending} requests have no answer and teacher.base_url is null (offline batch files): "
            f"python -m fitsense_luigi.pipeline.batch_files export --run-id {run} requests.jsonl, run them "
            f"(e.g. vllm run-batch -i requests.jsonl -o results.jsonl --model M), then "
            f"python -m fitsense_luigi.pipeline.batch_files import --run-id {run} results.jsonl, and run again"
        )


def _describe(watched: list[Submission], batches: dict[str, dict[str, Any]]) -> str:
    """'2 batches: batch_1 in_progress 120/500, batch_2 validating 0/500'."""
    shown = []
    for s in watched[:3]:
        batch, counts = batches[s.id], _counts(batches[s.id])
        done, total = counts["completed"] + counts["failed"], counts["total"] or len(s.lines)
        shown.append(f"{batch['id']} {batch['status']} {done}/{total}")
    more = f" and {len(watched) - 3} more" if len(watched) > 3 else ""
    return f"{len(watched)} batch{'es' if len(watched) != 1 else ''}: {', '.join(shown)}{more}"


def _counts(batch: dict[str, Any]) -> dict[str, int]:
    raw = batch.get("request_counts") or {}
    return {k: int(raw.get(k) or 0) for k in ("total", "completed", "failed")}


def _batch_failure(batch: dict[str, Any]) -> tuple[TeacherOutcome, bool]:
    """A batch that failed as a whole (validation): the outcome of each of its lines, and whether to retry."""
    errors = (batch.get("errors") or {}).get("data") or []
    codes = [str(e.get("code") or "") for e in errors if isinstance(e, dict)]
    detail = "; ".join(
        ": ".join(str(e[k]) for k in ("code", "message") if e.get(k)) for e in errors[:3] if isinstance(e, dict)
    )
    if codes and all(code in TRANSIENT_BATCH_ERRORS for code in codes):
        return TeacherOutcome("http_error", None, None, None, f"batch {batch['id']} failed: {detail}"), True
    # a rejected input file is a rejected request: a 400 for each line (so that a rejected response format moves
    # the negotiation down, and a stage of them stops as "rejects these requests the same way every time")
    error = f"HTTP 400: batch {batch['id']} failed validation: {detail or 'no detail'}"
    return TeacherOutcome("http_error", None, None, None, error, http_status=400), False
