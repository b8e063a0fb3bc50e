"""One validated, immutable config object per params file.

This is the only module that reads YAML. It validates the whole file against
``config/schemas/params.schema.json`` and turns the first problem into one line
that names the file, the key path, what was expected and what was seen, so that
a bad cron job says exactly what to fix.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import stat
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from fitsense_luigi.errors import ConfigError

PARAMS_ENV = "FITSENSE_PARAMS"
DATA_ROOT_ENV = "FITSENSE_DATA_ROOT"
# FITSENSE__TEACHER__BASE_URL=... overrides teacher.base_url (any key; "__" separates the levels), so that a
# container or a cron line sets the teacher without a params file. Values are YAML scalars (8, 0.2, null, true).
OVERRIDE_PREFIX = "FITSENSE__"

PROMPT_TYPES = ("plan_creation", "plan_modification", "safety_adjustment", "progress_adaptation")

# Keys that change how a run is executed but not what it produces. They are
# left out of the fingerprint so that, e.g., more teacher concurrency or a new
# data root does not turn an existing run into a "different config".
OPERATIONAL_KEYS: tuple[tuple[str, ...], ...] = (
    ("run", "data_root"),
    ("run", "log_level"),
    ("teacher", "api_key_env"),
    ("teacher", "shards"),
    ("teacher", "concurrency"),
    ("teacher", "requests_per_minute"),
    ("teacher", "tokens_per_minute"),
    ("teacher", "circuit_breaker"),
    ("teacher", "timeouts"),
    ("teacher", "retries"),
    ("teacher", "cache"),
    ("teacher", "response_format_fallback"),
    ("teacher", "unusable_warn_share"),
    ("teacher", "max_response_mb"),
    ("quality", "on_failure"),
)


def significant_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The params that shape the data: everything but OPERATIONAL_KEYS."""
    out = json.loads(json.dumps(params))
    for path in OPERATIONAL_KEYS:
        node = out
        for key in path[:-1]:
            node = node.get(key, {})
        node.pop(path[-1], None)
    return out


def config_dir() -> Path:
    """The packaged copy of ``config/`` in a wheel, else the checkout's."""
    packaged = Path(__file__).parent / "_config"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "config"


def schema_path(name: str) -> Path:
    return config_dir() / "schemas" / name


@cache
def load_schema(name: str) -> dict[str, Any]:
    return json.loads(schema_path(name).read_text())


def params_path() -> Path:
    env = os.environ.get(PARAMS_ENV)
    return Path(env) if env else config_dir() / "params.yaml"


# ---------------------------------------------------------------- sections


@dataclass(frozen=True)
class RunSection:
    data_root: str
    as_of_date: str | None
    log_level: str


@dataclass(frozen=True)
class Reproducibility:
    seed: int


@dataclass(frozen=True)
class WorldSection:
    users: int
    lookback_days: int


@dataclass(frozen=True)
class QueriesSection:
    template_version: str
    per_type: Mapping[str, int]


@dataclass(frozen=True)
class Timeouts:
    connect_s: float
    read_s: float
    total_s: float


@dataclass(frozen=True)
class Retries:
    max_attempts: int
    initial_wait_s: float
    max_wait_s: float
    retry_after_cap_s: float


@dataclass(frozen=True)
class CircuitBreakerSection:
    window: int
    min_calls: int
    failure_ratio: float


@dataclass(frozen=True)
class Prices:
    prompt_per_1k_tokens: float
    completion_per_1k_tokens: float


@dataclass(frozen=True)
class CacheSection:
    enabled: bool


@dataclass(frozen=True)
class MockSection:
    flaw_rate: float


@dataclass(frozen=True)
class ReaskSection:
    max_attempts: int


@dataclass(frozen=True)
class TeacherSection:
    provider: str
    model: str
    base_url: str | None
    api_key_env: str
    response_format: str
    temperature: float
    top_p: float
    max_tokens: int
    shards: int
    concurrency: int
    requests_per_minute: float | None
    tokens_per_minute: float | None
    timeouts: Timeouts
    retries: Retries
    circuit_breaker: CircuitBreakerSection
    prices: Prices
    cache: CacheSection
    mock: MockSection
    response_format_fallback: bool
    reask: ReaskSection
    unusable_warn_share: float
    max_response_mb: float


@dataclass(frozen=True)
class CharRange:
    min: int
    max: int


@dataclass(frozen=True)
class SplitRatios:
    train: float
    val: float
    test: float

    def as_dict(self) -> dict[str, float]:
        return {"train": self.train, "val": self.val, "test": self.test}


@dataclass(frozen=True)
class DatasetSection:
    response_chars: CharRange
    near_duplicate_jaccard: float
    split: SplitRatios


@dataclass(frozen=True)
class GateSection:
    fail_on_anomaly: str  # critical | warning | never
    fail_on_bias_alert: bool


@dataclass(frozen=True)
class AnomalySection:
    max_failed_response_share: float
    length_outlier_iqr: float


@dataclass(frozen=True)
class DriftSection:
    categorical_linf: float
    numeric_js: float


@dataclass(frozen=True)
class BiasSection:
    explained_by: Mapping[str, tuple[str, ...]]
    min_slice_size: int
    disparity_ratio: float
    alpha: float
    bootstrap_resamples: int
    confidence: float


@dataclass(frozen=True)
class QualitySection:
    on_failure: str
    split_tolerance: float
    realism_min_users: int
    gate: GateSection
    anomalies: AnomalySection
    drift: DriftSection
    bias: BiasSection


@dataclass(frozen=True)
class Config:
    run: RunSection
    reproducibility: Reproducibility
    world: WorldSection
    queries: QueriesSection
    teacher: TeacherSection
    dataset: DatasetSection
    quality: QualitySection
    source: str = ""  # the params file this came from, for messages

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every parameter (without ``source``)."""
        out = _plain(self)
        out.pop("source", None)
        return out


# ---------------------------------------------------------------- loading


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of keeping the last one."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise ConfigError(
                f"{mark.name}:{mark.line + 1}: duplicate key {key!r}: each key may appear once per mapping"
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def read_params(path: Path) -> dict[str, Any]:
    try:
        text = read_params_text(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: params file not found (set {PARAMS_ENV} or create it)") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: params path is a directory, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read params file: {exc}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None
    if not isinstance(data, dict):
        seen = "an empty file" if data is None else type(data).__name__
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {seen}")
    return data


# ---------------------------------------------------------------- the loader's safety and strict types
#
# A params file is input from outside: it may be a FIFO (which blocks an open for ever), /dev/zero, a
# 50 MB file of comments, or a "billion laughs" of aliases that expands into gigabytes while PyYAML
# builds it and jsonschema describes it. So the file must be a regular file no larger than
# PARAMS_MAX_BYTES (checked before it is opened), and aliases are refused while the document is
# composed, before anything is built. Numbers are strict: an integer is an integer (200.0 is not),
# and a number is finite (.nan and .inf would pass every range check, since comparisons with NaN are
# false). Every number and string has bounds in the schema.

PARAMS_MAX_BYTES = 1 << 20  # the shipped file is about 5 kB


def read_params_text(path: Path) -> str:
    """The params file's text, refused by type and size before it is read (nothing blocks, nothing huge)."""
    info = path.stat()
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(path)
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path}: params path is {_file_kind(info.st_mode)}, expected a regular YAML file")
    if info.st_size > PARAMS_MAX_BYTES:
        raise ConfigError(
            f"{path}: params file is {info.st_size} bytes, more than the {PARAMS_MAX_BYTES} a params file may have"
        )
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # replaced by a FIFO since the check: no wait
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"{path}: params path is not a regular file, expected a YAML file")
        data = fh.read(PARAMS_MAX_BYTES + 1)
    if len(data) > PARAMS_MAX_BYTES:
        raise ConfigError(f"{path}: params file is larger than the {PARAMS_MAX_BYTES} bytes a params file may have")
    return data.decode("utf-8")


def _file_kind(mode: int) -> str:
    kinds = {
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")


def _compose_without_aliases(loader: yaml.SafeLoader, parent: Any, index: Any) -> Any:
    """Composer.compose_node, refusing ``*alias`` (an alias bomb expands before any check could run)."""
    if loader.check_event(yaml.AliasEvent):
        event = loader.peek_event()
        raise yaml.MarkedYAMLError(
            problem=f"alias *{event.anchor} is not allowed (write the value out)", problem_mark=event.start_mark
        )
    return yaml.SafeLoader.compose_node(loader, parent, index)


_UniqueKeyLoader.compose_node = _compose_without_aliases  # type: ignore[method-assign, assignment]


def _is_integer(checker: Any, value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(checker: Any, value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


@cache
def params_validator() -> Any:
    """The params schema's validator, with integers that are integers and numbers that are finite."""
    from jsonschema import Draft202012Validator, validators

    checker = Draft202012Validator.TYPE_CHECKER.redefine_many({"integer": _is_integer, "number": _is_number})
    strict = validators.extend(Draft202012Validator, type_checker=checker)
    return strict(load_schema("params.schema.json"))


def validate_params(data: Mapping[str, Any], source: str) -> Config:
    """Schema check, then the cross-field rules a schema cannot express."""
    validator = params_validator()
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(e.absolute_path), e.validator))
    if errors:
        raise ConfigError(f"{source}: {describe_schema_error(errors[0])}")
    _check_cross_fields(data, source)
    return _build(Config, dict(data, source=source))


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """The params file, then ``FITSENSE__SECTION__KEY`` overrides from the environment, validated as one."""
    path = path or params_path()
    data = read_params(path)
    overrides = apply_env_overrides(data, os.environ if environ is None else environ, str(path))
    try:
        return validate_params(data, str(path))
    except ConfigError as exc:
        raise _blame_override(exc, str(path), overrides) from None


def env_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``FITSENSE__...`` variables, sorted by name (part of a run's identity cache key)."""
    return {k: environ[k] for k in sorted(environ) if k.startswith(OVERRIDE_PREFIX)}


def apply_env_overrides(data: dict[str, Any], environ: Mapping[str, str], source: str) -> dict[str, str]:
    """Set each overridden key in ``data``; returns {dotted key: variable name} for error messages."""
    applied: dict[str, str] = {}
    for name, raw in env_overrides(environ).items():
        keys = [part.lower() for part in name[len(OVERRIDE_PREFIX) :].split("__")]
        dotted = ".".join(keys)
        node: Any = data
        for depth, key in enumerate(keys):
            if not isinstance(node, dict) or key not in node or not key:
                where = ".".join(keys[: depth + 1])
                raise ConfigError(f"{name}: {where} is not a key of {source} (overrides name existing keys)")
            if depth < len(keys) - 1:
                node = node[key]
        node[keys[-1]] = _env_value(name, raw)
        applied[dotted] = name
    return applied


def _env_value(name: str, raw: str) -> Any:
    try:
        value = yaml.load(raw, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: not a valid YAML value: {str(exc).splitlines()[0]}") from None
    # YAML would turn 2026-02-17 into a date; the schema wants the text
    return raw if isinstance(value, dt.date) else value


def _blame_override(exc: ConfigError, source: str, overrides: Mapping[str, str]) -> ConfigError:
    detail = str(exc).removeprefix(f"{source}: ")
    key = detail.split(":", 1)[0]
    for dotted, name in overrides.items():
        if key == dotted or key.startswith(dotted + "."):
            return ConfigError(f"{name} (overrides {dotted} in {source}): {detail.split(': ', 1)[-1]}")
    return exc


def describe_schema_error(error: Any) -> str:
    """Turn a jsonschema error into 'key.path: expected X, got Y'."""
    path = ".".join(str(p) for p in error.absolute_path)
    kind = error.validator
    if kind == "required":
        missing = error.message.split("'")[1]
        return f"{_join(path, missing)}: missing key"
    if kind == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"{_join(path, extra[0])}: unknown key"
    where = path or "(top level)"
    seen = _show(error.instance)
    if kind == "type":
        return f"{where}: expected {error.validator_value}, got {seen}"
    if kind == "enum":
        options = ", ".join(map(_show, error.validator_value))
        return f"{where}: expected one of {options}, got {seen}"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {
            "minimum": ">=",
            "maximum": "<=",
            "exclusiveMinimum": ">",
            "exclusiveMaximum": "<",
        }
        return f"{where}: expected a value {words[kind]} {error.validator_value}, got {seen}"
    if kind == "oneOf":
        kinds = [s.get("type") for s in error.validator_value]
        if any(k == "null" for k in kinds):
            details = next(s for s in error.validator_value if s.get("type") != "null")
            want = details.get("type", "value")
            if "pattern" in details:
                want += f" matching {details['pattern']}"
            return f"{where}: expected null or {want}, got {seen}"
    if kind == "pattern":
        return f"{where}: expected text matching {error.validator_value}, got {seen}"
    if kind == "minLength":
        return f"{where}: expected a non-empty string, got {seen}"
    return f"{where}: {error.message}"


def _check_cross_fields(data: Mapping[str, Any], source: str) -> None:
    split = data["dataset"]["split"]
    total = split["train"] + split["val"] + split["test"]
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"{source}: dataset.split: ratios must sum to 1.0, got {total:g}")
    chars = data["dataset"]["response_chars"]
    if chars["min"] >= chars["max"]:
        raise ConfigError(f"{source}: dataset.response_chars: min ({chars['min']}) must be below max ({chars['max']})")
    teacher = data["teacher"]
    if teacher["provider"] == "openai_compatible" and not teacher["base_url"]:
        raise ConfigError(f"{source}: teacher.base_url: required when teacher.provider is openai_compatible")
    breaker = teacher["circuit_breaker"]
    if breaker["min_calls"] > breaker["window"]:
        raise ConfigError(
            f"{source}: teacher.circuit_breaker.min_calls ({breaker['min_calls']}) must not exceed "
            f"window ({breaker['window']})"
        )
    if sum(data["queries"]["per_type"].values()) == 0:
        raise ConfigError(f"{source}: queries.per_type: at least one query is needed")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _build(cls: type, data: Mapping[str, Any]) -> Any:
    """Build a frozen dataclass tree from validated data (mappings and lists, at any depth, become read-only)."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for field in dataclasses.fields(cls):
        if field.name not in data:
            continue
        value, hint = data[field.name], hints[field.name]
        if dataclasses.is_dataclass(hint):
            value = _build(hint, value)
        elif isinstance(value, dict | list):
            value = _frozen(value)
        elif hint in (float, float | None) and isinstance(value, int):
            value = float(value)
        kwargs[field.name] = value
    return cls(**kwargs)


def _frozen(value: Any) -> Any:
    """A read-only copy: mappings become read-only mappings and lists tuples, all the way down (a config that
    one stage could change under another would break the fingerprint's promise)."""
    if isinstance(value, dict):
        return types.MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
