"""``python -m fitsense_luigi.pipeline.batch_files export|import --run-id R FILE``: offline teacher batch files.

``export`` writes the run's pending teacher requests (what the next batch
round would submit) as Batch API input lines, for ``vllm run-batch`` on a GPU
host or any runner of the format; ``import`` reads the results file it wrote
and puts every answer into the run's teacher cache (see
:mod:`fitsense_luigi.teacher.batch.files`). Both use the run's params and data
root exactly as the ``luigi`` command does (``FITSENSE_PARAMS``,
``FITSENSE_DATA_ROOT``), and need the run's queries (``GenerateQueries``).
Afterwards ``luigi --module fitsense_luigi CallTeacher --run-id R`` builds
the responses from the cache. Bad input exits 2 with one line; nothing partial
is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fitsense_luigi.contracts import files, stages
from fitsense_luigi.contracts.rows import Query
from fitsense_luigi.errors import FitSenseError, MalformedInputError
from fitsense_luigi.pipeline.runs import RunContext, open_run
from fitsense_luigi.teacher.batch import files as batch_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fitsense_luigi.pipeline.batch_files",
        description="Export a run's pending teacher requests as batch JSONL, or import a batch results file.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    out = commands.add_parser("export", help="write the pending requests (Batch API input lines)")
    out.add_argument("--run-id", required=True)
    out.add_argument("requests", type=Path, help="the JSONL file to write (replaced whole)")
    back = commands.add_parser("import", help="put the answers of results files into the teacher cache")
    back.add_argument("--run-id", required=True)
    back.add_argument("results", type=Path, nargs="+", help="JSONL files of result lines (vllm run-batch -o ...)")
    args = parser.parse_args(argv)
    try:
        return _export(args.run_id, args.requests) if args.command == "export" else _import(args.run_id, args.results)
    except FitSenseError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


def _queries(run_id: str) -> tuple[RunContext, list[Query]]:
    ctx = open_run(run_id)
    if not ctx.store.is_complete(stages.QUERIES):
        raise MalformedInputError(
            f"run {run_id} has no queries yet: build them first "
            f"(luigi --module fitsense_luigi GenerateQueries --run-id {run_id} --local-scheduler)"
        )
    return ctx, ctx.store.read_jsonl(files.QUERIES)


def _export(run_id: str, path: Path) -> int:
    ctx, queries = _queries(run_id)
    data, lines = batch_files.export(ctx.config, queries, ctx.store.root.scoped(files.TEACHER_CACHE), run_id)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    print(f"{path}: {lines} requests of run {run_id} ({len(data)} bytes); model {ctx.config.teacher.model}")
    return 0


def _import(run_id: str, paths: list[Path]) -> int:
    ctx, queries = _queries(run_id)
    root = ctx.store.root.scoped(files.TEACHER_CACHE)
    done = batch_files.import_results(ctx.config, queries, root, run_id, paths)
    errors = ", ".join(f"{n} {reason}" for reason, n in sorted(done.errors.items()))
    print(
        f"imported {done.answers} answers into the teacher cache of run {run_id}"
        + (f"; {done.not_answers} lines without an answer ({errors})" if done.not_answers else "")
        + (f"; {done.already} answered already" if done.already else "")
        + (
            f"; {done.still_pending} requests still pending (re-asks included): export again"
            if done.still_pending
            else "; nothing pending: build the responses (luigi --module fitsense_luigi CallTeacher ...)"
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
