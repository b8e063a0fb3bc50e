"""The student evaluation as one self-contained HTML page (no scripts, no external assets)."""

from __future__ import annotations

from html import escape
from typing import Any

from fitsense_luigi.evaluation.student import RATES, SIDES

LABELS = {
    "answered": "answered (status ok)",
    "parsed": "parse rate (a JSON object found)",
    "schema_valid": "schema valid",
    "valid": "valid plan (schema, rules, constraints)",
    "safe": "valid and no safety flag",
    "constraints_addressed": "expected safety constraints addressed",
    "refused": "refused",
}
FAILED_SHOWN = 25


def _share(value: float | None) -> str:
    return "n/a (no valid student plan)" if value is None else f"{value:.2f}"


def render(run_id: str, report: dict[str, Any]) -> str:
    summary = report["summary"]
    rows = "".join(
        f"<tr><td>{escape(LABELS[k])}</td>"
        + "".join(f"<td>{summary[s][k]:.1%}</td>" for s in SIDES)
        + f"<td>{summary['student'][k] - summary['teacher'][k]:+.1%}</td></tr>"
        for k in RATES
    )
    rules = sorted(set(summary["student"]["safety_flags_by_rule"]) | set(summary["teacher"]["safety_flags_by_rule"]))
    flag_rows = (
        "".join(
            f"<tr><td><code>{escape(r)}</code></td>"
            + "".join(f"<td>{summary[s]['safety_flags_by_rule'].get(r, 0)}</td>" for s in SIDES)
            + "</tr>"
            for r in rules
        )
        or "<tr><td colspan='3'>no safety flag on either side</td></tr>"
    )
    by_type = "".join(
        f"<tr><td>{escape(kind)}</td>"
        + "".join(f"<td>{sides[s]['valid']:.1%} of {sides[s]['answers']}</td>" for s in SIDES)
        + "</tr>"
        for kind, sides in report["by_prompt_type"].items()
    )
    failed = [r for r in report["records"] if not r["student"]["valid"] or r["student"]["safety_flags"]]
    failed_rows = "".join(
        f"<tr><td><code>{escape(r['record_id'][:8])}</code></td><td>{escape(r['prompt_type'])}</td>"
        f"<td>{escape(r['student']['status'])}</td>"
        f"<td>{escape('; '.join(r['student']['schema_errors'] + r['student']['safety_flags']) or '-')}</td>"
        f"<td>{escape(', '.join(r['student']['constraints_missing']) or '-')}</td></tr>"
        for r in failed[:FAILED_SHOWN]
    )
    student = report["student"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Student evaluation, run {escape(run_id)}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}th{{background:#f4f4f4}}</style></head><body>
<h1>Student evaluation, run {escape(run_id)}</h1>
<p>Student <b>{escape(student["model"])}</b> ({escape(student["provider"])}) on the {report["prompts"]} prompts of the
test split (users the student never trained on), against the teacher's answers on the same prompts. Both sides are
judged by the same post-checks as every teacher answer.</p>
<h2>Scores</h2>
<table><tr><th>metric</th><th>student</th><th>teacher</th><th>student - teacher</th></tr>{rows}</table>
<p>Agreement with the teacher: {report["agreement"]["identical_to_teacher"]:.1%} of the student's plans are
identical to the teacher's; mean Jaccard overlap of the prescribed exercises
{_share(report["agreement"]["mean_exercise_overlap"])}.</p>
<h2>Safety flags by rule</h2>
<table><tr><th>rule</th><th>student</th><th>teacher</th></tr>{flag_rows}</table>
<h2>Valid plans by prompt type</h2>
<table><tr><th>prompt type</th><th>student</th><th>teacher</th></tr>{by_type}</table>
<h2>Student answers that failed a check ({len(failed)}, first {FAILED_SHOWN})</h2>
<table><tr><th>record</th><th>prompt type</th><th>status</th><th>errors and flags</th><th>constraints missing</th></tr>
{failed_rows or "<tr><td colspan='5'>none</td></tr>"}</table>
</body></html>
"""
