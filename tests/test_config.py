"""Config validation: every problem of a params file named at once, one line each (file, key path, expected, seen).

(Restored: the file was emptied on main by 14cb823, which left config validation without its unit tests.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from fitsense_luigi.config import load_config
from fitsense_luigi.errors import ConfigError
from tests.support.params import deep_merge, default_params


def write(tmp_path: Path, params: object) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(params if isinstance(params, str) else yaml.safe_dump(params))
    return path


def error_for(tmp_path: Path, params: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, params))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_default_params_load_and_are_immutable() -> None:
    config = load_config()
    assert config.world.users > 0
    assert config.queries.per_type["plan_creation"] >= 0
    with pytest.raises(AttributeError):
        config.world.users = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.queries.per_type["plan_creation"] = 1  # type: ignore[index]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"world": {"users": "many"}}, "world.users: expected integer, got 'many'"),
        ({"world": {"users": 0}}, "world.users: expected a value >= 1, got 0"),
        (
            {"teacher": {"provider": "gpt"}},
            "teacher.provider: expected one of 'mock', 'openai_compatible', 'openai_batch', got 'gpt'",
        ),
        ({"run": {"as_of_date": "17/02/2026"}}, "run.as_of_date: expected null or string matching"),
        ({"world": {"colour": "blue"}}, "world.colour: unknown key"),
        ({"dataset": {"split": {"train": 0.5}}}, "dataset.split: ratios must sum to 1.0, got 0.7"),
        ({"dataset": {"response_chars": {"min": 500, "max": 100}}}, "dataset.response_chars: min (500)"),
        ({"teacher": {"provider": "openai_compatible"}}, "teacher.base_url: required when teacher.provider"),
        ({"teacher": {"cache": {"enabled": "yes please"}}}, "teacher.cache.enabled: expected boolean"),
        (
            {"teacher": {"provider": "openai_batch", "cache": {"enabled": False}}},
            "teacher.cache.enabled: must be true when teacher.provider is openai_batch",
        ),
        ({"teacher": {"batch": {"poll_initial_s": 60, "poll_max_s": 30}}}, "teacher.batch.poll_initial_s (60)"),
        ({"teacher": {"batch": {"max_lines": 60000}}}, "teacher.batch.max_lines: expected a value <= 50000"),
        ({"teacher": {"batch": {"completion_window": "1d"}}}, "teacher.batch.completion_window: expected"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, overrides: dict, expected: str) -> None:
    message = error_for(tmp_path, deep_merge(default_params(), overrides))
    assert expected in message
    assert str(tmp_path / "params.yaml") in message


def test_missing_key_is_named(tmp_path: Path) -> None:
    params = default_params()
    del params["teacher"]["model"]
    assert error_for(tmp_path, params).endswith("teacher.model: missing key")


def test_missing_section_is_named(tmp_path: Path) -> None:
    params = default_params()
    del params["quality"]
    assert error_for(tmp_path, params).endswith("quality: missing key")


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    text = yaml.safe_dump(default_params()) + "world:\n  users: 5\n  lookback_days: 28\n"
    assert "duplicate key 'world'" in error_for(tmp_path, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "expected a mapping of sections at the top level, got an empty file"),
        ("- a\n- b\n", "got list"),
        ("world: {users: [1,\n", "not valid YAML"),
    ],
)
def test_unparseable_files(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_for(tmp_path, text)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="params file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="cannot read params file"):
        load_config(binary)


def problems_for(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ or {})
    assert all("\n" not in p for p in info.value.problems) and "\n" not in str(info.value)
    return list(info.value.problems)


def shipped_text() -> str:
    return yaml.safe_dump(default_params(), sort_keys=False)


def test_three_typos_give_three_problems_in_the_order_of_the_file(tmp_path: Path) -> None:
    text = shipped_text()
    for right, wrong in (
        ("  users: 1000", "  users: many"),
        ("  temperature: 0.2", "  temperatur: 0.2"),
        ("  near_duplicate_jaccard: 0.9", "  near_duplicate_jaccard: high"),
    ):
        assert text.count(right) == 1, right
        text = text.replace(right, wrong)
    path = tmp_path / "params.yaml"
    assert problems_for(tmp_path, text) == [
        f"{path}: world.users: expected integer, got 'many'",
        f"{path}: teacher.temperatur: unknown key (did you mean temperature?)",  # not also "temperature: missing"
        f"{path}: dataset.near_duplicate_jaccard: expected number, got 'high'",
    ]


def test_unknown_keys_of_one_mapping_are_each_named(tmp_path: Path) -> None:
    params = deep_merge(default_params(), {"world": {"colour": "blue", "size": 3}})
    problems = problems_for(tmp_path, yaml.safe_dump(params, sort_keys=False))
    assert [p.split(": ", 1)[1] for p in problems] == ["world.colour: unknown key", "world.size: unknown key"]


def test_every_duplicate_key_is_named_with_its_line(tmp_path: Path) -> None:
    text = shipped_text() + "world:\n  users: 5\n  lookback_days: 28\nqueries: {}\n"
    lines = len(shipped_text().splitlines())
    assert problems_for(tmp_path, text) == [
        f"{tmp_path / 'params.yaml'}:{lines + 1}: duplicate key 'world': each key may appear once per mapping",
        f"{tmp_path / 'params.yaml'}:{lines + 4}: duplicate key 'queries': each key may appear once per mapping",
    ]


def test_cross_field_rules_are_reported_together(tmp_path: Path) -> None:
    params = deep_merge(
        default_params(), {"dataset": {"split": {"train": 0.5}, "response_chars": {"min": 500, "max": 100}}}
    )
    problems = [p.split(": ", 1)[1] for p in problems_for(tmp_path, yaml.safe_dump(params))]
    assert problems == [
        "dataset.split: ratios must sum to 1.0, got 0.7",
        "dataset.response_chars: min (500) must be below max (100)",
    ]


def test_an_unquoted_date_is_read_as_the_date_it_is(tmp_path: Path) -> None:
    text = shipped_text()
    assert text.count("as_of_date: null") == 1
    path = tmp_path / "params.yaml"
    path.write_text(text.replace("as_of_date: null", "as_of_date: 2026-06-01"))
    assert load_config(path, {}).run.as_of_date == "2026-06-01"


@pytest.mark.parametrize("written", ["2026-02-30", "'2026-02-30'"])
def test_a_day_the_calendar_does_not_have_is_named(tmp_path: Path, written: str) -> None:
    text = shipped_text().replace("as_of_date: null", f"as_of_date: {written}")
    assert problems_for(tmp_path, text) == [
        f"{tmp_path / 'params.yaml'}: run.as_of_date: expected a real date (YYYY-MM-DD), got '2026-02-30'"
    ]


def test_a_yaml_date_where_text_is_expected_says_to_quote_it(tmp_path: Path) -> None:
    text, replaced = re.subn(r"template_version: \S+", "template_version: 2026-01-01", shipped_text())
    assert replaced == 1
    (problem,) = problems_for(tmp_path, text)
    assert problem.endswith(
        "queries.template_version: expected string, got 2026-01-01 (YAML reads it as a date: quote it)"
    )


def test_environment_problems_are_blamed_on_their_variable_beside_the_files(tmp_path: Path) -> None:
    text = shipped_text().replace("  users: 1000", "  users: many")
    environ = {"FITSENSE__TEACHER__SHARDS": "lots", "FITSENSE__NOPE": "1", "FITSENSE__WORLD__LOOKBACK_DAYS": "[1,"}
    path = tmp_path / "params.yaml"
    problems = problems_for(tmp_path, text, environ)
    assert problems[0] == f"FITSENSE__NOPE: nope is not a key of {path} (overrides name existing keys)"
    assert problems[1].startswith("FITSENSE__WORLD__LOOKBACK_DAYS: not a valid YAML value: ")  # PyYAML's words
    assert sorted(problems[2:]) == sorted(
        [
            f"{path}: world.users: expected integer, got 'many'",
            f"FITSENSE__TEACHER__SHARDS (overrides teacher.shards in {path}): expected integer, got 'lots'",
        ]
    )
