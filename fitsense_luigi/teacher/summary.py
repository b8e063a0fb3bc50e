"""summary.json of the teacher stage: outcomes per status, usable answers, tokens, cost, latency, cache use.

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

FAILED_CALL_STATUSES = ("http_error", "timeout")  # no answer came back: the call failed
# Why an answer that came back cannot be trained on, in the order they are reported.
UNUSABLE_CAUSES = ("refused", "cut_off", "filtered", "not_json", "schema_invalid")
_OPENING_CHARS = 40  # of the first unusable answer, whitespace collapsed: what the one-line reason quotes


def unusable_cause(row: dict[str, Any]) -> str | None:
    """Why this delivered answer is unusable (None: usable, or the call failed and nothing was delivered)."""
    status = row["status"]
    if status in FAILED_CALL_STATUSES or row["post_validation"].get("valid"):
        return None
    if status == "refused":
        return "refused"
    if status == "length":
        return "cut_off"
    if status == "content_filter":
        return "filtered"
    return "schema_invalid" if row["post_validation"].get("parsed") else "not_json"


def usability(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Usable and unusable answers, by cause, with the first unusable one's opening (what a user looks at first)."""
    causes = [(r, unusable_cause(r)) for r in rows]
    unusable = [(r, c) for r, c in causes if c]
    counts = Counter(c for _, c in unusable)
    delivered = sum(r["status"] not in FAILED_CALL_STATUSES for r in rows)
    first = None
    if unusable:
        row, cause = unusable[0]
        text = " ".join((row.get("response_text") or "").split())
        first = {"query_id": row["query_id"], "cause": cause, "starts_with": text[:_OPENING_CHARS]}
    commonest = counts.most_common(1)[0][0] if counts else None
    return {
        "delivered": delivered,
        "usable": sum(1 for r in rows if r["post_validation"].get("valid")),
        "unusable": len(unusable),
        "unusable_share": round(len(unusable) / delivered, 4) if delivered else 0.0,
        "unusable_by_cause": {c: counts.get(c, 0) for c in UNUSABLE_CAUSES},
        "commonest_cause": commonest,
        "first_unusable": first,
        "calls_failed": len(rows) - delivered,
    }


def describe_unusable(usable: dict[str, Any]) -> str:
    """One line: '97/100 answers unusable: 95 not JSON, 2 refused; first starts with ```json'."""
    parts = [
        f"{n} {c.replace('_', ' ')}" for c, n in sorted(usable["unusable_by_cause"].items(), key=lambda x: -x[1]) if n
    ]
    line = f"{usable['unusable']}/{usable['delivered']} answers unusable: {', '.join(parts)}"
    first = usable["first_unusable"]
    if first is not None:
        line += f"; first ({first['query_id']}) starts with {first['starts_with']!r}" if first["starts_with"] else ""
    return line


def price_factor(config: Config) -> float:
    """What this run's mode pays of ``teacher.prices``: ``teacher.batch.discount`` in batch mode, else all of it."""
    return config.teacher.batch.discount if config.teacher.provider == "openai_batch" else 1.0


def cost(prompt_tokens: int, completion_tokens: int, config: Config, factor: float = 1.0) -> float:
    """The tokens at ``teacher.prices`` (online), times ``factor`` (:func:`price_factor` for this run's mode)."""
    prices = config.teacher.prices
    online = (
        prompt_tokens / 1000 * prices.prompt_per_1k_tokens + completion_tokens / 1000 * prices.completion_per_1k_tokens
    )
    return online * factor


# What :func:`summarise` reads of a row's post-validation.
_SUMMARISED_CHECKS = ("valid", "parsed", "extracted", "reasoning", "repairs", "reasks", "constraints_missing")


def summary_view(row: TeacherResponse) -> dict[str, Any]:
    """The part of a response row :func:`summarise` reads, so that a stage merging 100,000 answers keeps a few
    hundred bytes of each for its summary instead of the answers themselves (same summary either way)."""
    checks = row["post_validation"]
    return {
        "query_id": row["query_id"],
        "status": row["status"],
        "usage": row["usage"],
        "cache_hit": row["cache_hit"],
        "latency_ms": row["latency_ms"],
        "attempt_count": row["attempt_count"],
        "response_format": row.get("response_format"),
        "safety_flags": row["safety_flags"],
        "response_text": " ".join((row.get("response_text") or "").split())[:_OPENING_CHARS],
        "post_validation": {k: checks[k] for k in _SUMMARISED_CHECKS if k in checks},
    }


def summarise(rows: list[TeacherResponse], config: Config) -> dict[str, Any]:
    n = len(rows)
    statuses = Counter(r["status"] for r in rows)
    tokens = {k: sum(r["usage"][k] for r in rows) for k in TOKEN_KEYS}
    paid = [r for r in rows if not r["cache_hit"]]
    paid_tokens = {k: sum(r["usage"][k] for r in paid) for k in TOKEN_KEYS}
    answered = [r["latency_ms"] for r in rows if r["status"] not in ("http_error", "timeout")]
    latencies = np.array(answered or [0], dtype=float)
    hits = n - len(paid)
    factor = price_factor(config)
    total_cost = cost(tokens["prompt_tokens"], tokens["completion_tokens"], config, factor)
    paid_cost = cost(paid_tokens["prompt_tokens"], paid_tokens["completion_tokens"], config, factor)
    paid_online = cost(paid_tokens["prompt_tokens"], paid_tokens["completion_tokens"], config)
    return {
        "responses": n,
        "per_status": {s: statuses.get(s, 0) for s in STATUSES},
        "valid_plans": sum(1 for r in rows if r["post_validation"]["valid"]),
        "answers": usability(rows),
        "extraction": {
            "extracted": dict(sorted(Counter(str(r["post_validation"]["extracted"]) for r in rows).items())),
            "reasoning_stripped": sum(1 for r in rows if r["post_validation"]["reasoning"]),
            "repaired": sum(1 for r in rows if r["post_validation"]["repairs"]),
            "repairs": dict(
                sorted(Counter(k.split(":")[0] for r in rows for k in r["post_validation"]["repairs"]).items())
            ),
        },
        "reasks": {
            "answers_reasked": sum(1 for r in rows if r["post_validation"]["reasks"]),
            "reasks_sent": sum(r["post_validation"]["reasks"] for r in rows),
            "mended": sum(1 for r in rows if r["post_validation"]["reasks"] and r["post_validation"]["valid"]),
            "still_unusable": sum(
                1 for r in rows if r["post_validation"]["reasks"] and not r["post_validation"]["valid"]
            ),
        },
        "response_formats": dict(sorted(Counter(str(r.get("response_format")) for r in rows).items())),
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
            "mode": "batch" if config.teacher.provider == "openai_batch" else "online",
            "price_factor": factor,  # of the prices above: teacher.batch.discount in batch mode
            "saved_by_batch": round(paid_online - paid_cost, 6),  # against paying the same tokens online
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
