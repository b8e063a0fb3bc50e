"""The `luigi` command as users run it, from the tests: environment, invocation, and a finished small run.

Tests run the pipeline the way users do (the `luigi` command in a subprocess, real files under a
temporary data root). ``build_run`` makes one complete run; the ``built_run`` fixture (tests/conftest.py)
builds one small run per session that read-only tests share. ``finish_run`` writes only what a finished
run leaves for the next one (for tests of the drift baseline, on a local or an S3 data root).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fitsense_luigi.contracts import files, stages
from fitsense_luigi.contracts.dataroot import DataRoot
from fitsense_luigi.contracts.manifest import GATE_PASSED
from fitsense_luigi.pipeline.store import RunStore
from tests.support import params as test_params
from tests.support.layout import RunFiles

REPO = test_params.REPO
LUIGI = str(Path(sys.executable).with_name("luigi"))
RUN_ID = "2026-02-17"  # the run id of the shared runs; its date is the as-of date

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


@dataclass
class LuigiResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def luigi_env(data_root: Path, params: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a run under test: its data root, its params file and the test luigi.cfg beside it."""
    cfg = params.parent / "test-luigi.cfg"
    cfg.write_text(TEST_LUIGI_CFG.format(pid_dir=params.parent / "luigi-pids"))
    env = dict(os.environ)
    env.update({"FITSENSE_DATA_ROOT": str(data_root), "FITSENSE_PARAMS": str(params), "LUIGI_CONFIG_PATH": str(cfg)})
    env.update(extra or {})
    return env


def luigi_command(task: str, run_id: str, *extra_args: str) -> list[str]:
    return [LUIGI, "--module", "fitsense_luigi", task, "--local-scheduler", "--run-id", run_id, *extra_args]


def start_luigi(
    task: str, run_id: str, data_root: Path, params: Path, *, env: dict[str, str] | None = None, **popen: Any
) -> subprocess.Popen[Any]:
    """The `luigi` command started in the background (a run to kill, or to watch while it works)."""
    command = luigi_command(task, run_id)
    return subprocess.Popen(command, cwd=REPO, env=luigi_env(data_root, params, env), **popen)


def watch_luigi(
    task: str, run_id: str, data_root: Path, params: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """The `luigi` command in the background in its own session, its output (stdout and stderr) one text pipe."""
    return start_luigi(
        task,
        run_id,
        data_root,
        params,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


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
    proc = subprocess.run(
        luigi_command(task, run_id, *extra_args),
        cwd=REPO,
        env=luigi_env(data_root, params, env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return LuigiResult(proc.returncode, proc.stdout, proc.stderr)


@dataclass
class BuiltRun:
    """A finished run: where it lives, its params file and what the `luigi` command said."""

    data_root: Path
    params: Path
    run_id: str
    result: LuigiResult

    @property
    def files(self) -> RunFiles:
        return RunFiles(self.data_root, self.run_id)

    @property
    def reports(self) -> Path:
        return self.files.reports


def build_run(
    base: Path, overrides: dict | None = None, *, task: str = "BiasSlicing", run_id: str = RUN_ID, small: bool = True
) -> BuiltRun:
    """``task`` (and everything it needs) for ``run_id`` under ``base/data``: the small scale (or the shipped
    defaults, ``small=False``) plus ``overrides``."""
    params = test_params.write_params(base / "params.yaml", overrides, small=small)
    data_root = base / "data"
    result = run_luigi(task, run_id, data_root, params)
    assert result.returncode == 0, result.output[-4000:]
    return BuiltRun(data_root, params, run_id, result)


def finish_run(root: Path | DataRoot | str, run_id: str, *, gate_passed: bool, stats: dict | None = None) -> None:
    """What a finished run leaves for the next one's drift baseline: its record, statistics and gate verdict."""
    store = RunStore(root, run_id)
    with store.writer(stages.BOOTSTRAP, fingerprint="f") as out:
        out.json(files.BOOTSTRAP_RECORD, {"run_id": run_id, "params": {"world": {"users": 100}}})
    with store.writer(stages.STATS, fingerprint="f") as out:
        out.json(files.STATS_REPORT, stats or {"splits": {}})
    with store.writer(stages.BIAS, fingerprint="f") as out:
        out.summary[GATE_PASSED] = gate_passed
