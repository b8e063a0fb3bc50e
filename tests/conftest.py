"""Shared test harness: small params files, a real `luigi` subprocess, one shared small run.

Tests run the pipeline the way users do (the `luigi` command in a subprocess,
real files under a temporary data root); `built_run` builds one small run per
test session that read-only tests share.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PARAMS = REPO / "config" / "params.yaml"
LUIGI = str(Path(sys.executable).with_name("luigi"))

# Retries off and no waiting: a failing task fails the invocation at once (retry_count 1: with retries on, even
# keep_alive = false runs a failed task again, at once when retry_delay is 0). Luigi's pid lock lives beside the
# params file ({pid_dir}), so that identical command lines of other test sessions never look "already running".
TEST_LUIGI_CFG = """
[core]
lock_pid_dir = {pid_dir}
[worker]
keep_alive = false
[scheduler]
retry_delay = 0
retry_count = 1
"""

SMALL = {
    "world": {"users": 120, "lookback_days": 28},
    "queries": {
        "per_type": {"plan_creation": 12, "plan_modification": 12, "safety_adjustment": 12, "progress_adaptation": 12}
    },
    "teacher": {"shards": 2},
}


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def default_params() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_PARAMS.read_text())


@pytest.fixture
def write_params(tmp_path: Path) -> Callable[..., Path]:
    """write_params(overrides, name=...) -> path of a params file = defaults (small scale) + overrides."""

    def write(overrides: dict[str, Any] | None = None, *, small: bool = True, name: str = "params.yaml") -> Path:
        params = deep_merge(default_params(), SMALL) if small else default_params()
        params = deep_merge(params, overrides or {})
        path = tmp_path / name
        path.write_text(yaml.safe_dump(params, sort_keys=False))
        return path

    return write


@dataclass
class LuigiResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def luigi_env(data_root: Path, params: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    cfg = params.parent / "test-luigi.cfg"
    cfg.write_text(TEST_LUIGI_CFG.format(pid_dir=params.parent / "luigi-pids"))
    env = dict(os.environ)
    env.update({"FITSENSE_DATA_ROOT": str(data_root), "FITSENSE_PARAMS": str(params), "LUIGI_CONFIG_PATH": str(cfg)})
    env.update(extra or {})
    return env


def run_luigi(
    task: str,
    run_id: str,
    data_root: Path,
    params: Path,
    *extra_args: str,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> LuigiResult:
    """The `luigi` command, from the repository root, as a user or cron would run it."""
    args = [LUIGI, "--module", "fitsense_luigi", task, "--local-scheduler", "--run-id", run_id, *extra_args]
    proc = subprocess.run(
        args, cwd=REPO, env=luigi_env(data_root, params, env), capture_output=True, text=True, timeout=timeout
    )
    return LuigiResult(proc.returncode, proc.stdout, proc.stderr)


@dataclass
class BuiltRun:
    data_root: Path
    params: Path
    run_id: str
    result: LuigiResult

    def path(self, *parts: str) -> Path:
        return self.data_root.joinpath(*parts)

    @property
    def reports(self) -> Path:
        return self.data_root / "reports" / self.run_id


@pytest.fixture(scope="session")
def built_run(tmp_path_factory: pytest.TempPathFactory) -> BuiltRun:
    """One complete small run, shared read-only by the tests of every stage."""
    base = tmp_path_factory.mktemp("built_run")
    params = base / "params.yaml"
    params.write_text(yaml.safe_dump(deep_merge(default_params(), SMALL), sort_keys=False))
    data_root = base / "data"
    result = run_luigi("BiasSlicing", "2026-02-17", data_root, params)
    assert result.returncode == 0, result.output[-4000:]
    return BuiltRun(data_root, params, "2026-02-17", result)
