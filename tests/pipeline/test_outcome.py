"""The end of a run, as its user reads it: each task's last line says what it made, and the command's last lines
name the gate's verdict, the records per split, the teacher's answers and cost, and where report.html is.

Every figure is checked against the run's files (rows counted in the split and response files, the verdict in
quality_gate.json), not against the summaries the message is made from.
"""

from __future__ import annotations

import re

from fitsense_luigi.contracts import files, splits, stages
from tests.support.harness import BuiltRun, run_luigi
from tests.support.layout import RunFiles
from tests.support.params import SMALL_QUERIES

BANNER = "===== Luigi Execution Summary ====="


def closing_lines(output: str) -> list[str]:
    """What the command says after luigi's execution summary."""
    tail = output.rsplit(BANNER, 1)[1]
    return [line for line in tail.splitlines() if line.strip()]


def expected_summary(run: RunFiles) -> list[str]:
    gate = run.document(files.QUALITY_GATE)
    sizes = {split: len(run.rows(files.records(split))) for split in splits.SPLITS}
    kept, rejected = sum(sizes.values()), len(run.rows(files.REJECTED))
    answers = run.rows(files.RESPONSES)
    ok = sum(1 for r in answers if r["status"] == "ok")
    assert gate["passed"] is True
    return [
        f"===== FitSense run {run.run_id} =====",
        "quality gate: passed",
        f"records: {kept} records (train {sizes['train']}, validation {sizes['validation']}, test {sizes['test']}); "
        f"{rejected} of {kept + rejected} answers rejected",
        f"teacher: {ok}/{len(answers)} answered by {answers[0]['model_name']} (mock); cost 0.00, 0.00 paid by this "
        "run (0 cache hits)",
        f"report: {run.path(files.REPORT_HTML)}",
    ]


def test_a_finished_run_names_its_verdict_records_cost_and_report_in_its_last_lines(built_run: BuiltRun) -> None:
    run = built_run.files
    assert closing_lines(built_run.result.output) == expected_summary(run)
    assert run.path(files.REPORT_HTML).is_file()


def test_a_rerun_with_nothing_to_do_ends_with_the_same_summary(built_run: BuiltRun) -> None:
    again = run_luigi("BiasSlicing", built_run.run_id, built_run.data_root, built_run.params)
    assert again.returncode == 0 and "Did not run any tasks" in again.output
    assert closing_lines(again.output) == expected_summary(built_run.files)


def test_luigi_lists_every_task_family_it_ran(built_run: BuiltRun) -> None:
    summary = built_run.result.output.split(BANNER)[1]
    assert "    ..." not in summary  # luigi cuts its list at five by default
    for family in ("Bootstrap", "TeacherShard", "BuildDistillationDataset", "BiasSlicing"):
        assert f" {family}(" in summary, family


def test_each_task_says_what_it_made_not_how_many_files(built_run: BuiltRun) -> None:
    run = built_run.files
    done = dict(re.findall(r"fitsense\.tasks\[\d+\]: (\w+): (done: .*)", built_run.result.output))
    shards = re.findall(r"TeacherShard: done: (\d+)/(\d+) answered, 0 not ok", built_run.result.output)
    per_shard = [
        len(run.rows(run.directory(stages.TEACHER_SHARD.sharded(k)) / files.SHARD_RESPONSES.name))
        for k in range(len(shards))
    ]
    assert sorted(int(total) for _, total in shards) == sorted(per_shard) and sum(per_shard) == SMALL_QUERIES
    assert all(answered == total for answered, total in shards)
    sizes = {split: len(run.rows(files.records(split))) for split in splits.SPLITS}
    assert done["BuildDistillationDataset"].startswith(
        f"done: {sum(sizes.values())} records "
        f"(train {sizes['train']}, validation {sizes['validation']}, test {sizes['test']})"
    )
    # the last task's line (and luigid's last message) is the run's summary on one line
    assert done["BiasSlicing"] == "done: " + "; ".join(expected_summary(run)[1:])
    assert " files" not in built_run.result.output and "wrote " not in built_run.result.output
