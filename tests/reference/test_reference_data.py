"""Reference data files: validated on load with one line naming file, line and field; every entry sourced."""

from __future__ import annotations

from importlib import resources

import pytest

from fitsense_luigi.errors import ReferenceDataError
from fitsense_luigi.reference import catalogue, conditions, constraints, equipment, goals, medications
from fitsense_luigi.reference.loading import Column, items, number, one_of, parse_table, text
from fitsense_luigi.reference.tags import ALL_TAGS

COLUMNS = (
    Column("name", text),
    Column("impact", one_of(("low", "moderate", "high"))),
    Column("tags", items(ALL_TAGS)),
    Column("strength_ratio", number(0.0, 5.0)),
)
GOOD = "# a comment line\nname,impact,tags,strength_ratio\nBox Jump,high,high_impact,0.0\n"


def test_a_good_file_parses_with_lists_and_numbers():
    assert parse_table("x.csv", GOOD, COLUMNS) == [
        {"name": "Box Jump", "impact": "high", "tags": ("high_impact",), "strength_ratio": 0.0}
    ]


def test_every_bad_field_is_named_at_once_with_file_line_and_entry():
    bad = GOOD + "Push-Up,hgh,,0.0\nPlank,low,high_impact|shiny,7\nBox Jump,low,,0.0\n"
    with pytest.raises(ReferenceDataError) as caught:
        parse_table("exercises.csv", bad, COLUMNS)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("reference data reference/data/exercises.csv: ")
    # line numbers count the comment line: they are the lines an editor shows
    assert "line 4 (Push-Up) field impact: 'hgh' is not one of low, moderate, high" in message
    assert "line 5 (Plank) field tags: 'shiny' is not one of" in message
    assert "line 5 (Plank) field strength_ratio: '7' is outside [0, 5]" in message
    assert "line 6 (Box Jump) field name: also on line 3" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("name,impact,tags\nBox Jump,high,\n", "the header is ['name', 'impact', 'tags'], expected"),
        (GOOD + "Burpee,high\n", "line 4 (Burpee): 2 fields, expected 4"),
        (GOOD + " Burpee,high,,0\n", "line 4 ( Burpee) field name: ' Burpee' has leading or trailing spaces"),
        (GOOD + "Burpee,high,high_impact|high_impact,0\n", "field tags: 'high_impact|high_impact' lists an item twice"),
        (GOOD + "Burpee,high,,heavy\n", "field strength_ratio: 'heavy' is not a number"),
        ("name,impact,tags,strength_ratio\n", "no entries"),
    ],
)
def test_malformed_files_fail_with_one_line(content: str, expected: str):
    with pytest.raises(ReferenceDataError, match=r"^reference data reference/data/x\.csv: ") as caught:
        parse_table("x.csv", content, COLUMNS)
    assert expected in str(caught.value)


def test_every_entry_of_every_file_has_a_source():
    for module, keys in (
        (goals, goals.GOALS),
        (equipment, equipment.EQUIPMENT),
        (catalogue, catalogue.EXERCISES_BY_NAME),
        (conditions, conditions.CONDITIONS),
        (constraints, constraints.SAFETY_CONSTRAINTS),
        (medications, medications.MEDICATIONS_BY_NAME),
    ):
        assert list(module.SOURCES) == list(keys), module.__name__
        assert all(source.strip() for source in module.SOURCES.values()), module.__name__


def test_the_data_files_ship_inside_the_package():
    shipped = {f.name for f in resources.files("fitsense_luigi.reference").joinpath("data").iterdir()}
    assert {
        "goals.csv",
        "equipment.csv",
        "exercises.csv",
        "conditions.csv",
        "safety_constraints.csv",
        "medications.csv",
    } <= shipped


def test_the_bench_press_ratio_sits_in_the_cooper_institute_fair_band():
    # Cooper Institute, bench press / body weight, men 20-29, "fair": 0.99-1.13 (shared/reference/realism.md)
    assert 0.99 <= catalogue.EXERCISES_BY_NAME["Barbell Bench Press"].strength_ratio <= 1.13


def test_published_safety_rules_are_encoded():
    # shared/reference/realism.md, "Safety rules that plans must respect"
    assert {"metoprolol succinate"} == medications.BETA_BLOCKERS  # metoprolol is the beta-blocker we carry
    assert "heart_rate_zone_prescription" in medications.MEDICATIONS_BY_NAME["metoprolol succinate"].avoids
    assert "high_impact" in conditions.CONDITION_AVOIDS["knee_osteoarthritis"]  # Bennell 2011; ACR/OARSI 2019
    assert "maximal_valsalva" in conditions.CONDITION_AVOIDS["hypertension"]  # AHA 2007
    for drug in ("glipizide", "insulin glargine"):  # ADA 2016: insulin and sulfonylureas
        assert "hypoglycaemia_watch" in medications.MEDICATIONS_BY_NAME[drug].constraints
    # plyometrics are high impact (NSCA) and timed holds are prescribed as time (ACSM)
    assert all("high_impact" in catalogue.EXERCISES_BY_NAME[n].tags for n in ("Box Jump", "Jump Squat", "Burpee"))
    assert all(catalogue.EXERCISES_BY_NAME[n].timed for n in ("Plank", "Side Plank", "Wall Sit"))
