"""Benchmark of BuildDistillationDataset's domain code at scale: prints throughput and peak memory.

    .venv/bin/python bench/bench_dataset.py            # 100k queries
    .venv/bin/python bench/bench_dataset.py --queries 20000

Inputs are written as real queries.jsonl / responses.jsonl (mock-coach plans,
with 2 % exact and 2 % near copies and 3 % failed calls mixed in), then a fresh
process reads them the way the task does, builds the dataset, writes the JSONL
and Parquet outputs, and reports each phase, so the peak RSS printed is the
stage's own. Timings are noisy on a shared machine: run twice if one looks off.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fitsense_luigi.config import PROMPT_TYPES, load_config
from fitsense_luigi.contracts import files
from fitsense_luigi.contracts.encoding import dumps_row
from fitsense_luigi.queries import prompts
from fitsense_luigi.reference import goals
from fitsense_luigi.reference.safety import constraints_for

GOALS = tuple(goals.GOALS)
QUERIES, RESPONSES = files.QUERIES.name, files.RESPONSES.name  # the stages' inputs, side by side in one directory
CONDITIONS = ("hypertension", "knee_osteoarthritis", "asthma", "lower_back_pain", "type_2_diabetes")


def make_inputs(count: int, directory: Path) -> None:
    import uuid

    from fitsense_luigi.teacher.mock import coach

    rng = random.Random(20260217)
    users = max(count // 2, 1)
    with (directory / QUERIES).open("w") as qf, (directory / RESPONSES).open("w") as rf:
        previous = ""
        for n in range(count):
            user = rng.randrange(users)
            goal = GOALS[user % len(GOALS)]
            conditions = [CONDITIONS[user % 5]] if user % 3 == 0 else []
            context = {
                "age": 18 + user % 60, "sex": ("female", "male")[user % 2], "goal": goal,
                "activity_level": "moderately_active", "conditions": conditions, "medications": [], "allergies": [],
                "days_per_week": float(2 + user % 4), "sessions_last_window": rng.randrange(30),
                "adherence_rate": round(rng.random(), 2), "weight_change_kg": round(rng.uniform(-3, 3), 1),
                "top_lifts": [{"exercise": "Goblet Squat", "estimated_1rm_kg": float(10 + user % 60)}],
                "window_days": 84,
            }  # fmt: skip
            constraints = constraints_for(context)
            request = f"Request {n}: build me a plan to improve my {goal.replace('_', ' ')}."
            messages = prompts.messages(request, context, constraints)
            query = {
                "query_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-{n}")),
                "user_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-user-{user}")),
                "scenario_id": f"bench-{n:06d}",
                "prompt_type": PROMPT_TYPES[n % 4],
                "slice_tags": {"age_band": "30-39", "sex": context["sex"], "goal_type": goal,
                               "activity_level": "moderately_active",
                               "condition_flag": "with_condition" if conditions else "no_condition"},
                "expected_safety_constraints": constraints,
                "context_summary": context,
                "user_request": request,
                "asks": {"question": None, "about": None, "wants_plan": True, "days": None, "conflicting_days": [],
                         "stalled_lift": None, "equipment": []},
                "messages": messages,
                "template_version": "v1",
            }  # fmt: skip
            text = json.dumps(coach(messages[1]["content"]))
            roll = rng.random()
            if roll < 0.02 and previous:
                text = previous  # exact copy
            elif roll < 0.04 and previous:
                text = previous.replace('"summary": "', '"summary": "Adjusted: ', 1)  # near copy
            status = "timeout" if 0.04 <= roll < 0.07 else "ok"
            previous = text if status == "ok" and constraints == [] else previous
            response = {
                "query_id": query["query_id"], "scenario_id": query["scenario_id"], "prompt_type": query["prompt_type"],
                "provider": "mock", "model_name": "fitsense-mock-coach-v1", "attempt_count": 1, "latency_ms": 0,
                "status": status, "finish_reason": "stop", "response_text": text if status == "ok" else "",
                "normalized_text": text if status == "ok" else "", "response_format": "json_schema",
                "sample": 0, "alternatives": [],
                "raw_response": {"choices": [{"message": {"content": text}}]}, "error": None,
                "usage": {"prompt_tokens": 900, "completion_tokens": 700, "total_tokens": 1600},
                "safety_flags": [],
                "post_validation": {"parsed": True, "schema_valid": True, "schema_errors": [], "unknown_exercises": [],
                                    "constraints_addressed": constraints, "constraints_missing": [], "valid": True,
                                    "extracted": "as_is", "reasoning": None, "repairs": [], "refusal": None,
                                    "reasks": 0, "reask_errors": []},
                "cache_hit": False,
            }  # fmt: skip
            qf.write(dumps_row(query) + "\n")
            rf.write(dumps_row(response) + "\n")


def measure_stage(directory: Path) -> None:
    """Runs in a fresh process: read, build, write, as the task does; prints one line per phase."""
    import io

    import pyarrow.parquet as pq

    from fitsense_luigi.contracts.encoding import iter_jsonl
    from fitsense_luigi.dataset import build
    from fitsense_luigi.dataset.split import SPLITS

    config = load_config()
    t0 = time.perf_counter()
    queries = list(iter_jsonl(directory / QUERIES))
    responses = iter_jsonl(directory / RESPONSES)
    provenance = build.Provenance("bench", {"queries": "bench", "teacher": "bench"}, "0" * 64, "bench")
    phases: dict[str, float] = {}
    current = ["read queries", t0]

    def progress(done: int, total: int, message: str) -> None:
        phase = message.removeprefix("dataset: ").split(" ")[0]
        if phase != current[0]:
            now = time.perf_counter()
            phases[current[0]] = phases.get(current[0], 0.0) + now - current[1]
            current[:] = [phase, now]

    progress(0, 0, "dataset: responses")
    result = build.build_dataset(config, queries, responses, provenance, progress=progress)
    progress(0, 0, "dataset: write")
    for _, rows in result.row_files():
        buffer = io.StringIO()
        for row in rows:
            buffer.write(dumps_row(row) + "\n")
    for split in SPLITS:
        pq.write_table(result.table(split), io.BytesIO(), compression="zstd")
    progress(0, 0, "dataset: end")
    total = time.perf_counter() - t0
    n = len(queries)
    reasons = ", ".join(f"{k} {v}" for k, v in result.summary["rejected_by_reason"].items() if v)
    print(f"stage: {n} queries -> {len(result.records)} records, {len(result.rejected)} rejected ({reasons})")
    print("  phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items()))
    print(f"  end to end {total:.2f} s = {n / total:.0f} queries/s; peak RSS {_peak_mb():.0f} MB")


def measure_dedup(directory: Path) -> None:
    """Runs in a fresh process: deduplicate every ok answer of the input, nothing else."""
    from fitsense_luigi.contracts.encoding import iter_jsonl
    from fitsense_luigi.dataset import dedup

    config = load_config()
    texts = [r["response_text"] for r in iter_jsonl(directory / RESPONSES) if r["status"] == "ok"]
    keys = [f"{k:08d}" for k in range(len(texts))]
    before = _peak_mb()
    t0 = time.perf_counter()
    found = dedup.deduplicate(keys, texts, config.dataset.near_duplicate_jaccard)
    seconds = time.perf_counter() - t0
    print(
        f"dedup: {len(texts)} answers in {seconds:.2f} s = {len(texts) / seconds:.0f} answers/s "
        f"(exact {len(found.exact)}, near {len(found.near)}, candidates checked {found.candidate_pairs}, "
        f"LSH {found.bands} bands x {found.rows_per_band} rows); peak RSS {_peak_mb():.0f} MB "
        f"({before:.0f} MB with the texts loaded)"
    )


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--measure", nargs=2, metavar=("PART", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        part, directory = args.measure
        (measure_stage if part == "stage" else measure_dedup)(Path(directory))
        return
    with tempfile.TemporaryDirectory(prefix="bench_dataset_") as tmp:
        directory = Path(tmp)
        t0 = time.perf_counter()
        make_inputs(args.queries, directory)
        size = sum(p.stat().st_size for p in directory.iterdir()) / 2**20
        print(f"inputs: {args.queries} queries, {size:.0f} MB of JSONL, made in {time.perf_counter() - t0:.1f} s")
        for part in ("stage", "dedup"):
            subprocess.run([sys.executable, __file__, "--measure", part, str(directory)], check=True)


if __name__ == "__main__":
    main()
