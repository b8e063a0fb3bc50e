"""Property-based: any malformed params file gives one ConfigError line naming the key, never a traceback.

Thousands of files against the loader, and a handful through the real `luigi` command (each is a subprocess).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitsense_luigi.config import read_params, validate_params
from fitsense_luigi.errors import ConfigError
from tests.conftest import run_luigi
from tests.reliability.fault_harness import RUN
from tests.reliability.params_strategies import ARBITRARY_FILES, mutated_params
from tests.reliability.run_checks import WITH_KEY, assert_no_secret


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated_params())
def test_mutated_params_fail_with_one_line_or_validate(case: tuple[dict[str, Any], str]) -> None:
    params, touched = case
    try:
        config = validate_params(params, "params.yaml")
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message
        assert message.startswith("params.yaml: ")
        named = message.removeprefix("params.yaml: ").split(":")[0]
        # the error names the touched key, one of its parents, or one of its children
        assert named.startswith(touched.split(".")[0]), (touched, message)
    else:
        assert config.as_dict()["run"]["data_root"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ARBITRARY_FILES)
def test_arbitrary_files_never_raise_anything_but_config_error(tmp_path_factory, content: bytes) -> None:
    path: Path = tmp_path_factory.mktemp("fuzz") / "params.yaml"
    path.write_bytes(content)
    try:
        validate_params(read_params(path), str(path))
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)


def is_invalid(case: tuple[dict[str, Any], str]) -> bool:
    try:
        validate_params(case[0], "params.yaml")
    except ConfigError:
        return True
    return False


MALFORMED_FILES = st.one_of(
    mutated_params().filter(is_invalid).map(lambda case: (yaml.safe_dump(case[0]).encode(), case[1])),
    ARBITRARY_FILES.map(lambda content: (content, None)),
)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(MALFORMED_FILES)
def test_malformed_params_through_the_luigi_command(tmp_path_factory, case: tuple[bytes, str | None]) -> None:
    """A handful of generated files, each through the real `luigi` command: one line, exit 40, nothing created."""
    content, touched = case
    base: Path = tmp_path_factory.mktemp("luigi-params")
    params = base / "params.yaml"
    params.write_bytes(content)
    result = run_luigi("BiasSlicing", RUN, base / "data", params, env=WITH_KEY)
    assert result.returncode == 40, result.output[-2000:]  # [retcode] unhandled_exception: found before scheduling
    errors = [line for line in result.output.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and f"ConfigError: {params}" in errors[0], errors
    if touched:  # names the key (or its section)
        named = errors[0].split(f"ConfigError: {params}: ", 1)[1].split(":")[0]
        assert named.startswith(touched.split(".")[0]), (touched, errors[0])
    assert "Traceback" not in result.output
    assert not (base / "data").exists()
    assert_no_secret([base], [result.output])
