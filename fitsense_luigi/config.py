"""One validated, immutable config object per params file.

This is the only module that reads YAML. It validates the whole file against
``config/schemas/params.schema.json`` and reports every problem it finds in one
pass, one line per problem naming the file, the key path, what was expected and
what was seen, so that a bad cron job says exactly what to fix, all at once.
Where the schema expects a date (``"format": "date"``), an unquoted YAML date
(``as_of_date: 2026-06-01``) is read as that date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
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
    ("run", "duckdb_memory_mb"),
    ("run", "duckdb_threads"),
    ("run", "users_per_part"),  # how the work is split, not what it makes (GenerateProfiles checks the parts agree)
    ("teacher", "api_key_env"),
    ("teacher", "shards"),
    ("teacher", "concurrency"),
    ("teacher", "processes"),
    ("teacher", "transport"),
    ("teacher", "requests_per_minute"),
    ("teacher", "tokens_per_minute"),
    ("teacher", "circuit_breaker"),
    ("teacher", "timeouts"),
    ("teacher", "retries"),
    ("teacher", "cache"),
    ("teacher", "response_format_fallback"),
    ("teacher", "unusable_warn_share"),
    ("teacher", "max_response_mb"),
    ("teacher", "batch", "completion_window"),
    ("teacher", "batch", "max_lines"),
    ("teacher", "batch", "max_bytes"),
    ("teacher", "batch", "poll_initial_s"),
    ("teacher", "batch", "poll_max_s"),
    ("teacher", "batch", "wait_s"),
    ("teacher", "batch", "max_submissions"),
    ("quality", "on_failure"),
    ("evaluation",),  # which student is evaluated against a run does not change the run
    ("release",),  # nor where its dataset is published
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


def changed_params(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """{dotted key: (before, after)} for every significant param whose value differs (``MISSING`` where absent)."""
    old, new = _flat(significant_params(before)), _flat(significant_params(after))
    return {
        key: (old.get(key, MISSING), new.get(key, MISSING))
        for key in sorted(set(old) | set(new))
        if old.get(key, MISSING) != new.get(key, MISSING)
    }


MISSING = "(absent)"


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict) or not tree:
        return {prefix: tree} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def override_key(variable: str) -> str:
    """The dotted key a ``FITSENSE__SECTION__KEY`` variable overrides (``teacher.base_url``)."""
    return ".".join(part.lower() for part in variable[len(OVERRIDE_PREFIX) :].split("__"))


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
    duckdb_memory_mb: int  # memory cap of the out-of-core world reads (they spill to disk beyond it)
    duckdb_threads: int | None  # None: every core
    users_per_part: int  # world parts (a task each); a multiple of the 1000-user generation block


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
class BatchSection:
    completion_window: str
    max_lines: int
    max_bytes: int
    poll_initial_s: float
    poll_max_s: float
    wait_s: float
    max_submissions: int
    discount: float


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
    processes: int | str  # a number, or "auto" (see teacher/fanout.py)
    transport: str  # auto (an event loop where it can serve) | threads (see teacher/workers.py)
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
    batch: BatchSection
    samples_per_query: int
    max_response_mb: float


@dataclass(frozen=True)
class CharRange:
    min: int
    max: int


@dataclass(frozen=True)
class SplitRatios:
    train: float
    validation: float
    test: float

    def as_dict(self) -> dict[str, float]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


@dataclass(frozen=True)
class StudentSection:
    system_prompt: str


@dataclass(frozen=True)
class TokensSection:
    tokenizer: str | None  # path of the student's tokenizer.json; None: estimated counts
    max_total: int | None  # records needing more tokens are dropped; None: no limit


@dataclass(frozen=True)
class DatasetSection:
    response_chars: CharRange
    near_duplicate_jaccard: float
    split: SplitRatios
    student: StudentSection
    tokens: TokensSection


@dataclass(frozen=True)
class EvaluationSection:
    """The student endpoint EvaluateStudent sends the test prompts to."""

    provider: str
    model: str
    base_url: str | None
    api_key_env: str
    temperature: float
    max_tokens: int
    concurrency: int


@dataclass(frozen=True)
class ReleaseSection:
    registry: str | None  # the data registry's git repository; None: <data_root>/registry
    remote: str | None  # the DVC remote; None: <data_root>/dvc-remote
    name: str


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
    evaluation: EvaluationSection
    release: ReleaseSection
    source: str = ""  # the params file this came from, for messages

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every parameter (without ``source``)."""
        out = _plain(self)
        out.pop("source", None)
        return out


# ---------------------------------------------------------------- loading


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that notes duplicate keys (every one of them) instead of silently keeping the last value."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, Any]] = []  # (line, key)


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            loader.duplicates.append((key_node.start_mark.line + 1, key))
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


def _load_yaml(text: str) -> tuple[Any, list[tuple[int, Any]]]:
    loader = _UniqueKeyLoader(text)
    try:
        return loader.get_single_data(), loader.duplicates
    finally:
        loader.dispose()


def _construct_timestamp(loader: _UniqueKeyLoader, node: yaml.ScalarNode) -> Any:
    """A date-shaped scalar that is no day of the calendar (2026-02-30) stays text, for the checks to name."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


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
        data, duplicates = _load_yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None
    if duplicates:
        raise ConfigError.all_of(
            [f"{path}:{line}: duplicate key {key!r}: each key may appear once per mapping" for line, key in duplicates]
        )
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
    """Schema check, then the cross-field rules a schema cannot express: every problem, in file order."""
    data = _dates_as_text(data)
    problems = param_problems(data)
    if problems:
        raise ConfigError.all_of([f"{source}: {p}" for p in problems])
    return _build(Config, dict(data, source=source))


def param_problems(data: Mapping[str, Any]) -> list[str]:
    """Every problem of ``data`` as 'key.path: expected X, got Y', in the order the keys appear."""
    errors = list(params_validator().iter_errors(data))
    described = [p for e in sorted(errors, key=lambda e: e.validator) for p in describe_schema_errors(e)]
    problems = _pair_misspellings(sorted(described, key=lambda p: _file_order(data, p.split(":")[0].split("."))))
    if not errors:  # the cross-field rules read values of the right types
        problems += _cross_field_problems(data)
    problems += _date_problems(data)
    return list(dict.fromkeys(problems))


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """The params file, then ``FITSENSE__SECTION__KEY`` overrides from the environment, validated as one.

    Problems in the environment and in the file are reported together, each
    one blamed on the variable or the file it comes from.
    """
    path = path or params_path()
    data = read_params(path)
    overrides, env_problems = _apply_env_overrides(data, os.environ if environ is None else environ, str(path))
    try:
        config = validate_params(data, str(path))
    except ConfigError as exc:
        problems = [_blame_override(p, str(path), overrides) for p in exc.problems]
        raise ConfigError.all_of(env_problems + problems) from None
    if env_problems:
        raise ConfigError.all_of(env_problems)
    return config


def env_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``FITSENSE__...`` variables, sorted by name (part of a run's identity cache key)."""
    return {k: environ[k] for k in sorted(environ) if k.startswith(OVERRIDE_PREFIX)}


def apply_env_overrides(data: dict[str, Any], environ: Mapping[str, str], source: str) -> dict[str, str]:
    """Set each overridden key in ``data``; returns {dotted key: variable name} for error messages."""
    applied, problems = _apply_env_overrides(data, environ, source)
    if problems:
        raise ConfigError.all_of(problems)
    return applied


def _apply_env_overrides(
    data: dict[str, Any], environ: Mapping[str, str], source: str
) -> tuple[dict[str, str], list[str]]:
    """({dotted key: variable name} of the overrides applied, a problem line per variable that could not be)."""
    applied: dict[str, str] = {}
    problems: list[str] = []
    for name, raw in env_overrides(environ).items():
        dotted = override_key(name)
        keys = dotted.split(".")
        node: Any = data
        for depth, key in enumerate(keys):
            if not isinstance(node, dict) or key not in node or not key:
                where = ".".join(keys[: depth + 1])
                problems.append(f"{name}: {where} is not a key of {source} (overrides name existing keys)")
                break
            if depth < len(keys) - 1:
                node = node[key]
        else:
            try:
                node[keys[-1]] = _env_value(name, raw)
            except ConfigError as exc:
                problems.append(str(exc))
                continue
            applied[dotted] = name
    return applied, problems


def _env_value(name: str, raw: str) -> Any:
    try:
        value, _ = _load_yaml(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: not a valid YAML value: {str(exc).splitlines()[0]}") from None
    # YAML would turn 2026-02-17 into a date; the schema wants the text
    return raw if isinstance(value, dt.date) else value


def _blame_override(problem: str, source: str, overrides: Mapping[str, str]) -> str:
    detail = problem.removeprefix(f"{source}: ")
    key = detail.split(":", 1)[0]
    for dotted, name in overrides.items():
        if key == dotted or key.startswith(dotted + "."):
            return f"{name} (overrides {dotted} in {source}): {detail.split(': ', 1)[-1]}"
    return problem


def _file_order(data: Mapping[str, Any], path: list[Any]) -> list[int]:
    """Where a key path sits in the file: positions of its keys in their mappings (YAML keeps file order)."""
    order, node = [], data
    for key in path:
        keys = list(node) if isinstance(node, Mapping) else []
        order.append(keys.index(key) if key in keys else len(keys))
        node = node.get(key) if isinstance(node, Mapping) else None
    return order


def _pair_misspellings(problems: list[str]) -> list[str]:
    """'world.lookbak_days: unknown key' and 'world.lookback_days: missing key' are one typo: say so, once."""
    unknown = [p.removesuffix(": unknown key") for p in problems if p.endswith(": unknown key")]
    missing = [p.removesuffix(": missing key") for p in problems if p.endswith(": missing key")]
    paired: dict[str, str] = {}
    for key in unknown:
        parent, _, name = key.rpartition(".")
        siblings = {m.rpartition(".")[2]: m for m in missing if m.rpartition(".")[0] == parent and m not in paired}
        match = difflib.get_close_matches(name, list(siblings), n=1, cutoff=0.75)
        if match:
            paired[siblings[match[0]]] = key
    out = []
    for p in problems:
        key = p.removesuffix(": unknown key")
        if p.endswith(": missing key") and p.removesuffix(": missing key") in paired:
            continue
        if p.endswith(": unknown key") and key in paired.values():
            wanted = next(m for m, u in paired.items() if u == key).rpartition(".")[2]
            out.append(f"{key}: unknown key (did you mean {wanted}?)")
        else:
            out.append(p)
    return out


def _date_paths(schema: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Key paths where the schema expects a date (``"format": "date"``, alone or in a ``oneOf``)."""
    paths = []
    for key, sub in schema.get("properties", {}).items():
        here = (*prefix, key)
        if sub.get("format") == "date" or any(b.get("format") == "date" for b in sub.get("oneOf", [])):
            paths.append(here)
        paths += _date_paths(sub, here)
    return paths


def _at(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _dates_as_text(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """An unquoted YAML date where a date is expected, as the ISO text the schema takes (a copy; ``data`` stays)."""
    found = [p for p in _date_paths(load_schema("params.schema.json")) if type(_at(data, p)) is dt.date]
    if not found:
        return data
    out = json.loads(json.dumps(data, default=str))
    for path in found:
        *parents, last = path
        node = out
        for key in parents:
            node = node[key]
        node[last] = _at(data, path).isoformat()
    return out


def _date_problems(data: Mapping[str, Any]) -> list[str]:
    """Dates of the right shape that are not days of the calendar (2026-02-30)."""
    problems = []
    for path in _date_paths(load_schema("params.schema.json")):
        value = _at(data, path)
        if isinstance(value, str) and len(value) == 10:
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                problems.append(f"{'.'.join(path)}: expected a real date (YYYY-MM-DD), got {value!r}")
    return problems


def describe_schema_errors(error: Any) -> list[str]:
    """A jsonschema error as problem lines (one per unknown key, where one error names several)."""
    if error.validator == "additionalProperties":
        path = ".".join(str(p) for p in error.absolute_path)
        known = error.schema.get("properties", {})
        return [f"{_join(path, str(extra))}: unknown key" for extra in error.instance if extra not in known]
    return [describe_schema_error(error)]


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


def _cross_field_problems(data: Mapping[str, Any]) -> list[str]:
    problems = []
    split = data["dataset"]["split"]
    total = split["train"] + split["validation"] + split["test"]
    if abs(total - 1.0) > 1e-6:
        problems.append(f"dataset.split: ratios must sum to 1.0, got {total:g}")
    chars = data["dataset"]["response_chars"]
    if chars["min"] >= chars["max"]:
        problems.append(f"dataset.response_chars: min ({chars['min']}) must be below max ({chars['max']})")
    teacher = data["teacher"]
    if teacher["provider"] == "openai_compatible" and not teacher["base_url"]:
        problems.append("teacher.base_url: required when teacher.provider is openai_compatible")
    if teacher["provider"] == "openai_batch" and not teacher["cache"]["enabled"]:
        problems.append(
            "teacher.cache.enabled: must be true when teacher.provider is openai_batch "
            "(batch answers reach the responses through the cache)"
        )
    batch = teacher["batch"]
    if batch["poll_initial_s"] > batch["poll_max_s"]:
        problems.append(
            f"teacher.batch.poll_initial_s ({batch['poll_initial_s']:g}) must not exceed "
            f"poll_max_s ({batch['poll_max_s']:g})"
        )
    student = data["evaluation"]
    if student["provider"] == "openai_compatible" and not student["base_url"]:
        problems.append("evaluation.base_url: required when evaluation.provider is openai_compatible")
    breaker = teacher["circuit_breaker"]
    if breaker["min_calls"] > breaker["window"]:
        problems.append(
            f"teacher.circuit_breaker.min_calls ({breaker['min_calls']}) must not exceed window ({breaker['window']})"
        )
    if sum(data["queries"]["per_type"].values()) == 0:
        problems.append("queries.per_type: at least one query is needed")
    return problems


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    if isinstance(value, dt.date):  # an unquoted date where text is expected
        return f"{value.isoformat()} (YAML reads it as a date: quote it)"
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
