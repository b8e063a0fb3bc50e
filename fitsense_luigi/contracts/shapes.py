"""Does a row have its declared shape? Read off the TypedDict annotations, not a second list of keys.

``shape_problems(row, Query)`` names every key that is missing or extra and
every value whose type differs from the annotation, recursively through nested
TypedDicts, lists and dicts. A float annotation accepts an int (as Python's
numeric tower and JSON do); a bool is never taken for a number.
"""

from __future__ import annotations

import types
import typing
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin, is_typeddict

MAX_PROBLEMS = 20


@cache
def _hints(shape: type) -> dict[str, Any]:
    return typing.get_type_hints(shape)


def shape_problems(value: Any, shape: Any, where: str = "row") -> list[str]:
    """Every difference between ``value`` and ``shape`` (a TypedDict or a type expression), as 'where: problem'."""
    problems: list[str] = []
    _check(value, shape, where, problems)
    return problems[:MAX_PROBLEMS]


def _check(value: Any, shape: Any, where: str, problems: list[str]) -> None:
    if shape is Any:
        return
    if is_typeddict(shape):
        _check_typeddict(value, shape, where, problems)
        return
    origin = get_origin(shape)
    if origin in (Union, types.UnionType):
        options = get_args(shape)
        if not any(not shape_problems(value, option, where) for option in options):
            problems.append(f"{where}: {_describe(value)} is none of {' | '.join(map(_name, options))}")
        return
    if origin is Literal:
        if value not in get_args(shape):
            problems.append(f"{where}: {value!r} is not one of {get_args(shape)}")
        return
    if origin is list:
        if not isinstance(value, list):
            problems.append(f"{where}: expected a list, got {_describe(value)}")
            return
        (item,) = get_args(shape)
        for k, element in enumerate(value):
            _check(element, item, f"{where}[{k}]", problems)
        return
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{where}: expected an object, got {_describe(value)}")
            return
        key_type, value_type = get_args(shape)
        for key, element in value.items():
            _check(key, key_type, f"{where} key {key!r}", problems)
            _check(element, value_type, f"{where}.{key}", problems)
        return
    if not _is_instance(value, shape):
        problems.append(f"{where}: expected {_name(shape)}, got {_describe(value)}")


def _check_typeddict(value: Any, shape: type, where: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{where}: expected a {shape.__name__} object, got {_describe(value)}")
        return
    hints = _hints(shape)
    required = shape.__required_keys__  # type: ignore[attr-defined]
    problems.extend(
        f"{where}: missing key {key!r} ({shape.__name__})" for key in hints if key in required and key not in value
    )
    problems.extend(f"{where}: unexpected key {key!r} ({shape.__name__})" for key in value if key not in hints)
    for key, hint in hints.items():
        if key in value:
            _check(value[key], hint, f"{where}.{key}", problems)


def _is_instance(value: Any, kind: Any) -> bool:
    if kind is None or kind is type(None):
        return value is None
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _name(kind: Any) -> str:
    if kind is type(None):
        return "None"
    return getattr(kind, "__name__", None) or str(kind)


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"
