"""Offline batch files: a run's pending requests out as batch JSONL, a results file from elsewhere back in.

For a GPU host of one's own (``vllm run-batch -i requests.jsonl -o
results.jsonl --model M``) or any runner of the same format. The export
holds exactly what the next batch round would submit (:meth:`BatchRun.pending`):
the requests no cache entry answers, re-asks of cached answers that failed
the checks included, one line per distinct request. The import puts every
answer of a results file into the cache under its request's key, so the stage
then builds its rows the online way (extraction, checks, re-asks); run export
and import again while the export still has lines (each round of re-asks is
one more). A results file is checked whole before anything is imported: a line
that is not a result line, or answers a request this run does not ask (its
``custom_id`` binds it to one request body), is named with its file and line,
and nothing is imported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from fitsense_luigi.config import Config
from fitsense_luigi.contracts.dataroot import DataRoot
from fitsense_luigi.contracts.progress import no_progress
from fitsense_luigi.contracts.rows import Query
from fitsense_luigi.errors import MalformedInputError
from fitsense_luigi.teacher.batch import wire
from fitsense_luigi.teacher.batch.rounds import BatchRun, Pending, Share
from fitsense_luigi.teacher.types import FINAL_STATUSES

MAX_PROBLEMS_SHOWN = 3


@dataclass
class Imported:
    answers: int = 0  # answers put into the cache
    not_answers: int = 0  # error lines: their requests stay pending (the next export has them)
    already: int = 0  # lines for requests that were answered already (an import done twice)
    still_pending: int = 0  # requests the next export holds (lines without an answer, and new re-asks)
    errors: dict[str, int] = field(default_factory=dict)


def _run(config: Config, queries: list[Query], cache_root: DataRoot, run_id: str) -> BatchRun:
    return BatchRun(config, cache_root, run_id, no_progress, Share(queries, contextlib.nullcontext, 0.0))


def export(config: Config, queries: list[Query], cache_root: DataRoot, run_id: str) -> tuple[bytes, int]:
    """(the batch input file of every pending request, its number of lines)."""
    run = _run(config, queries, cache_root, run_id)
    pending = run.pending(queries)
    data = b"".join(wire.input_line(p.custom_id, p.request.body()) for p in pending.values())
    return data, len(pending)


def import_results(
    config: Config, queries: list[Query], cache_root: DataRoot, run_id: str, files: Iterable[Path]
) -> Imported:
    """Put every answer of ``files`` into the cache (all or nothing: a bad file imports nothing)."""
    run = _run(config, queries, cache_root, run_id)
    pending: dict[str, Pending] = {p.custom_id: p for p in run.pending(queries).values()}
    asked = {_request_of(p.custom_id): p.custom_id for p in pending.values()}
    known = {q["query_id"] for q in queries}
    results: dict[str, wire.LineResult] = {}
    problems: list[str] = []
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise MalformedInputError(f"{path}: cannot read the results file: {exc}") from None
        for number, text in enumerate(lines, 1):
            if not text.strip():
                continue
            where = f"{path}:{number}"
            try:
                result = wire.read_line(text)
            except wire.MalformedLine as exc:
                problems.append(f"{where}: {exc}")
                continue
            line_id = result.custom_id
            if line_id not in pending:
                request = _request_of(line_id)
                if request is None or request[0] not in known:
                    problems.append(f"{where}: custom_id {line_id!r} is not a request of run {run_id}")
                elif request in asked:  # the same query and attempt, another request body
                    problems.append(
                        f"{where}: custom_id {line_id!r} answers another request than run {run_id} asks now "
                        f"({asked[request]!r}): exported before the config or the response format changed?"
                    )
                else:
                    results.setdefault(line_id, result)  # answered already
                continue
            earlier = results.get(line_id)
            if earlier is None or (earlier.again and not result.again):
                results[line_id] = result
    if problems:
        shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
        more = f" (and {len(problems) - MAX_PROBLEMS_SHOWN} more)" if len(problems) > MAX_PROBLEMS_SHOWN else ""
        raise MalformedInputError(f"{len(problems)} lines cannot be imported, nothing was: {shown}{more}")
    summary = Imported()
    source = ",".join(path.name for path in files)
    for line_id, result in results.items():
        p = pending.get(line_id)
        if p is None:
            summary.already += 1
            continue
        outcome = wire.outcome_of(result, 1)
        if result.again or outcome.status not in FINAL_STATUSES:
            summary.not_answers += 1
            reason = (outcome.error or "error").split(":")[0]
            summary.errors[reason] = summary.errors.get(reason, 0) + 1
            continue
        run.stage.store.put(p.key, outcome, run.stage.about(p.template_version, run_id, batch_id=f"file:{source}"))
        summary.answers += 1
    summary.still_pending = len(run.pending(queries))
    return summary


def _request_of(line_id: str) -> tuple[str, str] | None:
    """(query id, attempt) of a ``custom_id`` made by :func:`wire.custom_id`."""
    parts = line_id.rsplit(".", 2)
    return (parts[0], parts[1]) if len(parts) == 3 else None
