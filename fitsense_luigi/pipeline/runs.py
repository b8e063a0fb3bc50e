"""Opening a run: config, data root, as-of date, fingerprint and the guard against reuse.

Everything that can be wrong with the input is checked here, when a task is
first instantiated, before Luigi schedules any work and before any directory is
created: a bad params file, a bad run id, an unwritable data root, or an
existing run id asked for with a different config. This is also where the data
root is resolved, once, into a local or S3 root.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fitsense_luigi.config import DATA_ROOT_ENV, Config, env_overrides, load_config, params_path
from fitsense_luigi.contracts import files
from fitsense_luigi.contracts.manifest import BootstrapRecord
from fitsense_luigi.contracts.stages import BOOTSTRAP
from fitsense_luigi.errors import ConfigError, CorruptInputError, RunConflictError
from fitsense_luigi.pipeline import identity
from fitsense_luigi.pipeline.roots import open_data_root
from fitsense_luigi.pipeline.store import RunStore
from fitsense_luigi.teacher.credentials import read_key


@dataclass(frozen=True)
class RunContext:
    run_id: str
    config: Config
    params_file: Path
    as_of_date: dt.date
    fingerprint: str
    store: RunStore

    @property
    def seed(self) -> int:
        return self.config.reproducibility.seed

    def resolved_params(self) -> dict[str, Any]:
        params = self.config.as_dict()
        params["run"] = dict(params["run"], as_of_date=self.as_of_date.isoformat(), data_root=self.store.uri(""))
        return params


def open_run(run_id: str) -> RunContext:
    path = params_path()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = -1
    overrides = tuple(env_overrides(os.environ).items())
    context = _open_run(identity.check_run_id(run_id), str(path), stamp, os.environ.get(DATA_ROOT_ENV, ""), overrides)
    check_teacher_key(context.config)
    return context


def check_teacher_key(config: Config) -> None:
    """A key that cannot travel in a header fails before any work (one line, never showing it), and is
    registered for redaction in this process before anything can log it."""
    if config.teacher.provider == "openai_compatible":
        read_key(config.teacher.api_key_env)


@cache
def _open_run(
    run_id: str, path: str, _stamp: int, root_env: str, overrides: tuple[tuple[str, str], ...] = ()
) -> RunContext:
    config = load_config(Path(path), dict(overrides))
    root = open_data_root(root_env or config.run.data_root)
    root.check()
    store = RunStore(root, run_id)
    recorded = read_bootstrap_record(store)
    try:
        as_of = identity.resolve_as_of_date(
            config.run.as_of_date, run_id, recorded.get("as_of_date") if recorded else None
        )
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    fingerprint = identity.fingerprint(config.as_dict(), as_of)
    if recorded and recorded.get("config_fingerprint") != fingerprint:
        raise RunConflictError(
            f"run {run_id!r} under {root.uri()} was made with config fingerprint "
            f"{str(recorded.get('config_fingerprint'))[:12]}, but {path} now gives {fingerprint[:12]}: "
            f"use a new --run-id (or restore the old params)"
        )
    return RunContext(run_id, config, Path(path), as_of, fingerprint, store)


def read_bootstrap_record(store: RunStore) -> BootstrapRecord | None:
    """The run's record of its config, verified against the bootstrap manifest; None before Bootstrap finished.

    A damaged record must stop the run: without it a changed config would go
    unnoticed and mix into the stages still to build, and rebuilding it would
    record whatever config is current, so the usual "delete the manifest" is no fix.
    """
    if not store.is_complete(BOOTSTRAP):
        return None
    where = store.uri(store.key(files.BOOTSTRAP_RECORD))
    try:
        record = store.read_json(files.BOOTSTRAP_RECORD)
    except (CorruptInputError, ValueError) as exc:
        reason = str(exc).removeprefix(f"{where}: ").split(";")[0]
        raise CorruptInputError(
            f"{where}: {reason}; this record is how run {store.run_id!r} checks its config, so nothing more is "
            f"built: restore it, or use a new --run-id"
        ) from None
    if not isinstance(record, dict):
        raise CorruptInputError(f"{where}: expected a JSON object; restore it, or use a new --run-id")
    return record
