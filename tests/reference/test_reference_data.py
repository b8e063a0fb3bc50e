"""Reference data files: validated on load with one line naming file, line and field; every entry sourced."""

from __future__ import annotations

from importlib import resources

import pytest

from fitsense_luigi.errors import ReferenceDataError
from fitsense_luigi.reference import catalogue, coaching, conditions, equipment, goals, medications, safety
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
        (safety, safety.RULES),
        (coaching, coaching.COACHING_RULES),
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
        "safety_rules.csv",
        "coaching_rules.csv",
        "medications.csv",
    } <= shipped


def test_the_bench_press_ratio_sits_in_the_cooper_institute_fair_band():
    # Cooper Institute, bench press / body weight, men 20-29, "fair": 0.99-1.13 (shared/reference/realism.md)
    assert 0.99 <= catalogue.EXERCISES_BY_NAME["Barbell Bench Press"].strength_ratio <= 1.13


def test_published_safety_rules_are_encoded():
    # shared/reference/safety_guidance.md: each risk factor -> what the cited guidance rules out or limits
    def applies(rule_id: str, **facts) -> bool:
        return rule_id in safety.constraints_for(facts)

    assert applies("rpe_not_heart_rate", medications=["metoprolol succinate"])  # beta-blockers: RPE, not HR zones
    assert safety.RULES["rpe_not_heart_rate"].limits.effort_by_rpe
    for drug in ("glipizide", "insulin glargine"):  # ADA 2016: insulin and sulfonylureas
        assert applies("hypoglycaemia_watch", medications=[drug])
    assert not applies("hypoglycaemia_watch", medications=["metformin"])  # metformin alone: no hypoglycaemia rule
    assert safety.RULES["nonconsecutive_resistance_days"].limits.nonconsecutive_days  # ADA 2016
    assert "maximal_valsalva" in safety.RULES["avoid_valsalva"].tags  # AHA 2007, ACSM 2004
    # no jumping for knee OA (ACR/OARSI 2019), back pain (NICE NG59), 65+ (ACSM/AHA 2007), BMI >= 35 (ACSM, NSCA)
    for rule_id, facts in (
        ("low_impact_knee", {"conditions": ["knee_osteoarthritis"]}),
        ("protect_lower_back", {"conditions": ["lower_back_pain"]}),
        ("low_impact_older_adult", {"age": 65}),
        ("low_impact_high_bmi", {"bmi": 35.0}),
    ):
        assert applies(rule_id, **facts), rule_id
        ruled_out = set(safety.RULES[rule_id].excluded)
        assert {"Box Jump", "Jump Squat", "Burpee", "Jumping Lunge", "Jumping Jacks"} <= ruled_out, rule_id
    assert not applies("low_impact_older_adult", age=64) and not applies("low_impact_high_bmi", bmi=34.9)
    # plyometrics need a base of strength (NSCA): none for novices; ACSM 2009: novices 2-3 days a week
    novice = safety.RULES["novice_foundations"]
    assert {"Box Jump", "Jump Squat", "Burpee", "Jumping Lunge"} <= set(novice.excluded)
    assert novice.limits.max_days == 3
    # timed holds, carries and intervals are prescribed as time (ACSM; guidance notes)
    timed = ("Plank", "Side Plank", "Wall Sit", "Farmer's Carry", "Stationary Bike Intervals")
    assert all(catalogue.EXERCISES_BY_NAME[n].timed for n in timed)
