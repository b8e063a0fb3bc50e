"""Score a student endpoint on the test split's prompts with the teacher's own post-checks.

The student gets exactly the prompt a record trains on (``messages`` without
the answer: the short student system prompt and the student's user turn), as
the app will send it. Its answer goes through the same checks as every
teacher answer did (:func:`fitsense_luigi.teacher.checks.judge`: JSON
extraction, safe repairs, the plan schema and its rules, contraindications,
the expected safety constraints), and so does the teacher's answer on the same
prompt, so both columns of the report are measured by one ruler. The client is
the teacher's (:class:`~fitsense_luigi.teacher.openai_compat.OpenAICompatible`
with ``evaluation.base_url``), or the offline mock coach, which reads the
student form of the prompt and so stands in for a student.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fitsense_luigi.config import Config
from fitsense_luigi.contracts.progress import Progress
from fitsense_luigi.contracts.rows import DistillationRecord
from fitsense_luigi.teacher.checks import Judgement, judge
from fitsense_luigi.teacher.types import Provider, TeacherOutcome, TeacherRequest

SIDES = ("student", "teacher")
RATES = ("answered", "parsed", "schema_valid", "valid", "safe", "constraints_addressed", "refused")


def make_student(config: Config) -> Provider:
    """The student endpoint of ``evaluation:`` (timeouts and retries as the teacher's)."""
    ev = config.evaluation
    if ev.provider == "mock":
        from fitsense_luigi.teacher.mock import MockCoach

        return MockCoach(ev.model, seed=config.reproducibility.seed)
    from fitsense_luigi.teacher.stage import http_client

    return http_client(config, ev.base_url or "", ev.api_key_env)


def request_for(config: Config, record: DistillationRecord) -> TeacherRequest:
    """The student's request: the record's prompt turns, greedy-ish decoding from ``evaluation:``."""
    ev = config.evaluation
    prompt = [dict(m) for m in record["messages"][:-1]]
    return TeacherRequest(prompt, ev.model, ev.temperature, 1.0, ev.max_tokens, config.reproducibility.seed)


def rule_of(flag: str) -> str:
    """The rule a safety flag breaks: flags read ``<rule_id>:<detail>`` (``low_impact_knee:box_jump``), and the
    student is scored per rule, not per exercise, so that two answers breaking one rule count together."""
    return flag.partition(":")[0]


@dataclass
class Scored:
    """One side's answer to one prompt, as the checks saw it."""

    status: str
    verdict: Judgement

    def row(self, expected: list[str]) -> dict[str, Any]:
        v = self.verdict.validation
        return {
            "status": self.status,
            "parsed": bool(v["parsed"]),
            "schema_valid": bool(v["schema_valid"]),
            "valid": bool(v["valid"]),
            "refused": self.verdict.refused,
            "safety_flags": list(self.verdict.flags),
            "constraints_expected": len(expected),
            "constraints_addressed": len(v["constraints_addressed"]),
            "constraints_missing": list(v["constraints_missing"]),
            "schema_errors": list(v["schema_errors"])[:3],
        }


def score_record(record: DistillationRecord, student: TeacherOutcome) -> dict[str, Any]:
    """The student's and the teacher's answers to one test prompt, judged alike."""
    context = record["context"]
    summary, expected = dict(context["context_summary"]), list(context["expected_safety_constraints"])
    sides = {
        "student": Scored(student.status, judge(student.content, summary, expected)),
        "teacher": Scored("ok", judge(record["response"], summary, expected)),
    }
    ours, theirs = (sides[s].verdict.normalized_text for s in SIDES)
    return {
        "record_id": record["record_id"],
        "prompt_type": context["prompt_type"],
        **{side: scored.row(expected) for side, scored in sides.items()},
        "student_error": student.error,
        "identical_to_teacher": bool(ours) and ours == theirs,
        "exercise_overlap": exercise_overlap(ours, theirs),
    }


def exercise_overlap(student_plan: str, teacher_plan: str) -> float | None:
    """Jaccard of the exercise names the two plans prescribe (None when the student's is no valid plan)."""
    if not student_plan or not teacher_plan:
        return None
    a, b = exercise_names(student_plan), exercise_names(teacher_plan)
    return round(len(a & b) / len(a | b), 4) if a | b else 1.0


def exercise_names(plan_text: str) -> set[str]:
    plan = json.loads(plan_text)
    return {e.get("name", "") for day in plan.get("days") or [] for e in day.get("exercises") or []}


def evaluate(
    config: Config,
    records: list[DistillationRecord],
    student: Provider,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Ask the student every test prompt (``evaluation.concurrency`` at a time) and score both sides."""
    report = progress or (lambda done, total, message: None)
    outcomes: list[TeacherOutcome | None] = [None] * len(records)

    def ask(i: int) -> None:
        outcomes[i] = student.complete(request_for(config, records[i]))

    with ThreadPoolExecutor(max_workers=max(1, config.evaluation.concurrency)) as pool:
        for done, _ in enumerate(pool.map(ask, range(len(records))), start=1):
            report(done, len(records), f"evaluation: {done}/{len(records)} answers")
    rows = [score_record(r, o) for r, o in zip(records, outcomes, strict=True) if o is not None]
    overlaps = [row["exercise_overlap"] for row in rows if row["exercise_overlap"] is not None]
    return {
        "student": {"provider": config.evaluation.provider, "model": config.evaluation.model},
        "prompts": len(rows),
        "agreement": {  # how close the student's plans are to the teacher's on the same prompt
            "identical_to_teacher": round(sum(r["identical_to_teacher"] for r in rows) / len(rows), 4) if rows else 0.0,
            "mean_exercise_overlap": round(sum(overlaps) / len(overlaps), 4) if overlaps else None,
        },
        "summary": {side: summarise(row[side] for row in rows) for side in SIDES},
        "by_prompt_type": {
            kind: {side: summarise(row[side] for row in rows if row["prompt_type"] == kind) for side in SIDES}
            for kind in sorted({row["prompt_type"] for row in rows})
        },
        "records": rows,
    }


def summarise(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Rates over one side's answers; ``constraints_addressed`` is over the constraints, not the answers."""
    rows = list(rows)
    n = len(rows)
    flags = Counter(rule_of(f) for row in rows for f in row["safety_flags"])
    expected = sum(row["constraints_expected"] for row in rows)

    def rate(test: Callable[[Mapping[str, Any]], bool]) -> float:
        return round(sum(map(test, rows)) / n, 4) if n else 0.0

    return {
        "answers": n,
        "answered": rate(lambda r: r["status"] == "ok"),
        "parsed": rate(lambda r: r["parsed"]),
        "schema_valid": rate(lambda r: r["schema_valid"]),
        "valid": rate(lambda r: r["valid"]),
        "safe": rate(lambda r: r["valid"] and not r["safety_flags"]),
        "refused": rate(lambda r: r["refused"]),
        "constraints_addressed": (
            round(sum(r["constraints_addressed"] for r in rows) / expected, 4) if expected else 1.0
        ),
        "safety_flags_by_rule": dict(sorted(flags.items())),
    }
