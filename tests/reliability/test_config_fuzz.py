"""Property-based: any malformed params file gives one ConfigError line naming the key, never a traceback.

Thousands of files against the loader, and a handful through the real `luigi` command (each is a subprocess).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitsense_luigi.config import read_params, validate_params
from fitsense_luigi.errors import ConfigError
from tests.reliability.params_strategies import ARBITRARY_FILES, DEFAULT, PATHS, mutated_params
from tests.support.harness import RUN_ID, run_luigi
from tests.support.teacher import WITH_KEY, assert_no_secret


def named_key(message: str, source: str) -> str:
    """The key path an error line starts with (``<source>: <key path>: ...`` or ``<key path> (...) ...``)."""
    detail = message.removeprefix(f"{source}: ")
    return re.match(r"[^:\s(]*", detail).group(0)


def names_the_key(message: str, source: str, touched: str) -> bool:
    """The error names the touched key, one of its parents or children; or, for a rule between keys, a sibling
    and the touched key's name."""
    named = named_key(message, source)
    if named == touched or touched.startswith(named + ".") or named.startswith(touched + "."):
        return True
    parent, _, leaf = touched.rpartition(".")
    return named.rpartition(".")[0] == parent and f" {leaf} " in message


def plain(value: Any) -> Any:
    """JSON-like value with every number as a float (the loader makes ints floats where it expects a float)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


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
        assert names_the_key(message, "params.yaml", touched), (touched, message)
    else:  # a change the schema allows: the config holds exactly what the file said
        assert plain(config.as_dict()) == plain(params), touched


def wrong_type(value: Any) -> Any:
    return {"not": "a list"} if isinstance(value, list) else [["not", "this"]]


def value_at(params: dict[str, Any], path: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    parent = params
    for key in path[:-1]:
        parent = parent[key]
    return parent, path[-1]


@pytest.mark.parametrize("path", PATHS, ids=".".join)
def test_every_key_of_every_section_is_named_when_missing_mistyped_or_joined_by_an_unknown_key(
    path: tuple[str, ...],
) -> None:
    """Every key the shipped file has, at every depth (not a sample): the error names exactly that key."""
    key = ".".join(path)
    cases = {"missing": (key, lambda parent, leaf: parent.pop(leaf))}
    cases["wrong type"] = (key, lambda parent, leaf: parent.__setitem__(leaf, wrong_type(parent[leaf])))
    if isinstance(value_at(DEFAULT, path)[0][path[-1]], dict):
        cases["unknown key"] = (f"{key}.zz_unknown", lambda parent, leaf: parent[leaf].__setitem__("zz_unknown", 1))
    for what, (expected, change) in cases.items():
        params = copy.deepcopy(DEFAULT)
        change(*value_at(params, path))
        with pytest.raises(ConfigError) as caught:
            validate_params(params, "params.yaml")
        message = str(caught.value)
        assert "\n" not in message and named_key(message, "params.yaml") == expected, (what, message)


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
    """A handful of generated files, each through the real `luigi` command: one line per problem, exit 40, nothing
    created."""
    content, touched = case
    base: Path = tmp_path_factory.mktemp("luigi-params")
    params = base / "params.yaml"
    params.write_bytes(content)
    result = run_luigi("BiasSlicing", RUN_ID, base / "data", params, env=WITH_KEY)
    assert result.returncode == 40, result.output[-2000:]  # [retcode] unhandled_exception: found before scheduling
    errors = [line for line in result.output.splitlines() if " ERROR " in line]
    # every problem at once: one line each, all of them naming the file
    assert errors and all(f"ConfigError: {params}" in line for line in errors), errors
    if touched:  # a line names the key (or a parent, a child, or the sibling of a rule between keys)
        messages = [line.split("ConfigError: ", 1)[1] for line in errors]
        assert any(names_the_key(message, str(params), touched) for message in messages), (touched, errors)
    assert "Traceback" not in result.output
    assert not (base / "data").exists()
    assert_no_secret([base], [result.output])
