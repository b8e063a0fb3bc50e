"""The teacher stage: queries in, one response row per query out, in query order.

Every query takes the same path whoever the provider is: cache lookup, call
(on a worker pool of ``teacher.concurrency`` threads, paced by one shared
:class:`Pacer`), cache write by the worker as soon as the answer arrives,
post-checks, response row. A fatal answer (bad key, wrong URL or model, no
quota) or a tripped circuit breaker stops the stage with one clear
``TeacherStageError``; everything answered before that is already cached, so
the rerun only sends what is missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from functools import cache
from typing import Any

from fitsense_luigi.config import Config, load_schema
from fitsense_luigi.contracts.dataroot import DataRoot
from fitsense_luigi.contracts.progress import Progress
from fitsense_luigi.contracts.rows import USAGE_KEYS, Query, TeacherResponse
from fitsense_luigi.errors import TeacherStageError
from fitsense_luigi.teacher import http_policy
from fitsense_luigi.teacher.cache import ResponseCache, cache_key
from fitsense_luigi.teacher.checks import post_check
from fitsense_luigi.teacher.pacing import CircuitBreaker, Pacer
from fitsense_luigi.teacher.types import TRANSIENT_STATUSES, Provider, TeacherOutcome, TeacherRequest

log = logging.getLogger("fitsense.teacher")
PLAN_SCHEMA = "plan_response.schema.json"


def make_provider(config: Config, pacer: Pacer | None = None) -> Provider:
    t = config.teacher
    if t.provider == "mock":
        from fitsense_luigi.teacher.mock import MockCoach

        return MockCoach(t.model, seed=config.reproducibility.seed, flaw_rate=t.mock.flaw_rate)
    from fitsense_luigi.teacher.openai_compat import OpenAICompatible

    return OpenAICompatible(
        t.base_url or "",
        t.api_key_env,
        connect_s=t.timeouts.connect_s,
        read_s=t.timeouts.read_s,
        max_attempts=t.retries.max_attempts,
        initial_wait_s=t.retries.initial_wait_s,
        max_wait_s=t.retries.max_wait_s,
        retry_after_cap_s=t.retries.retry_after_cap_s,
        pacer=pacer,
    )


def response_format(config: Config) -> dict[str, Any] | None:
    """What the endpoint is told about the answer's shape (``teacher.response_format``)."""
    kind = config.teacher.response_format
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = {k: v for k, v in load_schema(PLAN_SCHEMA).items() if not k.startswith("$")}
        return {"type": "json_schema", "json_schema": {"name": "plan_response", "schema": schema}}
    return None


@cache
def schema_version() -> str:
    """Content hash of the plan schema: a changed schema is a different request."""
    canonical = json.dumps(load_schema(PLAN_SCHEMA), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def build_request(config: Config, query: Query, fmt: dict[str, Any] | None) -> TeacherRequest:
    t = config.teacher
    return TeacherRequest(
        query["messages"], t.model, t.temperature, t.top_p, t.max_tokens, config.reproducibility.seed, fmt
    )


def shard_queries(queries: list[Query], shard: int, shards: int) -> list[Query]:
    """Round-robin, so every shard gets a similar mix of prompt types."""
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
        self.callback, self.every_s, self.log_every_s, self.clock = callback, every_s, log_every_s, clock
        self.started = self.last_shown = self.last_logged = clock()
        self.show(force=True)

    def message(self) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = (self.done - self.cached) / elapsed
        return (
            f"teacher: {self.done}/{self.total} answered ({self.cached} from cache), "
            f"{rate:.1f} req/s, {self.failed} failed"
        )

    def update(self, outcome: TeacherOutcome) -> None:
        self.done += 1
        self.failed += outcome.status in TRANSIENT_STATUSES
        self.show(force=self.done == self.total)

    def show(self, force: bool = False) -> None:
        now = self.clock()
        if self.callback and (force or now - self.last_shown >= self.every_s):
            self.callback(self.done, self.total, self.message())
            self.last_shown = now
        if now - self.last_logged >= self.log_every_s or (force and self.done == self.total and self.total):
            log.info("%s", self.message())
            self.last_logged = now


def answer(
    config: Config,
    queries: list[Query],
    cache_root: DataRoot,
    progress: Progress | None = None,
    run_id: str | None = None,
) -> list[TeacherResponse]:
    """One response row per query, in query order; raises TeacherStageError when the endpoint cannot serve.

    ``cache_hit`` means "paid for by another run": each cache entry records the
    run that paid for it, so the answers a killed attempt of ``run_id`` already
    received count as this run's (a resumed run reports what an uninterrupted
    one does: same rows, same tokens paid this run).
    """
    t = config.teacher
    stop = threading.Event()
    pacer = Pacer(t.requests_per_minute, t.tokens_per_minute, stop)
    provider = make_provider(config, pacer)
    store = ResponseCache(cache_root, enabled=t.cache.enabled and provider.cacheable)
    fmt = response_format(config)
    requests = [build_request(config, q, fmt) for q in queries]
    keys = [
        cache_key(t.base_url, r.body(), schema_version(), q["template_version"]) if store.enabled else ""
        for r, q in zip(requests, queries, strict=True)
    ]
    cached = [store.lookup(k) if store.enabled else None for k in keys]
    rows: list[TeacherResponse | None] = [
        response_row(q, provider.name, t.model, c[0], cache_hit=run_id is None or c[1].get("run_id") != run_id)
        if c is not None
        else None
        for q, c in zip(queries, cached, strict=True)
    ]
    todo = [i for i, c in enumerate(cached) if c is None]
    reporter = ProgressReporter(len(queries), len(queries) - len(todo), progress)
    breaker = CircuitBreaker(t.circuit_breaker.window, t.circuit_breaker.min_calls, t.circuit_breaker.failure_ratio)
    about = {"base_url": t.base_url, "model": t.model, "schema_version": schema_version(), "run_id": run_id}

    verdict: list[TeacherStageError] = []

    def call(i: int) -> TeacherOutcome | None:
        """One request on a worker: send, cache at once, judge, and post-check while others wait on the network."""
        if stop.is_set():
            return None
        outcome = provider.complete(requests[i])
        if store.enabled:
            store.put(keys[i], outcome, dict(about, template_version=queries[i]["template_version"]))
        problem = _hopeless(config, outcome, breaker, store)
        if problem:  # decided here, so that no worker picks up another request meanwhile
            verdict.append(problem)
            stop.set()
        rows[i] = response_row(queries[i], provider.name, t.model, outcome, cache_hit=False)
        return outcome

    try:
        with ThreadPoolExecutor(max_workers=t.concurrency, thread_name_prefix="teacher") as pool:
            futures = [pool.submit(call, i) for i in todo]
            try:
                for future in as_completed(futures):
                    outcome = future.result()
                    if outcome is not None:
                        reporter.update(outcome)
                    if verdict:
                        raise verdict[0]
            except BaseException:
                stop.set()
                for future in futures:
                    future.cancel()
                raise
    finally:
        provider.close()

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


def _hopeless(
    config: Config, outcome: TeacherOutcome, breaker: CircuitBreaker, store: ResponseCache
) -> TeacherStageError | None:
    """The error that stops the stage, when this outcome says no further request is worth sending."""
    t = config.teacher
    saved = f"{store.writes} answers received so far are cached" if store.enabled else "the cache is off"
    if http_policy.is_fatal(outcome):
        return TeacherStageError(
            f"teacher at {t.base_url} refused the request ({outcome.error}): "
            f"{http_policy.fatal_hint(outcome, t.api_key_env)}; stopping the stage ({saved})"
        )
    reason = breaker.record(outcome.error if outcome.status in TRANSIENT_STATUSES else None)
    if reason:
        return TeacherStageError(
            f"teacher at {t.base_url}: {reason}; circuit breaker stopped the stage ({saved}; rerun when the "
            f"endpoint is healthy, teacher.circuit_breaker sets the threshold)",
            permanent=False,  # storms pass: Luigi's retries (minutes apart) resume from the cache
        )
    return None


def response_row(query: Query, provider: str, model: str, outcome: TeacherOutcome, cache_hit: bool) -> TeacherResponse:
    post_validation, flags = post_check(
        outcome.content if outcome.status == "ok" else None,
        query["context_summary"],
        query["expected_safety_constraints"],
    )
    status = outcome.status
    error = outcome.error
    if status == "ok" and not post_validation["valid"]:
        status = "invalid"
        error = "answer failed the plan_response checks: " + _first_problem(post_validation)
    return {
        "query_id": query["query_id"],
        "scenario_id": query["scenario_id"],
        "prompt_type": query["prompt_type"],
        "provider": provider,
        "model_name": model,
        "attempt_count": int(outcome.attempt_count),
        "latency_ms": int(outcome.latency_ms),
        "status": status,
        "finish_reason": outcome.finish_reason,
        "response_text": outcome.content or "",
        "raw_response": outcome.raw_response,
        "error": error,
        "usage": {k: int(outcome.usage.get(k, 0)) for k in USAGE_KEYS},
        "safety_flags": flags,
        "post_validation": post_validation,
        "cache_hit": cache_hit,
    }


def _first_problem(validation: dict[str, Any]) -> str:
    if not validation["parsed"]:
        return "not a JSON object"
    if validation["schema_errors"]:
        return validation["schema_errors"][0]
    return "see post_validation"


def merge_in_query_order(queries: list[Query], parts: list[list[TeacherResponse]]) -> list[TeacherResponse]:
    by_id = {row["query_id"]: row for part in parts for row in part}
    missing = [q["query_id"] for q in queries if q["query_id"] not in by_id]
    if missing:
        raise TeacherStageError(f"{len(missing)} queries have no teacher response (first: {missing[0]})")
    return [by_id[q["query_id"]] for q in queries]
