"""Config validation: every malformed params file gives one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fitsense_luigi.config import load_config
from fitsense_luigi.errors import ConfigError
from tests.conftest import deep_merge, default_params


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
        ({"teacher": {"provider": "gpt"}}, "teacher.provider: expected one of 'mock', 'openai_compatible', got 'gpt'"),
        ({"run": {"as_of_date": "17/02/2026"}}, "run.as_of_date: expected null or string matching"),
        ({"world": {"colour": "blue"}}, "world.colour: unknown key"),
        ({"dataset": {"split": {"train": 0.5}}}, "dataset.split: ratios must sum to 1.0, got 0.7"),
        ({"dataset": {"response_chars": {"min": 500, "max": 100}}}, "dataset.response_chars: min (500)"),
        ({"teacher": {"provider": "openai_compatible"}}, "teacher.base_url: required when teacher.provider"),
        ({"teacher": {"cache": {"enabled": "yes please"}}}, "teacher.cache.enabled: expected boolean"),
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
