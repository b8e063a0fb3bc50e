"""Settings an operator gives through the environment: FITSENSE__SECTION__KEY overrides and the scheduler's defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fitsense_luigi.config import load_config
from fitsense_luigi.errors import ConfigError
from fitsense_luigi.pipeline.roots import open_data_root
from tests.support.params import DEFAULT_PARAMS as PARAMS

# each override, and the line an operator would edit in params.yaml instead (before, after)
OVERRIDES = {
    "FITSENSE__TEACHER__PROVIDER": ("openai_compatible", "  provider: mock", "  provider: openai_compatible"),
    "FITSENSE__TEACHER__BASE_URL": (
        "http://127.0.0.1:8000/v1",
        "  base_url: null",
        "  base_url: http://127.0.0.1:8000/v1",
    ),
    "FITSENSE__TEACHER__TEMPERATURE": ("0.7", "  temperature: 0.2", "  temperature: 0.7"),
    "FITSENSE__TEACHER__CACHE__ENABLED": ("false", "    enabled: true", "    enabled: false"),
    "FITSENSE__QUERIES__PER_TYPE__PLAN_CREATION": ("3", "    plan_creation: 200", "    plan_creation: 3"),
    "FITSENSE__RUN__AS_OF_DATE": ("2026-01-31", "  as_of_date: null", '  as_of_date: "2026-01-31"'),
}


def test_overrides_set_nested_keys_with_yaml_scalars(tmp_path: Path) -> None:
    """An override means what the same value typed into params.yaml means: the expected config is the file's."""
    environ = {name: value for name, (value, _, _) in OVERRIDES.items()}
    environ["FITSENSE_DATA_ROOT"] = "/elsewhere"  # a plain variable, not an override
    via_env = load_config(PARAMS, environ)

    text = PARAMS.read_text()
    for name, (_, before, after) in OVERRIDES.items():
        lines = text.split("\n")
        # the line to edit: the first that reads so (evaluation: has a provider and a base_url too, after teacher:)
        at = next((k for k, line in enumerate(lines) if line.split("#")[0].rstrip() == before), None)
        assert at is not None, name
        text = "\n".join([*lines[:at], after, *lines[at + 1 :]])
    edited = tmp_path / "params.yaml"
    edited.write_text(text)
    via_file = load_config(edited, {})

    assert via_env.as_dict() == via_file.as_dict() != load_config(PARAMS, {}).as_dict()
    # the types YAML gives the typed-in values, not the strings of the environment
    assert via_env.teacher.temperature == 0.7 and via_env.teacher.cache.enabled is False
    assert via_env.queries.per_type["plan_creation"] == 3 and via_env.run.as_of_date == "2026-01-31"


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
