"""Opening a run: config, data root, as-of date, fingerprint and the guard against reuse.

Everything that can be wrong with the input is checked here, when a task is
first instantiated, before Luigi schedules any work and before any directory is
created: a bad params file, a bad run id, an unwritable data root, or an
existing run id asked for with a different config. This is also where the data
root is resolved, once, into a local or S3 root.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fitsense_luigi.config import (
    DATA_ROOT_ENV,
    Config,
    changed_params,
    env_overrides,
    load_config,
    override_key,
    params_path,
)
from fitsense_luigi.contracts import files
from fitsense_luigi.contracts.manifest import BootstrapRecord
from fitsense_luigi.contracts.stages import BOOTSTRAP
from fitsense_luigi.errors import ConfigError, CorruptInputError, RunConflictError
from fitsense_luigi.pipeline import identity
from fitsense_luigi.pipeline.roots import open_data_root
from fitsense_luigi.pipeline.store import RunStore
from fitsense_luigi.teacher.credentials import read_key
from fitsense_luigi.wording import counted


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
    digest = identity.fingerprint(config.as_dict(), as_of)
    if recorded and recorded.get("config_fingerprint") != digest:
        raise config_conflict(run_id, root.uri(), recorded, config, as_of, path, dict(overrides))
    recorded_part = ((recorded or {}).get("params") or {}).get("run", {}).get("users_per_part")
    if recorded_part is not None and recorded_part != config.run.users_per_part:
        raise RunConflictError(  # operational, but the world's parts of one run must all have one size
            f"run {run_id!r} under {root.uri()} splits its world into parts of {recorded_part} users, but "
            f"{path} now says run.users_per_part: {config.run.users_per_part}: restore it, or use a new --run-id"
        )
    return RunContext(run_id, config, Path(path), as_of, digest, store)


def config_conflict(
    run_id: str,
    where: str,
    recorded: BootstrapRecord,
    config: Config,
    as_of: dt.date,
    path: str,
    overrides: dict[str, str],
) -> RunConflictError:
    """Which keys changed since the run was made, old and new value, and where each new value comes from."""
    now = config.as_dict()
    now["run"]["as_of_date"] = as_of.isoformat()
    changes = changed_params(recorded.get("params") or {}, now)
    head = f"run {run_id!r} under {where} was made with another config"
    advice = "use a new --run-id, or restore the old values"
    if not changes:  # e.g. a run made by a release that fingerprinted differently
        then, now_digest = str(recorded.get("config_fingerprint"))[:12], identity.fingerprint(now, as_of)[:12]
        return RunConflictError(
            f"{head} (fingerprint {then}, now {now_digest}, though no parameter differs; made with "
            f"fitsense-luigi {recorded.get('package_version')}): {advice}"
        )
    by_key = {override_key(name): name for name in overrides}
    made_with = recorded.get("params_file")
    file_note = f"; the run was made with {made_with}" if made_with and made_with != path else ""
    lines = [f"{head} ({counted(len(changes), 'key')} differ{'s' if len(changes) == 1 else ''}): {advice}"]
    for key, (before, after) in changes.items():
        source = next((by_key[k] for k in by_key if key == k or key.startswith(k + ".")), None)
        origin = f"from {source}" if source else f"from {path}{file_note}"
        if key == "run.as_of_date" and not source and config.run.as_of_date is None:
            origin = "the day the run id names, else the day the run was first made"
        lines.append(f"{key}: {_shown(before)} when the run was made, {_shown(after)} now ({origin})")
    return RunConflictError.all_of(lines)


def _shown(value: Any) -> str:
    text = json.dumps(value, separators=(", ", ": "), default=str)
    return text if len(text) <= 80 else text[:77] + "..."


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
