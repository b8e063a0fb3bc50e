"""The one params builder of the tests: the shipped params.yaml, the shared small scale, and overrides.

Every test that needs params starts from the checkout's ``config/params.yaml`` and merges overrides
into it key by key, then either writes the result (for the ``luigi`` command) or validates it into a
``Config`` (for domain functions), through the same loader the pipeline uses.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from fitsense_luigi.config import Config, validate_params

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PARAMS = REPO / "config" / "params.yaml"

# The shared test scale: 120 users over four weeks, 12 requests of each type (48), two teacher shards.
SMALL: dict[str, Any] = {
    "world": {"users": 120, "lookback_days": 28},
    "queries": {
        "per_type": {"plan_creation": 12, "plan_modification": 12, "safety_adjustment": 12, "progress_adaptation": 12}
    },
    "teacher": {"shards": 2},
}
SMALL_QUERIES = sum(SMALL["queries"]["per_type"].values())


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` merged in key by key (a mapping merges into a mapping; anything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def default_params() -> dict[str, Any]:
    """The shipped params file as a fresh dict."""
    return yaml.safe_load(DEFAULT_PARAMS.read_text())


def params(overrides: dict[str, Any] | None = None, *, small: bool = True) -> dict[str, Any]:
    """Defaults (at the small test scale unless ``small=False``) with ``overrides`` merged in."""
    base = deep_merge(default_params(), SMALL) if small else default_params()
    return deep_merge(base, overrides or {})


def write_params(path: Path, overrides: dict[str, Any] | None = None, *, small: bool = True) -> Path:
    """Write ``params(overrides, small=small)`` to ``path`` (a params file for the ``luigi`` command)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(params(overrides, small=small), sort_keys=False))
    return path


def config(overrides: dict[str, Any] | None = None, *, small: bool = True, source: str = "test-params") -> Config:
    """The validated config of ``params(overrides, small=small)``: what the loader makes of that file."""
    return validate_params(params(overrides, small=small), source)
