"""Property-based: any malformed params file gives one ConfigError line naming the key, never a traceback."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitsense_luigi.config import read_params, validate_params
from fitsense_luigi.errors import ConfigError
from tests.conftest import default_params

DEFAULT = default_params()


def key_paths(node: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    if isinstance(node, dict):
        for key, value in node.items():
            paths.append((*prefix, key))
            paths.extend(key_paths(value, (*prefix, key)))
    return paths


PATHS = key_paths(DEFAULT)
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@st.composite
def mutated_params(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    params = copy.deepcopy(DEFAULT)
    path = draw(st.sampled_from(PATHS))
    parent = params
    for key in path[:-1]:
        parent = parent[key]
    action = draw(st.sampled_from(["delete", "replace", "add_unknown"]))
    if action == "delete":
        del parent[path[-1]]
    elif action == "replace":
        parent[path[-1]] = draw(JUNK)
    else:
        target = parent[path[-1]] if isinstance(parent[path[-1]], dict) else parent
        target[draw(st.text(alphabet="abcxyz_", min_size=1, max_size=8)) + "_extra"] = draw(JUNK)
    return params, ".".join(path)


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
@given(
    st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        st.recursive(JUNK, lambda c: st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=8).map(
            lambda v: yaml.safe_dump(v).encode()
        ),
    )
)
def test_arbitrary_files_never_raise_anything_but_config_error(tmp_path_factory, content: bytes) -> None:
    path: Path = tmp_path_factory.mktemp("fuzz") / "params.yaml"
    path.write_bytes(content)
    try:
        validate_params(read_params(path), str(path))
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
