"""Extraction, repairs and refusal recognition on answers shaped like real models' (teacher_api.md)."""

from __future__ import annotations

import json

import pytest

from fitsense_luigi.config import load_schema
from fitsense_luigi.teacher.extract import extract, outermost_object
from fitsense_luigi.teacher.refusal import looks_like_refusal
from fitsense_luigi.teacher.repair import normalise, parse_with_repairs, remove_trailing_commas

OBJ = '{"a": 1, "b": "x}y", "c": {"d": [1, 2]}}'


@pytest.mark.parametrize(
    ("content", "extracted", "reasoning"),
    [
        (OBJ, "as_is", None),
        (f"```json\n{OBJ}\n```", "fenced", None),
        (f"```\n{OBJ}\n```", "fenced", None),
        (f"Here is your plan:\n\n{OBJ}\n\nLet me know {{if}} you want changes!", "object", None),
        (f"<think>\nThe user {{wants}} a plan.\n</think>\n\n{OBJ}", "as_is", "inline_think"),
        (f"<think>Check the gear.</think>\nSure! Here:\n```json\n{OBJ}\n```\nEnjoy!", "fenced", "inline_think"),
        (f"<think>unclosed reasoning that runs into the answer {OBJ}", "as_is", "inline_think"),
        (f"reasoning whose opening tag the server ate</think>\n{OBJ}", "as_is", "inline_think"),
    ],
    ids=["bare", "json-fence", "plain-fence", "preamble-and-commentary", "think", "think-then-fence", "unclosed-think",
         "stray-close"],
)  # fmt: skip
def test_the_object_is_found_whatever_surrounds_it(content, extracted, reasoning):
    found = extract(content)
    assert json.loads(found.text) == json.loads(OBJ)
    assert (found.extracted, found.reasoning) == (extracted, reasoning)


def test_no_object_means_nothing_extracted():
    found = extract("I'm sorry, I can't help with that.")
    assert found.text is None and found.extracted is None and found.prose.startswith("I'm sorry")


def test_braces_inside_strings_do_not_end_the_object():
    assert outermost_object('x {"note": "use } carefully", "n": 2} trailing } brace') == (
        '{"note": "use } carefully", "n": 2}'
    )


def test_trailing_commas_go_but_commas_in_strings_stay():
    text = '{"a": [1, 2, ], "b": "x, ]", "c": {"d": 1,\n },\n}'
    assert json.loads(remove_trailing_commas(text)) == {"a": [1, 2], "b": "x, ]", "c": {"d": 1}}
    plan, repairs = parse_with_repairs(text)
    assert repairs == ["trailing_comma"] and plan["b"] == "x, ]"
    with pytest.raises(json.JSONDecodeError):
        parse_with_repairs('{"a": 1 "b": 2}')  # a missing comma is not a safe repair


def _plan(**exercise):
    item = {"name": "Plank", "sets": 3, "reps": None, "seconds": 30, "rir": None, "rest_seconds": 60,
            "load_kg": None, "notes": ""} | exercise  # fmt: skip
    return {"answer": "a", "summary": "s", "days_per_week": 1, "days": [{"day": "Monday", "focus": "f",
            "exercises": [item]}], "progression": "p", "safety_notes": [], "explanation": "e"}  # fmt: skip


@pytest.mark.parametrize(
    ("given", "wanted", "repair"),
    [
        ({"sets": "3"}, {"sets": 3}, "number_from_string"),
        ({"sets": 3.0}, {"sets": 3}, "integer_from_float"),
        ({"seconds": "30 s"}, {"seconds": 30}, "number_from_string"),
        ({"reps": "8 - 12", "seconds": None}, {"reps": "8-12", "seconds": None}, "range"),
        ({"reps": "8–12", "seconds": None}, {"reps": "8-12", "seconds": None}, "range"),
        ({"reps": "8 to 12", "seconds": None}, {"reps": "8-12", "seconds": None}, "range"),
        ({"reps": "5-5", "seconds": None}, {"reps": 5, "seconds": None}, "range"),
        ({"reps": "10", "seconds": None}, {"reps": 10, "seconds": None}, "number_from_string"),
        ({"load_kg": "62.5"}, {"load_kg": 62.5}, "number_from_string"),
        ({"load_kg": "60 kg"}, {"load_kg": 60}, "number_from_string"),
        ({"tempo": "3-1-1"}, {}, "dropped_key"),
    ],
)
def test_values_the_schema_reads_one_way_only_are_repaired(given, wanted, repair):
    fixed, repairs = normalise(_plan(**given), load_schema("plan_response.schema.json"))
    item = fixed["days"][0]["exercises"][0]
    assert {k: item[k] for k in wanted} == wanted and "tempo" not in item
    assert [r.split(":")[0] for r in repairs] == [repair]
    assert repairs[0].split(":")[1].startswith("days/0/exercises/0")


@pytest.mark.parametrize("value", ["12-8", "lots", "8-12 or so", "ten"])
def test_what_cannot_be_read_one_way_is_left_for_the_re_ask(value):
    fixed, repairs = normalise(_plan(reps=value, seconds=None), load_schema("plan_response.schema.json"))
    assert fixed["days"][0]["exercises"][0]["reps"] == value and repairs == []


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't provide medical advice. Please consult your doctor before starting.",
        "I apologize, but I'm not able to create a training plan for you given your conditions.",
        "As an AI, I cannot prescribe exercise for people with heart conditions.",
        "Unfortunately, I can't help with that request.",
        "I cannot assist with designing a program without medical clearance.",
        "Please consult a doctor or physiotherapist before you start any training.",
    ],
)
def test_refusals_in_prose_are_recognised(text):
    assert looks_like_refusal(text)


@pytest.mark.parametrize(
    "text",
    [
        "Sure! Here is your plan: squat, rest, repeat.",
        "3-day strength plan: 4 sets of 5 with 2 reps in reserve. Tell me how the first two weeks feel.",
        "",
    ],
)
def test_other_prose_is_not_a_refusal(text):
    assert not looks_like_refusal(text)
