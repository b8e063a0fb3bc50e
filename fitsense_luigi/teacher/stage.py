"""The teacher stage: queries in, one response row per query out, in query order.

Every query takes the same path whoever the provider is (the mock coach
included): cache lookup, call by one of ``teacher.concurrency`` workers
(coroutines on an event loop or threads, over one or more processes:
:mod:`.workers`, :mod:`.fanout`) paced by one shared :class:`Pacer`, cache
write by the worker as soon as the answer arrives, then extraction, repairs and the post-checks
(:mod:`.checks`). An answer that is still invalid is asked again with its
errors (:mod:`.reask`), up to ``teacher.reask.max_attempts`` times, each
attempt cached under its own key. With ``teacher.samples_per_query`` = n > 1
each query is answered n times (seed, seed + 1, ...: each sample its own cache
entry); the best answer by the checks is the row's, the others (and every
re-asked attempt) go with it as ``alternatives``, from which the dataset makes
preference pairs. The stage's first answers settle the response
format (:mod:`.negotiate`), without holding the other requests back. When the shard's own queue runs low the
stage works ahead on other shards nobody is building (:mod:`.workahead`), so
the endpoint stays busy until the stage's last request. A fatal answer (bad
key, wrong URL or model, no quota, a rejected response format without
fallback) or a tripped circuit breaker stops the stage with one clear
``TeacherStageError``; everything answered before that is already cached, so
the rerun only sends what is missing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from fitsense_luigi.config import Config, load_schema
from fitsense_luigi.contracts.dataroot import DataRoot
from fitsense_luigi.contracts.progress import Progress
from fitsense_luigi.contracts.rows import USAGE_KEYS, Alternative, Query, TeacherResponse
from fitsense_luigi.errors import TeacherStageError
from fitsense_luigi.teacher import fanout, http_policy, negotiate
from fitsense_luigi.teacher.cache import ResponseCache, key_of_body_text
from fitsense_luigi.teacher.checks import Judgement, judge
from fitsense_luigi.teacher.pacing import CircuitBreaker, Pacer
from fitsense_luigi.teacher.reask import reask_request
from fitsense_luigi.teacher.slots import HostSlots
from fitsense_luigi.teacher.summary import describe_unusable, unusable_cause
from fitsense_luigi.teacher.types import TRANSIENT_STATUSES, Provider, TeacherOutcome, TeacherRequest
from fitsense_luigi.teacher.workahead import ShardClaims
from fitsense_luigi.wording import counted

if TYPE_CHECKING:
    from fitsense_luigi.teacher.batch.rounds import Share as BatchShare

log = logging.getLogger("fitsense.teacher")
PLAN_SCHEMA = "plan_response.schema.json"
# On SIGTERM (podman/docker stop give 10 s before SIGKILL), answers in flight get this long to arrive and be
# cached before the requests still out are cut.
TERM_GRACE_S = 5.0


def make_provider(config: Config, pacer: Pacer | None = None) -> Provider:
    t = config.teacher
    if t.provider == "mock":
        from fitsense_luigi.teacher.mock import MockCoach

        return MockCoach(t.model, seed=config.reproducibility.seed, flaw_rate=t.mock.flaw_rate)
    if t.provider == "openai_batch":
        from fitsense_luigi.teacher.batch.answers import BatchAnswers

        return BatchAnswers()
    return http_client(config, t.base_url or "", t.api_key_env, pacer)


def http_client(config: Config, base_url: str, api_key_env: str, pacer: Pacer | None = None) -> Provider:
    """The OpenAI-compatible client with the teacher's time-outs and retries (the student's endpoint uses it too)."""
    from fitsense_luigi.teacher.openai_compat import OpenAICompatible

    t = config.teacher
    return OpenAICompatible(
        base_url,
        api_key_env,
        connect_s=t.timeouts.connect_s,
        read_s=t.timeouts.read_s,
        total_s=t.timeouts.total_s,
        max_response_bytes=int(t.max_response_mb * (1 << 20)),
        max_attempts=t.retries.max_attempts,
        initial_wait_s=t.retries.initial_wait_s,
        max_wait_s=t.retries.max_wait_s,
        retry_after_cap_s=t.retries.retry_after_cap_s,
        pacer=pacer,
    )


def response_format(config: Config) -> dict[str, Any] | None:
    """What the endpoint is told about the answer's shape (``teacher.response_format``, before negotiation)."""
    return negotiate.payload(config.teacher.response_format)


@cache
def schema_version() -> str:
    """Content hash of the plan schema: a changed schema is a different request."""
    canonical = json.dumps(load_schema(PLAN_SCHEMA), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def build_request(config: Config, query: Query, fmt: dict[str, Any] | None, sample: int = 0) -> TeacherRequest:
    """The request of one sample: sample k asks with seed + k (sample 0 is the request of a single answer)."""
    t = config.teacher
    return TeacherRequest(
        query["messages"], t.model, t.temperature, t.top_p, t.max_tokens, config.reproducibility.seed + sample, fmt
    )


def shard_queries(queries: Sequence[Query], shard: int, shards: int) -> Sequence[Query]:
    """Round-robin, so every shard gets a similar mix of prompt types (a view where ``queries`` is one)."""
    return queries[shard::shards]


class ProgressReporter:
    """done/total, rate and failures for the scheduler UI (throttled) and the log (rarer)."""

    def __init__(
        self,
        total: int,
        cached: int,
        callback: Progress | None,
        *,
        every_s: float = 1.0,
        log_every_s: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.cached, self.done, self.failed = total, cached, cached, 0
        self.ahead_total = self.ahead_done = 0  # other shards' requests answered ahead into the cache
        self.callback, self.every_s, self.log_every_s, self.clock = callback, every_s, log_every_s, clock
        self.started = self.last_shown = self.last_logged = clock()
        self.show(force=True)

    def message(self) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = (self.done - self.cached) / elapsed
        ahead = f", working ahead: {self.ahead_done}/{self.ahead_total} of other shards" if self.ahead_total else ""
        return (
            f"teacher: {self.done}/{self.total} answered ({self.cached} from cache), "
            f"{rate:.1f} req/s, {self.failed} failed{ahead}"
        )

    def update(self, status: str) -> None:
        self.done += 1
        self.failed += status in TRANSIENT_STATUSES
        self.show(force=self.done == self.total)

    def work_ahead(self, added: int = 0, done: int = 0) -> None:
        self.ahead_total += added
        self.ahead_done += done
        self.show()

    def show(self, force: bool = False) -> None:
        now = self.clock()
        if self.callback and (force or now - self.last_shown >= self.every_s):
            self.callback(self.done, self.total, self.message())
            self.last_shown = now
        if now - self.last_logged >= self.log_every_s or (force and self.done == self.total and self.total):
            log.info("%s", self.message())
            self.last_logged = now


@dataclass
class Attempts:
    """What one query cost across its re-asks: summed usage, latency and HTTP attempts, and who paid."""

    usage: dict[str, int] = field(default_factory=lambda: dict.fromkeys(USAGE_KEYS, 0))
    latency_ms: int = 0
    http_attempts: int = 0
    paid_elsewhere: bool = True  # every answer came from the cache, paid by another run
    reask_errors: list[str] = field(default_factory=list)
    reasked: list[Alternative] = field(default_factory=list)  # the answers that were asked again

    def add(self, outcome: TeacherOutcome, cached_from_other_run: bool) -> None:
        for k in self.usage:
            self.usage[k] += int(outcome.usage.get(k, 0))
        self.latency_ms += int(outcome.latency_ms)
        self.http_attempts += int(outcome.attempt_count)
        self.paid_elsewhere &= cached_from_other_run


Found = tuple[TeacherOutcome, bool]  # a cached outcome, and whether another run paid for it
T = TypeVar("T")


@dataclass(frozen=True)
class Send:
    """A step: send this request (all its attempts); the driver answers with the outcome."""

    request: TeacherRequest


@dataclass(frozen=True)
class Claim:
    """A step: hold the claim on this cache key (:mod:`.claims`); the driver answers with its release."""

    key: str


@dataclass(frozen=True)
class Put:
    """A step: write this answer's cache entry (:meth:`ResponseCache.put`) before going on."""

    key: str
    outcome: TeacherOutcome
    about: dict[str, Any]


SLOT: Any = ("slot",)  # a step: hold one of this host's slots; the driver answers whether it does
SENT: Any = ("sent",)  # a step: the answer is stored and the stage's health judged; its slot may go to another
Steps = Generator[Any, Any, T]
MISS: Any = ("miss",)  # looked up already: not in the cache
AHEAD: Any = ("ahead",)  # worked ahead for another shard: an answer found cached is left to that shard's call


class StageRun:
    """One call of :func:`answer`: the provider, cache, pacing, breaker and negotiation it shares between workers."""

    def __init__(self, config: Config, cache_root: DataRoot, run_id: str | None, processes: int = 1) -> None:
        """``processes``: how many processes share this stage call (:mod:`.fanout`); each paces its share."""
        t = config.teacher
        self.config, self.run_id = config, run_id
        self.stop = threading.Event()
        self.pacer = Pacer(_share(t.requests_per_minute, processes), _share(t.tokens_per_minute, processes), self.stop)
        self.provider = make_provider(config, self.pacer)
        self.store = ResponseCache(cache_root, enabled=t.cache.enabled and self.provider.cacheable)
        self.breaker = CircuitBreaker(
            t.circuit_breaker.window, t.circuit_breaker.min_calls, t.circuit_breaker.failure_ratio
        )
        self.formats = negotiate.Negotiation(
            t.response_format, t.response_format_fallback, self.store, t.base_url, t.model, self.stop
        )
        remote = getattr(self.provider, "remote", False)
        self.slots = HostSlots(f"{t.base_url}|{t.model}", t.concurrency, self.stop) if remote else None
        self.verdict: list[TeacherStageError] = []
        self.sent = 0  # answers received from the endpoint by this call (not from the cache)
        self._lock = threading.Lock()

    def close(self) -> None:
        """The connections closed and this process's host slots given back."""
        self.provider.close()
        self.store.close()
        if self.slots is not None:
            self.slots.release_all()

    # -- requests and their cache entries
    def request(self, query: dict[str, Any], sample: int = 0) -> TeacherRequest:
        return build_request(self.config, query, negotiate.payload(self.formats.kind), sample)

    def key(self, request: TeacherRequest, query: dict[str, Any]) -> str:
        if not self.store.enabled:
            return ""
        return key_of_body_text(
            self.config.teacher.base_url, request.body_text, schema_version(), query["template_version"]
        )

    def about(self, template_version: str, paid_by: str | None, **more: Any) -> dict[str, Any]:
        """What a cache entry records about its answer: endpoint, versions and the run that paid for it."""
        t = self.config.teacher
        return {
            "base_url": t.base_url,
            "model": t.model,
            "schema_version": schema_version(),
            "run_id": paid_by,
            "template_version": template_version,
            **more,
        }

    def lookup(self, key: str) -> tuple[TeacherOutcome, bool] | None:
        """(cached outcome, paid by another run?) or None."""
        found = self.store.lookup(key) if self.store.enabled else None
        if found is None:
            return None
        outcome, about = found
        return outcome, self.run_id is None or about.get("run_id") != self.run_id

    def send_steps(
        self, request: TeacherRequest, query: dict[str, Any], key: str
    ) -> Steps[tuple[TeacherOutcome, TeacherRequest]]:
        """Send (again with the next format if the endpoint rejects this one), cache at once, judge the stage's
        health."""
        if self.slots is not None and not (yield SLOT):  # this host's share of teacher.concurrency
            raise _Stopped
        while True:
            if self.stop.is_set():
                raise _Stopped
            kind = self.formats.kind
            fmt = negotiate.payload(kind)
            if fmt is not request.response_format and fmt != request.response_format:  # a fallback since built
                request = dataclasses.replace(request, response_format=fmt)
                key = self.key(request, query)
            outcome = yield Send(request)
            if not self.formats.settle(outcome, kind):  # else the format was rejected: again, with the one now
                break
        if self.store.enabled:
            yield Put(key, outcome, self.about(query["template_version"], self.run_id))
        with self._lock:
            self.sent += outcome.status not in TRANSIENT_STATUSES
        self.judge_health(_fatal(self.config, outcome, self.store))
        yield SENT  # what is left of this answer (its checks, its row) needs no slot
        return outcome, request

    def judge_health(self, problem: TeacherStageError | None) -> None:
        """Stop the stage on a problem; decided by the worker that saw it, so no worker picks up another request."""
        if problem:
            self.verdict.append(problem)
            self.stop.set()

    # -- one query, all its answers
    def resolve(self, query: dict[str, Any], first: Found | None = None) -> dict[str, Any] | None:
        """The response row of one query, on this thread (the steps of :meth:`resolve_steps`, each done here)."""
        return self.drive(self.resolve_steps(query, first))

    def resolve_steps(self, query: dict[str, Any], first: Found | None = None) -> Steps[dict[str, Any] | None]:
        """The response row of one query: its samples, the best of them by the checks with the others beside it.

        ``first``: the first sample's cache lookup when the caller already made it (``MISS``: not cached;
        ``AHEAD``: work ahead for another shard: its answers are bought and cached, judged only as far as a
        re-ask and the breaker need, and no row is made (None), as the shard that owns the query makes it from
        the cache; it ends at once when the answer is cached already). The steps that wait (a host slot, a
        claim, a request, a cache write) are yielded to the driver: a thread does them in place
        (:meth:`drive`), the event loop awaits them (:mod:`.workers`); the rest runs here.
        """
        rows = []
        for k in range(self.samples):
            row = yield from self.sample_steps(query, k, first if k == 0 else None)
            if row is None:  # worked ahead on an answer that is cached already: nothing to do here
                return None
            rows.append(row)
        return None if first is AHEAD else best_of(rows)

    def drive(self, steps: Steps[T]) -> T:
        """Run ``steps`` to the end on this thread: slots and claims waited for, requests sent, here."""
        reply: Any = None
        error: BaseException | None = None
        while True:
            finished, step = advance(steps, reply, error)
            if finished:
                return step  # type: ignore[no-any-return]
            error = None
            try:
                if step is SENT:
                    reply = None  # a thread keeps its slot for its next request
                elif step is SLOT:
                    reply = self.slots is not None and self.slots.hold()
                elif isinstance(step, Claim):
                    reply = self.store.claim_now(step.key)
                elif isinstance(step, Put):
                    reply = self.store.put(step.key, step.outcome, step.about)
                else:
                    reply = self.provider.complete(step.request)
            except BaseException as exc:  # into the steps, whose cleanup (a claim's release) runs
                error = exc

    @property
    def samples(self) -> int:
        return self.config.teacher.samples_per_query

    def sample_steps(
        self, query: dict[str, Any], sample: int, first: Found | None = None
    ) -> Steps[dict[str, Any] | None]:
        """One sample: its first answer (cached or sent), then re-asks while it stays invalid (None: work ahead
        whose answer is cached; judging it is the other shard's)."""
        t = self.config.teacher
        ahead = first is AHEAD
        request = self.request(query, sample)
        spent = Attempts()
        sent = False
        while True:
            key = self.key(request, query)  # once per request: the body with the schema is ~5 kB of JSON to hash
            # not looked up here: the lookup under the claim below finds an answer cached meanwhile (or long ago)
            found = None if first is None or first is MISS or first is AHEAD else first
            first = None
            if found is None:
                # the host slot first: a claim's holder never waits for a slot a waiter on its claim holds
                if self.slots is not None and not (yield SLOT):
                    raise _Stopped
                release = yield Claim(key)  # another run asking the same now: wait for its answer, pay once
                try:
                    found = self.lookup(key)
                    if found is not None and ahead:
                        return None
                    if found is None:
                        if self.stop.is_set():
                            raise _Stopped
                        outcome, request = yield from self.send_steps(request, query, key)
                        elsewhere, sent = False, True
                finally:
                    release()
            if found is not None:
                outcome, elsewhere = found
            spent.add(outcome, elsewhere)
            verdict = judge_outcome(outcome, query, safety=not ahead)  # ahead: its shard judges it in full
            if len(spent.reask_errors) >= t.reask.max_attempts or not needs_reask(outcome, verdict):
                break
            errors = verdict.validation["schema_errors"] or ["the answer holds no JSON object"]
            spent.reask_errors.append(errors[0])
            spent.reasked.append(
                alternative(build_row(query, "", "", outcome, verdict, Attempts(), None), "reask", sample)
            )
            request = reask_request(request, outcome.content or "", errors)
        row = build_row(query, self.provider.name, t.model, outcome, verdict, spent, self.formats.kind, sample)
        if sent and getattr(self.provider, "endpoint", False):  # the endpoint's health, from what it answered now
            self.judge_health(_tripped(self.config, row, self.breaker, self.store))
        return row


def advance(steps: Steps[Any], reply: Any, error: BaseException | None) -> tuple[bool, Any]:
    """(False, the next step) of ``steps`` given the last step's reply (or its error, raised inside them), or
    (True, their result)."""
    try:
        return False, steps.throw(error) if error is not None else steps.send(reply)
    except StopIteration as done:
        return True, done.value


class _Stopped(Exception):
    """The stage is stopping: this query is left for the rerun."""


def judge_outcome(outcome: TeacherOutcome, query: dict[str, Any], safety: bool = True) -> Judgement:
    text = outcome.content if outcome.status == "ok" else None
    context, expected = query["context_summary"], query["expected_safety_constraints"]
    return judge(text, context, expected, query.get("asks"), safety=safety)


def rank(row: dict[str, Any]) -> tuple[bool, bool, bool, int, int]:
    """Higher is better: a valid plan, then no safety flag, then every constraint addressed, then fewer fixes."""
    validation = row["post_validation"]
    usable = row["status"] == "ok" and bool(validation["valid"])
    return (
        usable,
        usable and not row["safety_flags"],
        usable and not validation["constraints_missing"],
        -len(validation["repairs"]),
        -int(validation["reasks"]),
    )


def best_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The best sample's row (the first among equals), carrying the other samples and every re-asked attempt.

    Usage, latency and HTTP attempts add up over all samples: that is what the query cost.
    """
    best = max(range(len(rows)), key=lambda k: (rank(rows[k]), -k))
    row = dict(rows[best])
    others: list[Alternative] = []
    for k, other in enumerate(rows):
        others.extend(other["alternatives"])
        if k != best:
            others.append(alternative(other, "sample", k))
    row["alternatives"] = others
    if len(rows) > 1:
        row["usage"] = {key: sum(r["usage"][key] for r in rows) for key in USAGE_KEYS}
        row["latency_ms"] = sum(r["latency_ms"] for r in rows)
        row["attempt_count"] = sum(r["attempt_count"] for r in rows)
        row["cache_hit"] = all(r["cache_hit"] for r in rows)
    return row


def alternative(row: dict[str, Any], source: str, sample: int) -> Alternative:
    """The parts of a response row that judge an answer, as an alternative to the row that is kept."""
    return {
        "source": source,
        "sample": sample,
        "status": row["status"],
        "response_text": row["response_text"],
        "normalized_text": row["normalized_text"],
        "safety_flags": row["safety_flags"],
        "post_validation": row["post_validation"],
    }


def needs_reask(outcome: TeacherOutcome, verdict: Judgement) -> bool:
    """An answer the endpoint delivered in full that is neither a usable plan nor a refusal."""
    return outcome.status == "ok" and bool(outcome.content) and not verdict.validation["valid"] and not verdict.refused


def answer(
    config: Config,
    queries: Sequence[Query],
    cache_root: DataRoot,
    progress: Progress | None = None,
    run_id: str | None = None,
    claims: ShardClaims | None = None,
    batch: BatchShare | None = None,
) -> list[TeacherResponse]:
    """One response row per query, in query order; raises TeacherStageError when the endpoint cannot serve.

    ``cache_hit`` means "paid for by another run": each cache entry records the
    run that paid for it, so the answers a killed attempt of ``run_id`` already
    received count as this run's (a resumed run reports what an uninterrupted
    one does: same rows, same tokens paid this run). ``claims``: other shards
    this call may answer ahead into the cache once its own queue runs low.
    ``provider: openai_batch`` answers through batches (:mod:`.batch.rounds`);
    ``batch`` is what the shards share there (the whole stage's queries go out
    together).
    """
    t = config.teacher
    if t.provider == "openai_batch":
        from fitsense_luigi.teacher.batch import rounds

        return rounds.answer(config, queries, cache_root, progress, run_id, batch)
    stage = StageRun(config, cache_root, run_id)
    rows: list[TeacherResponse | None] = [None] * len(queries)
    todo: list[tuple[int, Found]] = []
    single = t.samples_per_query == 1  # several samples are resolved on the pool, whatever the cache holds
    for i, query in enumerate(queries):
        found = stage.lookup(stage.key(stage.request(query), query)) if stage.store.enabled else None
        if single and found is not None and not needs_reask(found[0], judge_outcome(found[0], query)):
            rows[i] = stage.resolve(query, found)  # answered from the cache, nothing to send
        else:
            todo.append((i, MISS if found is None else found))
    reporter = ProgressReporter(len(queries), len(queries) - len(todo), progress)
    finished: queue.SimpleQueue[tuple[int, dict[str, Any] | BaseException]] = queue.SimpleQueue()

    ahead = claims if (claims is not None and stage.store.enabled) else None  # uncached answers cannot be shared
    # Requests are handed to the lanes a window ahead of the workers, each query read when handed over: memory
    # holds the window's queries, not the shard's (100,000 queries are gigabytes as objects).
    feed: Iterator[tuple[int, Query, Found | None]] = ((i, queries[i], first) for i, first in todo)
    window = 2 * t.concurrency
    # refilled a quarter of the concurrency at a time: each hand-over wakes every lane's loop (and pickles for a
    # helper), so one per query taken out cost the loops the GIL a thousand times a second
    refill = max(1, t.concurrency // 4)
    outstanding = 0
    lanes: fanout.Lanes | None = None
    try:
        processes = fanout.process_count(config) if todo and getattr(stage.provider, "remote", False) else 1
        lanes = fanout.Lanes(config, cache_root, run_id, stage, finished, stage.judge_health, processes)
        try:
            while True:
                dry = False  # the feed ran out: own requests all handed over
                if outstanding <= window - refill:
                    while outstanding < window and not stage.stop.is_set() and (item := next(feed, None)):
                        lanes.submit(*item)
                        outstanding += 1
                    dry = outstanding < window
                if dry and ahead is not None and lanes.waiting() < t.concurrency and not stage.stop.is_set():
                    extra = ahead.claim_next()
                    if extra is None:
                        ahead = None
                    else:
                        log.info("teacher: working ahead on %d requests of shard %d", len(extra), ahead.claimed[-1])
                        feed = ((-1, query, AHEAD) for query in extra)
                        reporter.work_ahead(added=len(extra))
                    continue
                if not outstanding:
                    break
                lanes.flush()  # what was handed over since the last wait goes out together
                results = [finished.get()]
                while len(results) < outstanding and not finished.empty():
                    results.append(finished.get_nowait())
                outstanding -= len(results)
                for index, result in results:
                    if isinstance(result, _Stopped):
                        pass
                    elif isinstance(result, BaseException):
                        raise result
                    elif index >= 0:
                        rows[index] = result
                        reporter.update(result["status"])
                    else:
                        reporter.work_ahead(done=1)
                if stage.verdict:
                    raise stage.verdict[0]
        except BaseException as exc:
            stage.stop.set()
            lanes.stop()
            if isinstance(exc, KeyboardInterrupt):  # SIGTERM or Ctrl-C: keep what is arriving, briefly
                _wind_down(finished, outstanding, stage.provider, lanes)
            lanes.shutdown(cancel=True)
            lanes = None
            raise
    finally:
        if lanes is not None:
            lanes.shutdown()
        stage.close()
        if claims is not None:
            claims.release_all()

    if stage.verdict:
        raise stage.verdict[0]
    failed = reporter.failed
    if failed:
        log.warning(
            "%d of %d requests still failed after %d attempts; they are not cached, so a new run id "
            "(or deleting this shard's manifest) retries only them",
            failed,
            len(queries),
            t.retries.max_attempts,
        )
    return [row for row in rows if row is not None]


def _wind_down(finished: queue.SimpleQueue[Any], outstanding: int, provider: Provider, lanes: fanout.Lanes) -> None:
    """The stage is being stopped: no new request leaves; answers in flight get ``TERM_GRACE_S`` to arrive
    (each is cached by its worker as it comes), then the requests still out are cut."""
    deadline = time.monotonic() + TERM_GRACE_S
    try:
        while outstanding > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                finished.get(timeout=left)
            except queue.Empty:
                break
            outstanding -= 1
    finally:
        if outstanding and hasattr(provider, "cut_in_flight"):
            log.info("teacher: stopping; %d requests still in flight are cut (no answer came: none paid)", outstanding)
            provider.cut_in_flight()
            lanes.cut_in_flight()


def _share(limit: float | None, processes: int) -> float | None:
    return limit / processes if limit else limit


def _saved(store: ResponseCache) -> str:
    return f"{store.writes} answers received so far are cached" if store.enabled else "the cache is off"


def _fatal(config: Config, outcome: TeacherOutcome, store: ResponseCache) -> TeacherStageError | None:
    """The error that stops the stage at once, when this answer says no other request can succeed."""
    t = config.teacher
    if http_policy.is_fatal(outcome):
        return TeacherStageError(
            f"teacher at {t.base_url} refused the request ({outcome.error}): "
            f"{http_policy.fatal_hint(outcome, t.api_key_env)}; stopping the stage ({_saved(store)})"
        )
    return None


# What to change when most answers come back unusable the same way (refusals are answers: the bias
# report must see who is refused, so they never trip the breaker).
UNUSABLE = {  # cause: (what the breaker records, what to change)
    "cut_off": ("answer unusable: cut off at max_tokens", "raise teacher.max_tokens"),
    "filtered": ("answer unusable: withheld by the content filter", "the endpoint's filter withholds these answers"),
    "not_json": ("answer unusable: not JSON", "check teacher.response_format and that the model writes JSON"),
    "schema_invalid": ("answer unusable: not a valid plan", "check teacher.response_format and the model"),
}


def _tripped(
    config: Config, row: TeacherResponse, breaker: CircuitBreaker, store: ResponseCache
) -> TeacherStageError | None:
    """Record one query's outcome with the breaker: a failed call, or an answer that came back unusable."""
    t = config.teacher
    cause = unusable_cause(row)
    failure = UNUSABLE[cause][0] if cause in UNUSABLE else None
    if row["status"] in TRANSIENT_STATUSES:
        failure = row["error"]
    reason = breaker.record(failure)
    if not reason:
        return None
    hint = next((h for label, h in UNUSABLE.values() if label == breaker.commonest), None)
    deterministic = hint is not None or http_policy.is_client_error(breaker.commonest or "")
    if hint is not None:
        advice = f"the endpoint answers these requests the same way every time: {hint}, then rerun)"
    elif deterministic:
        advice = (
            "the endpoint rejects these requests the same way every time: fix the request or the endpoint, then rerun)"
        )
    else:
        advice = "rerun when the endpoint is healthy, teacher.circuit_breaker sets the threshold)"
    # storms pass (Luigi's retries, minutes apart, resume from the cache); a 400 or a useless answer repeats
    return TeacherStageError(
        f"teacher at {t.base_url}: {reason}; circuit breaker stopped the stage ({_saved(store)}; {advice}",
        permanent=deterministic,
    )


def response_row(query: Query, provider: str, model: str, outcome: TeacherOutcome, cache_hit: bool) -> TeacherResponse:
    """The row of one answer on its own (no re-asks): what the dataset tests and tools build from an outcome."""
    spent = Attempts()
    spent.add(outcome, cache_hit)
    return build_row(query, provider, model, outcome, judge_outcome(outcome, query), spent, None)


def build_row(
    query: Query,
    provider: str,
    model: str,
    outcome: TeacherOutcome,
    verdict: Judgement,
    spent: Attempts,
    fmt: str | None,
    sample: int = 0,
) -> TeacherResponse:
    post_validation = dict(verdict.validation, reasks=len(spent.reask_errors), reask_errors=spent.reask_errors)
    status, error = outcome.status, outcome.error
    if status == "refused":
        post_validation["refusal"] = (
            "finish_reason" if outcome.finish_reason == "refusal" and not _has_refusal_field(outcome) else "message"
        )
    elif status == "ok" and verdict.refused:
        status, error = "refused", "the teacher refused (recognised in the answer's text)"
    elif status == "ok" and not verdict.validation["valid"]:
        status = "invalid"
        error = "answer failed the plan_response checks: " + _first_problem(verdict.validation)
    if post_validation["reasoning"] is None and _has_reasoning_field(outcome):
        post_validation["reasoning"] = "reasoning_content"
    return {
        "query_id": query["query_id"],
        "scenario_id": query["scenario_id"],
        "prompt_type": query["prompt_type"],
        "provider": provider,
        "model_name": model,
        "attempt_count": max(int(spent.http_attempts), 1),
        "latency_ms": int(spent.latency_ms),
        "status": status,
        "finish_reason": outcome.finish_reason,
        "response_text": outcome.content or "",
        "normalized_text": verdict.normalized_text,
        "raw_response": outcome.raw_response,
        "error": error,
        "usage": dict(spent.usage),
        "safety_flags": verdict.flags,
        "post_validation": post_validation,
        "response_format": fmt,
        "cache_hit": spent.paid_elsewhere,
        "sample": sample,
        "alternatives": list(spent.reasked),
    }


def _message(outcome: TeacherOutcome) -> dict[str, Any]:
    try:
        message = (outcome.raw_response or {})["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        return {}
    return message if isinstance(message, dict) else {}


def _has_reasoning_field(outcome: TeacherOutcome) -> bool:
    """vLLM, llama.cpp and others with a reasoning parser put the reasoning beside the content."""
    message = _message(outcome)
    return bool(message.get("reasoning_content") or message.get("reasoning"))


def _has_refusal_field(outcome: TeacherOutcome) -> bool:
    return bool(_message(outcome).get("refusal"))


def _first_problem(validation: dict[str, Any]) -> str:
    if not validation["parsed"]:
        return validation["schema_errors"][0] if validation["schema_errors"] else "not a JSON object"
    if validation["schema_errors"]:
        return validation["schema_errors"][0]
    return "see post_validation"


def warn_if_unusable(summary: dict[str, Any], config: Config) -> None:
    """One warning line when more than ``teacher.unusable_warn_share`` of the delivered answers cannot be used."""
    usable = summary["answers"]
    if usable["delivered"] and usable["unusable_share"] > config.teacher.unusable_warn_share:
        log.warning(
            "teacher: %s (%.0f%% of the answers; commonest: %s; above teacher.unusable_warn_share %.0f%%)",
            describe_unusable(usable),
            100 * usable["unusable_share"],
            usable["commonest_cause"],
            100 * config.teacher.unusable_warn_share,
        )


def merge_in_query_order(
    query_ids: Iterable[str], parts: Sequence[Iterable[TeacherResponse]]
) -> Iterator[TeacherResponse]:
    """The shards' rows in query order, one row of each shard in memory at a time.

    Query ``i`` is shard ``i mod len(parts)``'s (:func:`shard_queries`) and every shard keeps its queries' order,
    so the merge takes the next row of the right shard. A shard that lacks an answer (its failed requests are
    not rows) breaks that order: the error then names how many queries have no response and the first.
    """
    streams = [iter(part) for part in parts]
    ids = iter(query_ids)
    for i, query_id in enumerate(ids):
        row = next(streams[i % len(streams)], None)
        if row is None or row["query_id"] != query_id:
            answered = {r["query_id"] for stream in streams for r in stream} | ({row["query_id"]} if row else set())
            missing = [q for q in itertools.chain([query_id], ids) if q not in answered]
            raise TeacherStageError(
                f"no teacher response for {counted(len(missing), 'query', 'queries')} (first: {missing[0]})"
            )
        yield row
