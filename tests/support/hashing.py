"""The one data-file hasher of the tests: which files are a run's data, their sha256, and how two runs differ.

A run's data are the files in the data stages' directories (the world's tables, queries, teacher
responses, the dataset; see ``layout.DATA_STAGES``), never manifests (they hold timestamps), the
teacher cache or the reports. By default only tables and rows (``.parquet``, ``.jsonl``) count;
``every_file=True`` adds the stages' other files (dataset card, summaries). The same selection applies
to a local data root and to the object keys of an S3 one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow.parquet as pq

from fitsense_luigi.contracts.files import StageFile
from tests.support import layout

ROW_SUFFIXES = (".parquet", ".jsonl")


def sha256(data: bytes | Path) -> str:
    return hashlib.sha256(data if isinstance(data, bytes) else data.read_bytes()).hexdigest()


def is_data_file(relative: str, run_id: str = "*", *, every_file: bool = False, shards: bool = True) -> bool:
    """Is ``relative`` (a path under the data root, ``/``-separated) one of a run's data files?

    ``run_id="*"``: of any run. ``shards=False`` leaves the steps of fanned-out stages out (the query plan,
    the query and teacher shards: so that runs with other shard counts compare equal); a world part's
    tables always count (they are the world's tables).
    """
    if layout.is_manifest(relative) or (not every_file and PurePosixPath(relative).suffix not in ROW_SUFFIXES):
        return False
    kept = (*layout.DATA_STAGES, *layout.WORLD_PART_STAGES, *(layout.SHARD_STAGES if shards else ()))
    return any(layout.matches(relative, layout.stage_files_glob(stage, run_id)) for stage in kept)


def data_files(root: Path, run_id: str = "*", *, every_file: bool = False, shards: bool = True) -> dict[str, Path]:
    """The data files of one run (or of every run) under ``root``, by path relative to it, sorted."""
    found = {}
    for stage in (*layout.DATA_STAGES, *layout.WORLD_PART_STAGES, *layout.SHARD_STAGES):
        for path in root.glob(layout.stage_files_glob(stage, run_id)):
            relative = path.relative_to(root).as_posix()
            if path.is_file() and is_data_file(relative, run_id, every_file=every_file, shards=shards):
                found[relative] = path
    return dict(sorted(found.items()))


def digests(root: Path, run_id: str = "*", *, every_file: bool = False, shards: bool = True) -> dict[str, str]:
    """sha256 of every data file of a local run, by relative path."""
    return {rel: sha256(p) for rel, p in data_files(root, run_id, every_file=every_file, shards=shards).items()}


def object_digests(
    objects: Mapping[str, bytes], run_id: str = "*", *, every_file: bool = False, shards: bool = True
) -> dict[str, str]:
    """The same for an S3 data root: ``objects`` maps keys relative to the root to their bodies."""
    return {
        key: sha256(body)
        for key, body in sorted(objects.items())
        if is_data_file(key, run_id, every_file=every_file, shards=shards)
    }


def _without(value: Any, measurements: Iterable[str]) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, measurements) for k, v in value.items() if k not in measurements}
    if isinstance(value, list):
        return [_without(v, measurements) for v in value]
    return value


def _content(path: Path, measurements: tuple[str, ...]) -> Any:
    if path.suffix == ".parquet":
        return _without(pq.read_table(path).to_pylist(), measurements)
    return [_without(json.loads(line), measurements) for line in path.read_text().splitlines()]


def differences(root: Path, reference: Path, measurements: tuple[str, ...] = ("latency_ms",)) -> list[str]:
    """Data files of the runs under ``root`` that differ from ``reference``'s (or exist in one of them only).

    Byte for byte, except that files carrying per-call measurements of a real teacher (``latency_ms``:
    no two runs against a network agree on it) are compared row by row without those keys; everything
    else in them must match. ``measurements=()``: byte for byte, every file.
    """
    mine, theirs = data_files(root), data_files(reference)
    found = [f"only in one run: {name}" for name in sorted(set(mine) ^ set(theirs))]
    for name in sorted(set(mine) & set(theirs)):
        if mine[name].read_bytes() == theirs[name].read_bytes():
            continue
        if not measurements or _content(mine[name], measurements) != _content(theirs[name], measurements):
            found.append(name)
    return found


def restamp(run: layout.RunFiles, file: StageFile, data: bytes, rows: int | None = None) -> Path:
    """A writer fault: replace a finished stage's file and its manifest entry, as a buggy stage would have
    written them (the checksum taken after the damage, so the manifest agrees with the file)."""
    path = run.path(file)
    path.write_bytes(data)
    manifest_path = run.manifest(file.stage)
    manifest = json.loads(manifest_path.read_text())
    entry = manifest["files"][path.relative_to(run.data_root).as_posix()]
    entry.update(sha256=sha256(data), bytes=len(data), **({} if rows is None else {"rows": rows}))
    manifest_path.write_text(json.dumps(manifest))
    return path
