"""Settings an operator gives through the environment: FITSENSE__SECTION__KEY overrides and the scheduler's defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ops_harness import REPO

from fitsense_luigi.config import load_config
from fitsense_luigi.errors import ConfigError
from fitsense_luigi.pipeline.roots import open_data_root

PARAMS = REPO / "config" / "params.yaml"


def test_overrides_set_nested_keys_with_yaml_scalars() -> None:
    config = load_config(
        PARAMS,
        {
            "FITSENSE__TEACHER__PROVIDER": "openai_compatible",
            "FITSENSE__TEACHER__BASE_URL": "http://127.0.0.1:8000/v1",
            "FITSENSE__TEACHER__TEMPERATURE": "0.7",
            "FITSENSE__TEACHER__CACHE__ENABLED": "false",
            "FITSENSE__QUERIES__PER_TYPE__PLAN_CREATION": "3",
            "FITSENSE__RUN__AS_OF_DATE": "2026-01-31",
            "FITSENSE_DATA_ROOT": "/elsewhere",  # a plain variable, not an override
        },
    )
    assert config.teacher.provider == "openai_compatible"
    assert config.teacher.base_url == "http://127.0.0.1:8000/v1"
    assert config.teacher.temperature == 0.7
    assert config.teacher.cache.enabled is False
    assert config.queries.per_type["plan_creation"] == 3
    assert config.run.as_of_date == "2026-01-31"  # text, as the schema wants, not a YAML date
    assert config.teacher.model == load_config(PARAMS, {}).teacher.model  # untouched keys keep the file's value


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FITSENSE__TEACHER__TEMPERATURE", "hot", "FITSENSE__TEACHER__TEMPERATURE (overrides teacher.temperature in "),
        ("FITSENSE__WORLD__USERS", "-5", "expected a value >= 1, got -5"),
        ("FITSENSE__TEACHER__BASEURL", "x", "FITSENSE__TEACHER__BASEURL: teacher.baseurl is not a key of"),
        ("FITSENSE__NOPE__X", "1", "FITSENSE__NOPE__X: nope is not a key of"),
        ("FITSENSE__WORLD__USERS__MORE", "1", "FITSENSE__WORLD__USERS__MORE: world.users.more is not a key of"),
        ("FITSENSE__WORLD__USERS", "[1", "FITSENSE__WORLD__USERS: not a valid YAML value"),
    ],
)
def test_a_bad_override_is_one_line_naming_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(PARAMS, {name: value})
    text = str(caught.value)
    assert message in text and "\n" not in text


def test_overrides_change_the_fingerprint_like_the_file_would(tmp_path: Path) -> None:
    from fitsense_luigi.pipeline import identity

    via_env = load_config(PARAMS, {"FITSENSE__WORLD__USERS": "77"})
    edited = tmp_path / "params.yaml"
    edited.write_text(PARAMS.read_text().replace("\n  users: 1000", "\n  users: 77"))
    via_file = load_config(edited, {})
    day = identity.resolve_as_of_date(None, "2026-02-17", None)
    assert identity.fingerprint(via_env.as_dict(), day) == identity.fingerprint(via_file.as_dict(), day)
    assert identity.fingerprint(via_env.as_dict(), day) != identity.fingerprint(load_config(PARAMS, {}).as_dict(), day)


def test_scheduler_state_goes_under_a_local_root_and_to_local_disk_for_s3(monkeypatch: pytest.MonkeyPatch) -> None:
    assert open_data_root("/srv/fitsense/data").scheduler_state_path() == Path(
        "/srv/fitsense/data/scheduler/luigi-state.pickle"
    )
    monkeypatch.setenv("XDG_STATE_HOME", "/var/lib/fitsense-state")
    assert open_data_root("s3://bucket/runs").scheduler_state_path() == Path(
        "/var/lib/fitsense-state/fitsense/luigi-state.pickle"
    )


def test_scheduler_with_a_bad_config_exits_2_in_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "FITSENSE__WORLD__USERS": "many", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "fitsense_luigi.scheduler"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"fitsense scheduler: FITSENSE__WORLD__USERS (overrides world.users in {PARAMS}): expected integer, got 'many'"
    ]
