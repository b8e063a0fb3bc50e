"""Benchmark of the quality stages: validation, statistics, anomalies, bias slicing and the report.

Generates a synthetic world with the real generators and a crafted dataset of
N records (real records of the shared shape, scaled by copying the mock
teacher's answers to new query ids), then times each quality function and
prints throughput and peak RSS. Each size runs in a fresh subprocess so peak
RSS belongs to that size alone. Figures only; nothing is asserted.

    .venv/bin/python bench/bench_quality.py              # 2,000 users / 10,000 records and 10,000 / 50,000
    .venv/bin/python bench/bench_quality.py 20000 100000 # one size
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SIZES = ((2_000, 10_000), (10_000, 50_000))
AS_OF = dt.date(2026, 2, 17)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_inputs(users: int, records: int, workdir: Path):
    """A real world on disk (Parquet) and `records` distillation records shaped like the pipeline's."""
    from fitsense_luigi.config import load_config
    from fitsense_luigi.contracts import files
    from fitsense_luigi.contracts.stages import BY_NAME, PROFILES, WORKOUTS
    from fitsense_luigi.contracts.world import ParquetWorld
    from fitsense_luigi.dataset import build
    from fitsense_luigi.pipeline.roots import LocalRoot
    from fitsense_luigi.pipeline.store import RunStore
    from fitsense_luigi.queries import generate
    from fitsense_luigi.synth import profiles, schema, workouts
    from fitsense_luigi.teacher import stage as teacher_stage

    config = load_config()
    config = dataclasses.replace(config, world=dataclasses.replace(config.world, users=users))
    store = RunStore(workdir, "bench")
    schemas = {n: s.schema for n, s in schema.TABLES.items()}
    for stage, generator in ((PROFILES, profiles), (WORKOUTS, workouts)):
        with store.writer(stage, fingerprint="bench") as out:
            out.tables(generator.generate(config, AS_OF), schemas)
    world = ParquetWorld(  # the files as the runtime hands them over once verified (RunStore.world)
        {n: workdir / store.key(files.world_table(n, BY_NAME[s.stage])) for n, s in schema.TABLES.items()}
    )
    tables = {n: world.table(n) for n in schema.TABLES}
    base_queries = generate.build_queries(config, AS_OF, tables)
    del tables
    base_responses = teacher_stage.answer(config, base_queries, cache_root=LocalRoot(workdir / "cache"), progress=None)
    provenance = build.records.Provenance("bench", {"queries": "bench", "teacher": "bench"})
    base = build.build_dataset(config, base_queries, base_responses, provenance)
    by_query = {r["query_id"]: r for r in base_responses}
    queries, responses, kept = [], [], []
    for k in range(records):  # copies with new ids, users and a distinct response each (no filter drops them)
        record = copy.deepcopy(base.records[k % len(base.records)])
        old_id = record["metadata"]["query_id"]
        query = (
            copy.deepcopy(next(q for q in base_queries if q["query_id"] == old_id)) if k < len(base.records) else None
        )
        query = query or copy.deepcopy(queries[k % len(base.records)])
        response = copy.deepcopy(by_query[old_id])
        plan = json.loads(record["response"])
        plan["summary"] += f" (variant {k})"
        text = json.dumps(plan)
        qid, user = str(uuid.UUID(int=k + 1)), str(uuid.UUID(int=(k * 7919) % (users * 3) + 1))
        query.update(query_id=qid, user_id=user)
        response.update(query_id=qid, response_text=text)
        record.update(record_id=str(uuid.uuid5(uuid.NAMESPACE_OID, qid)), user_id=user, response=text)
        record["messages"][2]["content"] = text
        record["metadata"]["query_id"] = qid
        point = int(hashlib.sha256(user.encode()).hexdigest()[:8], 16) / 2**32  # grouped by user, 80/10/10
        record["split"] = "train" if point < 0.8 else "validation" if point < 0.9 else "test"
        queries.append(query)
        responses.append(response)
        kept.append(record)
    dataset = {"all_records": kept, "rejected": []}
    dataset.update({s: [r for r in kept if r["split"] == s] for s in ("train", "validation", "test")})
    realism = {"passed": True, "checks": []}
    return config, world, dataset, queries, responses, realism


def measure(users: int, records: int) -> dict:
    from fitsense_luigi.contracts import files
    from fitsense_luigi.quality import anomalies, bias, publish, stats, validate

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        config, world, dataset, queries, responses, realism = build_inputs(users, records, Path(tmp))
        setup = time.perf_counter() - t0
        rows = sum(world.table(n, [world.schema(n).names[0]]).num_rows for n in world.names())
        timings = {}
        t = time.perf_counter()
        validation = validate.validate_run(config, world, dataset, realism, AS_OF)
        timings["validate"] = time.perf_counter() - t
        t = time.perf_counter()
        statistics = stats.compute_stats(world, dataset, AS_OF)
        timings["stats"] = time.perf_counter() - t
        t = time.perf_counter()
        report = anomalies.detect(config, dataset, queries, responses, statistics, None)
        timings["anomalies"] = time.perf_counter() - t
        t = time.perf_counter()
        sliced = bias.slice_report(config, queries, responses, dataset["all_records"])
        timings["bias"] = time.perf_counter() - t
        t = time.perf_counter()
        run = {"run_id": "bench", "as_of_date": AS_OF.isoformat(), "fingerprint": "0" * 64, "version": "bench"}
        published = publish.publish(config, run, validation, statistics, report, sliced)
        timings["charts+report"] = time.perf_counter() - t
    return {
        "users": users,
        "table_rows": rows,
        "records": len(dataset["all_records"]),
        "setup_s": round(setup, 1),
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "table_rows_per_s_validate": round(rows / timings["validate"]),
        "table_rows_per_s_stats": round(rows / timings["stats"]),
        "records_per_s_bias": round(len(dataset["all_records"]) / timings["bias"]),
        "checks": validation["num_checks"],
        "valid": validation["valid"],
        "bias_slices": len(sliced["slices"]),
        "report_kib": round(len(published.files[files.REPORT_HTML]) / 1024),
        "peak_rss_mib": round(peak_rss_mib()),
    }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(measure(int(sys.argv[2]), int(sys.argv[3]))))
        return
    sizes = [(int(sys.argv[1]), int(sys.argv[2]))] if len(sys.argv) == 3 else SIZES
    for users, records in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(users), str(records)], capture_output=True, text=True, check=True
        )
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        t = figures["timings_s"]
        print(
            f"users={figures['users']:>6} table_rows={figures['table_rows']:>9} records={figures['records']:>6} | "
            f"validate {t['validate']:.2f}s ({figures['table_rows_per_s_validate']:,} rows/s, "
            f"{figures['checks']} checks) stats {t['stats']:.2f}s ({figures['table_rows_per_s_stats']:,} rows/s) "
            f"anomalies {t['anomalies']:.2f}s bias {t['bias']:.2f}s ({figures['records_per_s_bias']:,} records/s, "
            f"{figures['bias_slices']} slices) charts+report {t['charts+report']:.2f}s ({figures['report_kib']} KiB) "
            f"| peak RSS {figures['peak_rss_mib']} MiB (whole process, incl. generating the inputs)"
        )


if __name__ == "__main__":
    main()
