"""EvaluateStudent as its user runs it: the `luigi` command, the mock coach or a loopback endpoint as the student.

The mock coach reads the student form of a prompt (short system prompt, compact facts, constraint ids), so as a
student it must plan exactly what it planned as the teacher from the full teacher prompt: identical plans show
that the student's prompt carries every fact the coach uses. Over real HTTP, a student that answers every third
prompt with prose instead of JSON must score a parse rate of two thirds against the teacher's 100 %.
"""

from __future__ import annotations

import json

import pytest

from fitsense_luigi.contracts import files, stages
from fitsense_luigi.reference.catalogue import EXERCISES_BY_NAME
from fitsense_luigi.reference.safety import RULES, excluded_by
from fitsense_luigi.teacher.checks import judge
from tests.support.harness import build_run, run_luigi
from tests.support.layout import read_jsonl
from tests.support.params import write_params
from tests.support.teacher import KEY_ENV, TEST_KEY, Call, Reply


@pytest.fixture(scope="module")
def dataset_run(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("evaluated"), task="BuildDistillationDataset")


def evaluate(run, params, name: str = "student", env: dict | None = None) -> dict:
    result = run_luigi("EvaluateStudent", run.run_id, run.data_root, params, "--name", name, env=env)
    assert result.returncode == 0, result.output[-3000:]
    return run.files.document(files.student_evaluation(name))


def test_the_mock_as_student_answers_the_student_form_as_the_teacher_answered_the_teacher_form(dataset_run):
    test_split = read_jsonl(dataset_run.files.path(files.records("test")))
    report = evaluate(dataset_run, dataset_run.params)
    assert report["prompts"] == len(test_split) > 0
    student, teacher = report["summary"]["student"], report["summary"]["teacher"]
    assert student["parsed"] == student["valid"] == teacher["valid"] == 1.0
    assert student["constraints_addressed"] == 1.0 and not student["safety_flags_by_rule"]
    assert report["agreement"] == {"identical_to_teacher": 1.0, "mean_exercise_overlap": 1.0}
    page = dataset_run.files.path(files.student_evaluation_html("student")).read_text()
    assert "Student evaluation" in page and "fitsense-mock-coach-v1" in page
    # the dataset's other stages are untouched and the chain does not know the task
    assert not dataset_run.files.path(files.REPORT_HTML).exists()


def test_a_student_over_http_is_scored_by_the_post_checks(dataset_run, tmp_path, server):
    """A loopback endpoint as the student: a third of its answers prose, one answer with a contraindicated lift."""
    test_split = read_jsonl(dataset_run.files.path(files.records("test")))
    prompts = [r["messages"][1]["content"] for r in test_split]
    prose = set(prompts[::3])
    squat = EXERCISES_BY_NAME["Barbell Back Squat"]
    unsafe = next(r for r in test_split if excluded_by(squat, r["context"]["expected_safety_constraints"]) and r[
        "messages"][1]["content"] not in prose and "Barbell Back Squat" not in r["response"])  # fmt: skip
    unsafe_plan = json.loads(unsafe["response"])
    unsafe_plan["days"][0]["exercises"][0]["name"] = "Barbell Back Squat"
    seen: list[dict] = []

    def script(call: Call) -> Reply:
        seen.append(call.body)
        if call.user_message in prose:
            return Reply(content="Sure! A good week would be three full-body sessions with squats and rows.")
        if call.user_message == unsafe["messages"][1]["content"]:
            return Reply(content=json.dumps(unsafe_plan))
        return Reply()

    endpoint = server(script)
    student_endpoint = {"provider": "openai_compatible", "model": "tiny-student", "base_url": endpoint.url}
    params = write_params(tmp_path / "params.yaml", {"evaluation": {**student_endpoint, "api_key_env": KEY_ENV}})
    report = evaluate(dataset_run, params, name="tiny-student", env={KEY_ENV: TEST_KEY})
    student = report["summary"]["student"]
    assert len(seen) == len(test_split), "one request per test prompt"
    assert all([m["role"] for m in body["messages"]] == ["system", "user"] for body in seen)
    assert {body["model"] for body in seen} == {"tiny-student"}
    assert student["parsed"] == round(1 - len(prose) / len(test_split), 4)
    context = unsafe["context"]
    expected_flags = judge(json.dumps(unsafe_plan), context["context_summary"], context["expected_safety_constraints"])
    assert report["summary"]["teacher"]["valid"] == 1.0
    assert expected_flags.flags, "the squat is ruled out by this user's safety rules"
    assert sum(student["safety_flags_by_rule"].values()) == len(expected_flags.flags)
    assert set(student["safety_flags_by_rule"]) <= set(RULES), "scored per rule id of the rule base, not per exercise"
    assert student["safe"] < student["valid"]
    assert report["student"] == {"provider": "openai_compatible", "model": "tiny-student"}
    assert stages.evaluation("tiny-student").name == "evaluation_tiny-student"


def test_a_bad_student_name_is_one_clear_line(dataset_run):
    result = run_luigi(
        "EvaluateStudent", dataset_run.run_id, dataset_run.data_root, dataset_run.params, "--name", "../x"
    )
    assert result.returncode != 0 and "bad student name '../x'" in result.output
