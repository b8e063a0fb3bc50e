"""summary.json of the teacher stage: outcomes per status, tokens, cost, latency, cache use.

Computed from the response rows alone, so a shard's manifest and the merged
run summary agree, and a rerun served from the cache reports the same
latencies (each row keeps the latency of the call that paid for it).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from fitsense_luigi.config import Config
from fitsense_luigi.contracts.rows import USAGE_KEYS as TOKEN_KEYS
from fitsense_luigi.contracts.rows import TeacherResponse
from fitsense_luigi.teacher.types import STATUSES


def cost(prompt_tokens: int, completion_tokens: int, config: Config) -> float:
    prices = config.teacher.prices
    return (
        prompt_tokens / 1000 * prices.prompt_per_1k_tokens + completion_tokens / 1000 * prices.completion_per_1k_tokens
    )


def summarise(rows: list[TeacherResponse], config: Config) -> dict[str, Any]:
    n = len(rows)
    statuses = Counter(r["status"] for r in rows)
    tokens = {k: sum(r["usage"][k] for r in rows) for k in TOKEN_KEYS}
    paid = [r for r in rows if not r["cache_hit"]]
    paid_tokens = {k: sum(r["usage"][k] for r in paid) for k in TOKEN_KEYS}
    answered = [r["latency_ms"] for r in rows if r["status"] not in ("http_error", "timeout")]
    latencies = np.array(answered or [0], dtype=float)
    hits = n - len(paid)
    total_cost = cost(tokens["prompt_tokens"], tokens["completion_tokens"], config)
    paid_cost = cost(paid_tokens["prompt_tokens"], paid_tokens["completion_tokens"], config)
    return {
        "responses": n,
        "per_status": {s: statuses.get(s, 0) for s in STATUSES},
        "valid_plans": sum(1 for r in rows if r["post_validation"]["valid"]),
        "safety_flagged": sum(1 for r in rows if r["safety_flags"]),
        "constraints_missing": sum(1 for r in rows if r["post_validation"]["constraints_missing"]),
        "tokens": tokens,
        "tokens_paid_this_run": paid_tokens,
        "cost": {
            "total": round(total_cost, 6),
            "paid_this_run": round(paid_cost, 6),
            "saved_by_cache": round(total_cost - paid_cost, 6),
            "prompt_per_1k_tokens": config.teacher.prices.prompt_per_1k_tokens,
            "completion_per_1k_tokens": config.teacher.prices.completion_per_1k_tokens,
        },
        "latency_ms": {
            "p50": round(float(np.percentile(latencies, 50)), 1),
            "p90": round(float(np.percentile(latencies, 90)), 1),
            "p99": round(float(np.percentile(latencies, 99)), 1),
            "max": round(float(latencies.max()), 1),
        },
        "attempts": {
            "total": sum(r["attempt_count"] for r in rows),
            "retried_requests": sum(1 for r in rows if r["attempt_count"] > 1),
        },
        "cache_hits": hits,
        "cache_hit_rate": round(hits / n, 4) if n else 0.0,
        "provider": config.teacher.provider,
        "model": config.teacher.model,
    }
