"""Hypothesis strategies for malformed params files, shared by the function-level and the `luigi`-level fuzz tests."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import strategies as st

from tests.support.params import default_params

DEFAULT = default_params()


def key_paths(node: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key of every section, at every depth (list items are values, not keys)."""
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
    """The default params with one key deleted, replaced by junk, or joined by an unknown sibling or child;
    and the dotted path of the key that changed (for an unknown key, the new key's own path)."""
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
        child = isinstance(parent[path[-1]], dict)
        target = parent[path[-1]] if child else parent
        name = draw(st.text(alphabet="abcxyz_", min_size=1, max_size=8)) + "_extra"
        target[name] = draw(JUNK)
        path = (*(path if child else path[:-1]), name)
    return params, ".".join(path)


ARBITRARY_FILES = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.recursive(JUNK, lambda c: st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=8).map(
        lambda v: yaml.safe_dump(v).encode()
    ),
)
