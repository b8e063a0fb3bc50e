"""What reaches the dataset when the teacher answers the way real models do, through the `luigi` command.

A loopback teacher (``tests/support/realistic_teacher.py``) answers each query
in one of the shapes measured through a LiteLLM proxy (``answer_shapes``:
clean 60 %, fenced, after a preamble, after inline ``<think>``, reasoning in
its own field, trailing commas, numbers as strings, rep ranges, extra keys, a
missing field, and refusals three ways). The whole pipeline runs at the
default scale (`luigi --module fitsense_luigi BiasSlicing`, one worker); the
table shows, per shape, how many answers reached the dataset as clean JSON
and how many were named refusals. Then two servers that reject
``response_format: json_schema`` with HTTP 400: with the fallback (the stage
goes on in json_object) and without (the stage stops, permanent, exit 30),
each timed through the same command with the repository's luigi.cfg (Luigi's
retries two minutes apart).

    .venv/bin/python bench/bench_teacher_shapes.py [--sample 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
LUIGI = str(Path(sys.executable).with_name("luigi"))

from bench_teacher import luigi as run_luigi  # noqa: E402

from fitsense_luigi.contracts.splits import SPLITS  # noqa: E402
from tests.support.answer_shapes import REALISTIC_MIX, REFUSALS  # noqa: E402
from tests.support.realistic_teacher import RealisticTeacher  # noqa: E402

RUN = "2026-03-02"


def params_file(workdir: Path, url: str, **teacher: object) -> Path:
    params = yaml.safe_load((REPO / "config" / "params.yaml").read_text())
    params["teacher"].update(provider="openai_compatible", base_url=url, model="realistic-teacher", concurrency=16)
    params["teacher"].update(teacher)
    path = workdir / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def luigi(task: str, data: Path, params: Path) -> tuple[int, float, str]:
    return run_luigi(task, RUN, data, params)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def kept_share(sample: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-shapes-") as tmp, RealisticTeacher(REALISTIC_MIX) as teacher:
        workdir = Path(tmp)
        data = workdir / "data"
        code, seconds, err = luigi("BiasSlicing", data, params_file(workdir, teacher.url))
        queries = rows(data / "raw" / "synthetic_queries" / RUN / "queries.jsonl")
        shapes = {q["query_id"]: teacher.shape_of(q) for q in queries}
        out = data / "raw" / "distillation_dataset" / RUN
        # the kept records: the split files together (each record is stored once, in its split's file)
        records = {r["metadata"]["query_id"]: r for split in SPLITS for r in rows(out / f"{split}.jsonl")}
        rejected = {r["query_id"]: r for r in rows(out / "rejected.jsonl")}
        print(f"BiasSlicing against the realistic teacher: exit {code}, {seconds:.1f} s, {len(queries)} queries")
        if code:
            print(err[-2000:])
        print(f"{'shape':>18} {'answers':>8} {'in dataset':>10} {'refused':>8} {'other rejections':<30}")
        answers, kept, refused = Counter(shapes.values()), Counter(), Counter()
        others: dict[str, Counter] = {}
        for query_id, shape in shapes.items():
            if query_id in records:
                kept[shape] += 1
            elif rejected[query_id]["reason"] == "refused":
                refused[shape] += 1
            else:
                others.setdefault(shape, Counter())[rejected[query_id]["reason"]] += 1
        for shape in REALISTIC_MIX:
            if answers[shape]:
                rest = ", ".join(f"{n} {r}" for r, n in (others.get(shape) or {}).items())
                print(f"{shape:>18} {answers[shape]:>8} {kept[shape]:>10} {refused[shape]:>8} {rest:<30}")
        salvageable = [q for q, s in shapes.items() if s not in REFUSALS]
        reached = sum(q in records for q in salvageable)
        refusals = [q for q, s in shapes.items() if s in REFUSALS]
        named = sum(rejected.get(q, {}).get("reason") == "refused" for q in refusals)
        print(
            f"salvageable answers in the dataset: {reached}/{len(salvageable)} ({reached / len(salvageable):.1%}); "
            f"refusals named as refusals: {named}/{len(refusals)}"
        )
        summary = json.loads((data / "raw" / "teacher_outputs" / RUN / "summary.json").read_text())
        print("teacher summary:", json.dumps({k: summary[k] for k in ("answers", "extraction", "reasks")}))
        gate = json.loads((data / "reports" / RUN / "quality_gate.json").read_text())
        print("quality gate:", json.dumps({k: gate.get(k) for k in ("passed", "reasons", "notes")}))
        for record in list(rows(out / "train.jsonl"))[:sample]:
            shape = shapes[record["metadata"]["query_id"]]
            print(f"--- a train.jsonl record (answered as {shape}); assistant turn:")
            print(record["messages"][2]["content"][:700] + " ...")


def rejecting_server() -> None:
    for fallback in (True, False):
        with (
            tempfile.TemporaryDirectory(prefix="bench-reject-") as tmp,
            RealisticTeacher({"clean": 1.0}, reject_json_schema=True) as teacher,
        ):
            workdir = Path(tmp)
            data = workdir / "data"
            params = params_file(workdir, teacher.url, response_format_fallback=fallback)
            code, _, err = luigi("GenerateQueries", data, params)
            assert code == 0, err[-2000:]
            code, seconds, err = luigi("CallTeacher", data, params)
            last = [ln for ln in err.splitlines() if "response_format" in ln][-1:]
            print(
                f"server rejecting json_schema, response_format_fallback={str(fallback).lower()}: CallTeacher exit "
                f"{code} in {seconds:.1f} s; requests by format {dict(teacher.formats)}"
            )
            for line in last:
                print("   ", line[line.find(" ", 25) + 1 :][:400])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=2, help="train.jsonl records to print")
    args = parser.parse_args()
    kept_share(args.sample)
    rejecting_server()


if __name__ == "__main__":
    main()
