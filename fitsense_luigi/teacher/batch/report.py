"""``batches.json`` of the teacher stage in batch mode: a run's batches, what they held and how they ended.

Read from the submission records (:mod:`.registry`), not from the rows:
requests per batch, requests submitted again and why (lost by a batch,
expired, cancelled, a retryable line error), answers, failures, and the time
from the first submission to the last collection.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from fitsense_luigi.contracts.dataroot import DataRoot
from fitsense_luigi.teacher.batch.registry import Registry, Submission, of_run


def again_reason(error: str) -> str:
    """Why a line goes again, in a word: lost, expired, cancelled, http_<status>, or other."""
    if error.startswith("no line for it"):
        return "lost"
    if "batch_expired" in error:
        return "expired"
    if "batch_cancelled" in error:
        return "cancelled"
    if error.startswith("HTTP "):
        return "http_" + error.split()[1].rstrip(":")
    return "other"


def for_run(cache_root: DataRoot, run_id: str) -> dict[str, Any]:
    submissions = list(of_run(Registry(cache_root).load(run_id), run_id))
    batches = [_batch(s) for s in submissions]
    reasons = Counter(
        again_reason(error) for s in submissions if s.collected for error in s.collected.get("again", {}).values()
    )
    requests = sum(b["requests"] for b in batches)
    times = [_time(s.intent.get("created")) for s in submissions] + [
        _time(s.collected.get("collected")) for s in submissions if s.collected
    ]
    times = [t for t in times if t is not None]
    return {
        "run_id": run_id,
        "batches": batches,
        "totals": {
            "batches": len(batches),
            "requests_submitted": requests,
            "requests_resubmitted": sum(b["resubmitted"] for b in batches),
            "requests_per_batch": round(requests / len(batches), 1) if batches else 0.0,
            "answered": sum(b["answered"] for b in batches),
            "failed": sum(b["failed"] for b in batches),
            "submitted_again": dict(sorted(reasons.items())),
            "still_open": sum(1 for s in submissions if s.open),
            "elapsed_s": round((max(times) - min(times)).total_seconds(), 1) if times else 0.0,
        },
    }


def _batch(s: Submission) -> dict[str, Any]:
    collected = s.collected or {}
    return {
        "submission": s.id,
        "batch_id": s.batch_id,
        "status": collected.get("status", "open"),
        "requests": len(s.lines),
        "resubmitted": int(s.intent.get("resubmitted", 0)),
        "bytes": int(s.intent.get("bytes", 0)),
        "request_counts": collected.get("request_counts"),
        "answered": int(collected.get("answered", 0)),
        "failed": len(collected.get("failed", {})),
        "again": len(collected.get("again", {})),
        "malformed_lines": int(collected.get("malformed_lines", 0)),
        "created": s.intent.get("created"),
        "collected": collected.get("collected"),
    }


def _time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
