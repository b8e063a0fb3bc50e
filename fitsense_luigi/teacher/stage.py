"""The teacher stage: queries in, one response row per query out.

Each query goes through the same path for every provider: cache lookup, call,
cache write (as soon as the answer arrives), post-checks, response row.
Requests run on a thread pool sized by ``teacher.concurrency``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from fitsense_luigi.config import Config, load_schema
from fitsense_luigi.errors import TeacherStageError
from fitsense_luigi.teacher.cache import ResponseCache, cache_key
from fitsense_luigi.teacher.checks import post_check
from fitsense_luigi.teacher.mock import MockCoach
from fitsense_luigi.teacher.openai_compat import OpenAICompatible
from fitsense_luigi.teacher.types import STATUSES, Provider, TeacherOutcome, TeacherRequest

log = logging.getLogger("fitsense.teacher")
Progress = Callable[[int, int, str], None]
FINAL_STATUSES = frozenset({"ok", "length", "content_filter", "invalid"})  # worth caching


def make_provider(config: Config) -> Provider:
    t = config.teacher
    if t.provider == "mock":
        return MockCoach(t.model)
    return OpenAICompatible(
        t.base_url or "",
        t.api_key_env,
        connect_s=t.timeouts.connect_s,
        read_s=t.timeouts.read_s,
        max_attempts=t.retries.max_attempts,
        max_wait_s=t.retries.max_wait_s,
        pool_size=t.concurrency,
    )


def response_format(config: Config) -> dict[str, Any] | None:
    kind = config.teacher.response_format
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": "plan_response", "schema": load_schema("plan_response.schema.json")},
        }
    return None


def schema_version() -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(load_schema("plan_response.schema.json"), sort_keys=True).encode()).hexdigest()[
        :16
    ]


def shard_queries(queries: list[dict[str, Any]], shard: int, shards: int) -> list[dict[str, Any]]:
    return [q for i, q in enumerate(queries) if i % shards == shard]


def answer(
    config: Config, queries: list[dict[str, Any]], cache_root: Path, progress: Progress | None = None
) -> list[dict[str, Any]]:
    provider = make_provider(config)
    cache = ResponseCache(cache_root, enabled=config.teacher.cache.enabled and provider.cacheable)
    fmt = response_format(config)
    version = schema_version()
    total = len(queries)
    done = 0

    def one(query: dict[str, Any]) -> dict[str, Any]:
        request = TeacherRequest(
            query["messages"],
            config.teacher.model,
            config.teacher.temperature,
            config.teacher.top_p,
            config.teacher.max_tokens,
            config.reproducibility.seed,
            fmt,
        )
        key = cache_key(config.teacher.base_url, request.body(), version)
        cached = cache.get(key)
        outcome = cached or provider.complete(request)
        if cached is None and outcome.status in FINAL_STATUSES:
            cache.put(key, outcome)
        if outcome.status == "http_error" and outcome.error and outcome.error.startswith(("HTTP 401", "HTTP 403")):
            raise TeacherStageError(
                f"teacher at {config.teacher.base_url} refused the credentials "
                f"({outcome.error[:8]}): check ${config.teacher.api_key_env}"
            )
        return response_row(query, provider.name, config.teacher.model, outcome, cache_hit=cached is not None)

    rows: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=config.teacher.concurrency) as pool:
        for row in pool.map(one, queries):
            rows.append(row)
            done += 1
            if progress and (done % 25 == 0 or done == total):
                progress(done, total, f"teacher: {done}/{total}")
    return rows


def response_row(
    query: dict[str, Any], provider: str, model: str, outcome: TeacherOutcome, cache_hit: bool
) -> dict[str, Any]:
    post_validation, flags = post_check(
        outcome.content if outcome.status == "ok" else None,
        query["context_summary"],
        query["expected_safety_constraints"],
    )
    status = outcome.status
    if status == "ok" and not post_validation["valid"]:
        status = "invalid"
    return {
        "query_id": query["query_id"],
        "scenario_id": query["scenario_id"],
        "prompt_type": query["prompt_type"],
        "provider": provider,
        "model_name": model,
        "attempt_count": outcome.attempt_count,
        "latency_ms": outcome.latency_ms,
        "status": status,
        "finish_reason": outcome.finish_reason,
        "response_text": outcome.content or "",
        "raw_response": outcome.raw_response,
        "error": outcome.error,
        "usage": {k: int(outcome.usage.get(k, 0)) for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
        "safety_flags": flags,
        "post_validation": post_validation,
        "cache_hit": cache_hit,
    }


def merge_in_query_order(queries: list[dict[str, Any]], parts: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    by_id = {row["query_id"]: row for part in parts for row in part}
    missing = [q["query_id"] for q in queries if q["query_id"] not in by_id]
    if missing:
        raise TeacherStageError(f"{len(missing)} queries have no teacher response (first: {missing[0]})")
    return [by_id[q["query_id"]] for q in queries]


def summarise(rows: list[dict[str, Any]], config: Config) -> dict[str, Any]:
    statuses = Counter(r["status"] for r in rows)
    latencies = np.array([r["latency_ms"] for r in rows if not r["cache_hit"]] or [0])
    tokens = {k: sum(r["usage"][k] for r in rows) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    return {
        "responses": len(rows),
        "per_status": {s: statuses.get(s, 0) for s in STATUSES},
        "tokens": tokens,
        "latency_ms": {f"p{q}": float(np.percentile(latencies, q)) for q in (50, 90, 99)},
        "cache_hit_rate": round(sum(r["cache_hit"] for r in rows) / len(rows), 4) if rows else 0.0,
        "safety_flagged": sum(1 for r in rows if r["safety_flags"]),
        "provider": config.teacher.provider,
        "model": config.teacher.model,
    }
