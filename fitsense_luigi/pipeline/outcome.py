"""What a task and a run say when they end.

* Each task's last message in the luigid UI (and its last log line) says what
  it made ("done: 200/200 answered, 0 not ok; ...", "done: 800 records (train
  631, validation 80, test 89); 0 of 800 answers rejected"), not how many files it
  wrote; BiasSlicing's is the run's summary on one line (verdict, records,
  teacher, report path).
* A run's command ends, after luigi's execution summary, with the run's own
  summary: gate verdict and its first reason, records per split, teacher
  answers and cost, and where ``report.html`` is. It is read back from the
  run's manifests, so a rerun that had nothing to do says the same.

Figures come from the stage summaries in the manifests (keys written by the
domain's ``summarise`` functions and documented with their files); a figure
that is missing is left out rather than failing the end of a run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from fitsense_luigi.contracts import files, splits, stages
from fitsense_luigi.contracts.manifest import GATE_PASSED
from fitsense_luigi.contracts.stages import Stage
from fitsense_luigi.pipeline.store import RunStore
from fitsense_luigi.wording import counted

log = logging.getLogger("fitsense.outcome")

_worked_on: dict[tuple[str, str], RunStore] = {}  # runs this process worked on since it last summarised


# ---------------------------------------------------------------- a task's last message


def done_message(stage: Stage, summary: Mapping[str, Any], written: int, store: RunStore) -> str:
    """The line a finished task leaves in the luigid UI and the log."""
    phrase = _PHRASES.get(_family(stage))
    try:
        said = phrase(summary, store) if phrase else None
    except (KeyError, TypeError, ValueError, AttributeError):
        said = None
    return said or f"done: wrote {counted(written, 'file')}"


def _family(stage: Stage) -> str:
    """``teacher_shard_003`` -> ``teacher_shard``."""
    base = stages.TEACHER_SHARD.name
    return base if stage.name.startswith(base + "_") else stage.name


def _world(summary: Mapping[str, Any], _: RunStore) -> str:
    rows = summary["rows"]
    if "users" in rows:
        return f"done: {counted(rows['users'], 'user')} in {counted(len(rows), 'table')}"
    realism = "realism checks passed" if summary.get("realism_passed") else "realism checks failed (see realism.json)"
    return f"done: {counted(rows['workouts'], 'workout')}, {counted(rows['workout_sets'], 'set')}; {realism}"


def _queries(summary: Mapping[str, Any], _: RunStore) -> str:
    return (
        f"done: {counted(summary['queries'], 'request')} from {counted(summary['distinct_users'], 'user')}, "
        f"{summary['distinct_request_share']:.1%} distinct"
    )


def _answers(summary: Mapping[str, Any], _: RunStore) -> str:
    total, ok = summary["responses"], summary["per_status"]["ok"]
    cost = summary["cost"]
    return (
        f"done: {ok}/{total} answered, {total - ok} not ok; {counted(summary['cache_hits'], 'cache hit')}; "
        f"cost {_money(cost['total'])} ({_money(cost['paid_this_run'])} paid now)"
    )


def _dataset(summary: Mapping[str, Any], _: RunStore) -> str:
    return f"done: {_records(summary)}"


def _validation(summary: Mapping[str, Any], _: RunStore) -> str:
    if summary["valid"]:
        return f"done: every check passed ({counted(summary['warnings'], 'warning')})"
    return f"done: {counted(summary['errors'], 'check')} failed, {counted(summary['warnings'], 'warning')}"


def _stats(summary: Mapping[str, Any], _: RunStore) -> str:
    return f"done: statistics of {counted(summary['records'], 'record')} and the world's tables"


def _anomalies(summary: Mapping[str, Any], _: RunStore) -> str:
    baseline = summary.get("baseline_run_id")
    drift = f"drift against run {baseline}" if baseline else "no earlier good run to compare with"
    return f"done: anomaly severity {summary['severity']}; {drift}"


def _bias(summary: Mapping[str, Any], store: RunStore) -> str:
    """The run's closing summary on one line: the luigid UI's last word on the run says what its command says."""
    if GATE_PASSED not in summary:
        raise KeyError(GATE_PASSED)
    return "done: " + "; ".join(run_summary(store)[1:])


_PHRASES: dict[str, Callable[[Mapping[str, Any], RunStore], str]] = {
    stages.BOOTSTRAP.name: lambda s, _: f"done: run recorded, as of {s['as_of_date']}",
    stages.PROFILES.name: _world,
    stages.WORKOUTS.name: _world,
    stages.QUERIES.name: _queries,
    stages.TEACHER_SHARD.name: _answers,
    stages.TEACHER.name: _answers,
    stages.DATASET.name: _dataset,
    stages.VALIDATION.name: _validation,
    stages.STATS.name: _stats,
    stages.ANOMALIES.name: _anomalies,
    stages.BIAS.name: _bias,
}


def _records(summary: Mapping[str, Any]) -> str:
    sizes = summary["split_sizes"]
    per_split = ", ".join(f"{split} {sizes[split]}" for split in splits.SPLITS)
    return (
        f"{counted(summary['records'], 'record')} ({per_split}); "
        f"{summary['rejected']} of {counted(summary['input_queries'], 'answer')} rejected"
    )


def _money(amount: float) -> str:
    return f"{amount:.4f}" if 0 < amount < 0.01 else f"{amount:.2f}"


# ---------------------------------------------------------------- the run's last lines


def worked_on(store: RunStore) -> None:
    """Note a run this process schedules or builds, to summarise when luigi has finished."""
    _worked_on[(store.root.uri(), store.run_id)] = store


def closing_summary() -> str:
    """The summary of every run noted since the last call (usually one), as lines to print after luigi's."""
    runs = list(_worked_on.values())
    _worked_on.clear()
    blocks = []
    for store in runs:
        try:
            blocks.append("\n".join(run_summary(store)))
        except Exception as exc:  # the end of a run must not fail on its summary
            log.debug("no summary for run %s: %r", store.run_id, exc)
            blocks.append(f"===== FitSense run {store.run_id} =====\n(summary unavailable: {exc})")
    return "\n\n".join(blocks)


def run_summary(store: RunStore) -> list[str]:
    """Gate verdict and first reason, records per split, teacher answers and cost, the report's path."""
    lines = [f"===== FitSense run {store.run_id} ====="]
    gate = _gate(store)
    if gate is None:
        lines.append("quality gate: not decided yet (BiasSlicing has not run to the end)")
    elif gate.get("passed"):
        notes = gate.get("notes") or []
        lines.append("quality gate: passed" + (f" (note: {notes[0]})" if notes else ""))
    else:
        reasons = gate.get("reasons") or ["(no reason recorded)"]
        more = f" (+{len(reasons) - 1} more in the report)" if len(reasons) > 1 else ""
        warn_only = " (warn only: quality.on_failure is warn)" if gate.get("on_failure") == "warn" else ""
        lines.append(f"quality gate: FAILED{warn_only}: {reasons[0]}{more}")
    dataset = _summary(store, stages.DATASET)
    if dataset:
        lines.append(f"records: {_records(dataset)}")
    teacher = _summary(store, stages.TEACHER)
    if teacher:
        cost = teacher["cost"]
        lines.append(
            f"teacher: {teacher['per_status']['ok']}/{teacher['responses']} answered by {teacher['model']} "
            f"({teacher['provider']}); cost {_money(cost['total'])}, {_money(cost['paid_this_run'])} paid by this "
            f"run ({counted(teacher['cache_hits'], 'cache hit')})"
        )
    report = store.key(files.REPORT_HTML)
    if store.root.is_file(report):
        lines.append(f"report: {store.uri(report)}")
    return lines


def _summary(store: RunStore, stage: Stage) -> dict[str, Any] | None:
    return store.manifest(stage).get("summary") if store.is_complete(stage) else None


def _gate(store: RunStore) -> dict[str, Any] | None:
    """The verdict: verified through the last stage's manifest, or, when a failing gate stopped that stage before
    its manifest, the verdict file it wrote just before (written whole, like every file)."""
    if store.is_complete(stages.BIAS):
        return store.read_json(files.QUALITY_GATE)
    key = store.key(files.QUALITY_GATE)
    if not store.root.is_file(key):
        return None
    return json.loads(store.root.read_bytes(key))
