"""Run-scoped paths, atomic writes and manifests.

Every file the pipeline produces is written to a temporary name beside its
final path and renamed into place, so a reader never sees half a file. A stage
is complete only when its manifest (files, row counts, sha256, config
fingerprint, timings) exists, and the manifest is written last. Readers verify
a file against its manifest before using it, so a file changed after it was
written is caught by name instead of silently feeding the next stage.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import hashlib
import io
import json
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fitsense_luigi._version import __version__
from fitsense_luigi.errors import CorruptInputError, DataRootError, MalformedInputError
from fitsense_luigi.s3 import S3Path, is_s3

if TYPE_CHECKING:
    import pyarrow as pa

DataPath = Path | S3Path  # a location under the data root: local, or s3:// (boto3 is imported only then)


@dataclass(frozen=True)
class Stage:
    """Where one task writes: a run-scoped directory and the manifest that closes it."""

    name: str
    directory: str  # relative to the data root; may use {run_id} and {shard}
    manifest_name: str = "manifest.json"

    def sharded(self, shard: int) -> Stage:
        return Stage(f"{self.name}_{shard:03d}", self.directory.replace("{shard}", f"{shard:03d}"))


REPORTS_DIR = "reports/{run_id}"


def _report_stage(name: str) -> Stage:
    return Stage(name, REPORTS_DIR, f"manifests/{name}.json")


BOOTSTRAP = _report_stage("bootstrap")
PROFILES = Stage("profiles", "raw/synthetic_profiles/{run_id}")
WORKOUTS = Stage("workouts", "raw/synthetic_workouts/{run_id}")
QUERIES = Stage("queries", "raw/synthetic_queries/{run_id}")
TEACHER_SHARD = Stage("teacher_shard", "raw/teacher_outputs/{run_id}/shards/{shard}")
TEACHER = Stage("teacher", "raw/teacher_outputs/{run_id}")
DATASET = Stage("dataset", "raw/distillation_dataset/{run_id}")
VALIDATION = _report_stage("validation")
STATS = _report_stage("stats")
ANOMALIES = _report_stage("anomalies")
BIAS = _report_stage("bias")


def data_path(value: str | os.PathLike[str] | S3Path) -> DataPath:
    """A data-root location: ``s3://bucket/prefix`` becomes an S3Path, anything else a local Path."""
    if isinstance(value, S3Path):
        return value
    if is_s3(str(value)):
        return S3Path.from_uri(str(value))
    return Path(value)


def is_local(path: DataPath) -> bool:
    return isinstance(path, Path)


def sha256_file(path: DataPath) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_TMP_NAME = re.compile(r"^\..+\.tmp-(\d+)-[0-9a-f]+$")


@contextlib.contextmanager
def atomic_path(final: DataPath) -> Iterator[Path]:
    """Yield a local temporary file; it becomes ``final`` only if the block succeeds.

    Locally it is a sibling renamed into place; for S3 it is uploaded as one PUT.
    """
    if not is_local(final):
        with final.staged() as tmp:
            yield tmp
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes_atomic(final: DataPath, data: bytes) -> None:
    if not is_local(final):
        final.write_bytes(data)  # one PUT: the object appears whole or not at all
        return
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)


@contextlib.contextmanager
def local_copy(path: DataPath) -> Iterator[Path]:
    """The file itself when local; a temporary download of the object when on S3."""
    if is_local(path):
        yield path
    else:
        with path.local_copy() as tmp:
            yield tmp


def remove_stale_temporaries(directory: DataPath) -> None:
    """Delete temporaries left by killed processes (their pid no longer runs).

    Only local roots have them: on S3 a write is staged outside the data root.
    """
    if not is_local(directory) or not directory.is_dir():
        return
    for entry in directory.iterdir():
        match = _TMP_NAME.match(entry.name)
        if match and not _pid_alive(int(match.group(1))):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


def remove_earlier_temporaries(final: DataPath) -> None:
    """Delete every temporary of ``final`` whoever left it; only for a writer that holds the file's stage lock.

    The pid in a temporary's name cannot tell a dead writer from a live one when
    pids repeat: ``luigi`` is pid 1 in every container, so a run killed in one
    container leaves ``.x.tmp-1-...`` that pid 1 of the next container would keep
    forever. Only the builder of a stage writes its files, and it holds the
    stage's lock, so any other temporary of the same file is a leftover.
    """
    if not is_local(final) or not final.parent.is_dir():
        return
    prefix = f".{final.name}.tmp-"
    for entry in final.parent.iterdir():
        if entry.name.startswith(prefix) and _TMP_NAME.match(entry.name):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """zstd, and dictionary encoding only where values can repeat.

    A uuid or a timestamp is (nearly) unique per row, so trying a dictionary
    for it only costs time before Parquet falls back to plain encoding: leaving
    those columns out writes the big tables about twice as fast, and smaller.
    """
    import pyarrow as pa

    def unique_per_row(kind: pa.DataType) -> bool:
        return (
            isinstance(kind, pa.BaseExtensionType) or pa.types.is_fixed_size_binary(kind) or pa.types.is_timestamp(kind)
        )

    return {"compression": "zstd", "use_dictionary": [f.name for f in schema if not unique_per_row(f.type)]}


def json_default(value: Any) -> Any:
    """JSON for the numpy, date and decimal values that domain code hands over."""
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps_row(row: Any) -> str:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=json_default)


def dumps_document(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, default=json_default) + "\n"


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RunStore:
    """All reads and writes of one run under one data root."""

    def __init__(self, data_root: str | os.PathLike[str] | S3Path, run_id: str) -> None:
        self.data_root = data_path(data_root)
        self.run_id = run_id

    # -- locations
    def directory(self, stage: Stage) -> DataPath:
        return self.data_root / stage.directory.format(run_id=self.run_id)

    def reports_dir(self) -> DataPath:
        return self.data_root / REPORTS_DIR.format(run_id=self.run_id)

    def path(self, stage: Stage, name: str) -> DataPath:
        return self.directory(stage) / name

    def manifest_path(self, stage: Stage) -> DataPath:
        return self.directory(stage) / stage.manifest_name

    def relative(self, path: DataPath) -> str:
        return path.relative_to(self.data_root).as_posix()

    def lock_path(self, stage: Stage) -> Path:
        """The local file a builder of ``stage`` flocks: under the data root, or for S3 in this host's temp dir
        (flock needs a local file; across hosts luigid is what keeps two workers off one task)."""
        relative = f"locks/{self.run_id}/{stage.name}.lock"
        if is_local(self.data_root):
            return self.data_root / relative
        return Path(tempfile.gettempdir()) / "fitsense-locks" / self.data_root.bucket / self.data_root.key / relative

    # -- completion
    def is_complete(self, stage: Stage) -> bool:
        path = self.manifest_path(stage)
        try:
            return path.is_file()
        except OSError as exc:  # e.g. EIO or EACCES (ENOENT and the like just mean "no")
            raise DataRootError(
                f"{path}: cannot check whether stage {stage.name} is complete: {exc.strerror or exc}", permanent=False
            ) from None

    def manifest(self, stage: Stage) -> dict[str, Any]:
        path = self.manifest_path(stage)
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise CorruptInputError(f"{path}: manifest missing; stage {stage.name} has not finished") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CorruptInputError(
                f"{path}: manifest is not valid JSON; delete it to rebuild stage {stage.name}"
            ) from None

    def manifest_digest(self, stage: Stage) -> str:
        return sha256_file(self.manifest_path(stage))

    # -- writing
    def writer(self, stage: Stage, *, fingerprint: str, inputs: Iterable[Stage] = ()) -> StageWriter:
        return StageWriter(self, stage, fingerprint, {s.name: self.manifest_digest(s) for s in inputs})

    # -- verified reading
    def located(self, stage: Stage, name: str, *, place: str = "stage") -> DataPath:
        return (self.reports_dir() if place == "reports" else self.directory(stage)) / name

    @contextlib.contextmanager
    def verified_local(self, stage: Stage, name: str, *, place: str = "stage") -> Iterator[Path]:
        """A local file whose sha256 matches the stage's manifest: the file itself, or one download from S3."""
        path = self.located(stage, name, place=place)
        entry = self.manifest(stage).get("files", {}).get(self.relative(path))
        if entry is None:
            raise CorruptInputError(f"{path}: not listed in the manifest of stage {stage.name}")
        with contextlib.ExitStack() as stack:
            try:
                local = stack.enter_context(local_copy(path))
                digest = sha256_file(local)
            except FileNotFoundError:
                raise CorruptInputError(
                    f"{path}: listed in the manifest of stage {stage.name} but missing; "
                    f"delete {self.manifest_path(stage)} to rebuild it"
                ) from None
            if digest != entry["sha256"]:
                raise CorruptInputError(
                    f"{path}: checksum does not match the manifest of stage {stage.name} (changed after it "
                    f"was written); delete {self.manifest_path(stage)} to rebuild it"
                )
            yield local

    def verified_path(self, stage: Stage, name: str, *, place: str = "stage") -> DataPath:
        with self.verified_local(stage, name, place=place):
            return self.located(stage, name, place=place)

    def read_table(self, stage: Stage, name: str, columns: list[str] | None = None) -> pa.Table:
        import pyarrow.parquet as pq

        with self.verified_local(stage, name) as local, parquet_reading(self.located(stage, name)):
            return pq.read_table(local, columns=columns)

    def read_json(self, stage: Stage, name: str, *, place: str = "stage") -> Any:
        with self.verified_local(stage, name, place=place) as local:
            return json.loads(local.read_text(encoding="utf-8"))

    def read_jsonl(self, stage: Stage, name: str) -> list[dict[str, Any]]:
        with self.verified_local(stage, name) as local:
            return list(iter_jsonl(local))


@contextlib.contextmanager
def parquet_reading(path: DataPath | str) -> Iterator[None]:
    """Name the file when pyarrow cannot read a Parquet file's content.

    A file that matches its manifest but cannot be decoded was written damaged
    (a failing disk or a writer bug before the checksum was taken); pyarrow's
    own message ("ZSTD decompression failed") does not say which file.
    """
    import pyarrow as pa

    try:
        yield
    except MemoryError:  # pyarrow's ArrowMemoryError is also an ArrowException: not the file's fault
        raise
    except (pa.ArrowException, OSError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise MalformedInputError(
            f"{path}: cannot read this Parquet file ({detail}); delete its stage's manifest to rebuild it"
        ) from None


def iter_jsonl(path: DataPath) -> Iterator[dict[str, Any]]:
    """Rows of a JSONL file; a malformed line is reported with file and line."""
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise MalformedInputError(f"{path}:{number}: not a JSON object: {exc.msg}") from None
            if not isinstance(row, dict):
                raise MalformedInputError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            yield row


class StageWriter:
    """Collects a stage's files and closes the stage with its manifest.

    Use as a context manager: the manifest is written on a clean exit only, so
    an exception or a kill leaves the stage incomplete and the next run redoes it.
    Its user holds the stage's lock (``PipelineTask.run``), so it is the stage's
    only writer.
    """

    def __init__(self, store: RunStore, stage: Stage, fingerprint: str, inputs: dict[str, str]) -> None:
        self.store = store
        self.stage = stage
        self.fingerprint = fingerprint
        self.inputs = inputs
        self.files: dict[str, dict[str, Any]] = {}
        self.summary: dict[str, Any] = {}
        self._started = utc_now()
        self._t0 = time.monotonic()

    def __enter__(self) -> StageWriter:
        directory = self.store.directory(self.stage)
        remove_stale_temporaries(directory)
        remove_stale_temporaries(self.store.reports_dir())
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self._write_manifest()

    def _target(self, name: str, place: str) -> DataPath:
        """Where ``name`` goes; leftovers of an earlier, killed build of this file are removed first."""
        base = self.store.reports_dir() if place == "reports" else self.store.directory(self.stage)
        remove_earlier_temporaries(base / name)
        return base / name

    def _record(self, path: DataPath, rows: int | None, digest: str | None = None, size: int | None = None) -> DataPath:
        """List a written file; pass digest and size when known so nothing is read back (S3: no round trip)."""
        self.files[self.store.relative(path)] = {
            "rows": rows,
            "bytes": path.stat().st_size if size is None else size,
            "sha256": digest or sha256_file(path),
        }
        return path

    def bytes(self, name: str, data: bytes, *, rows: int | None = None, place: str = "stage") -> DataPath:
        path = self._target(name, place)
        write_bytes_atomic(path, data)
        return self._record(path, rows, hashlib.sha256(data).hexdigest(), len(data))

    def text(self, name: str, text: str, *, place: str = "stage") -> DataPath:
        return self.bytes(name, text.encode("utf-8"), place=place)

    def json(self, name: str, obj: Any, *, place: str = "stage") -> DataPath:
        return self.text(name, dumps_document(obj), place=place)

    def jsonl(self, name: str, rows: Iterable[Any], *, place: str = "stage") -> DataPath:
        buffer = io.StringIO()
        count = 0
        for row in rows:
            buffer.write(dumps_row(row))
            buffer.write("\n")
            count += 1
        return self.bytes(name, buffer.getvalue().encode("utf-8"), rows=count, place=place)

    def parquet(self, name: str, table: pa.Table, *, place: str = "stage") -> DataPath:
        import pyarrow.parquet as pq

        path = self._target(name, place)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, **parquet_options(table.schema))
            digest, size = sha256_file(tmp), tmp.stat().st_size
        return self._record(path, table.num_rows, digest, size)

    @contextlib.contextmanager
    def parquet_stream(self, name: str, schema: pa.Schema, *, place: str = "stage") -> Iterator[Any]:
        """Write a table chunk by chunk (one row group per chunk) so memory stays flat."""
        import pyarrow.parquet as pq

        path = self._target(name, place)
        rows = 0
        with atomic_path(path) as tmp:
            with pq.ParquetWriter(tmp, schema, **parquet_options(schema)) as sink:

                class _Sink:
                    def write(self, table: pa.Table) -> None:
                        nonlocal rows
                        sink.write_table(table.cast(schema) if table.schema != schema else table)
                        rows += table.num_rows

                yield _Sink()
            digest, size = sha256_file(tmp), tmp.stat().st_size
        self._record(path, rows, digest, size)

    def tables(self, pieces: Iterable[tuple[str, pa.Table]], schemas: dict[str, pa.Schema]) -> dict[str, int]:
        """Stream (name, table) pieces into ``<name>.parquet`` files, one row group per piece.

        Generators yield their tables chunk by chunk; every file stays open until
        the last piece, then all are renamed into place together.
        """
        counts: dict[str, int] = {}
        with contextlib.ExitStack() as stack:
            sinks: dict[str, Any] = {}
            for name, table in pieces:
                if name not in sinks:
                    sinks[name] = stack.enter_context(self.parquet_stream(f"{name}.parquet", schemas[name]))
                    counts[name] = 0
                sinks[name].write(table)
                counts[name] += table.num_rows
        return counts

    def _write_manifest(self) -> None:
        manifest = {
            "stage": self.stage.name,
            "run_id": self.store.run_id,
            "config_fingerprint": self.fingerprint,
            "package_version": __version__,
            "started_at": self._started,
            "finished_at": utc_now(),
            "duration_s": round(time.monotonic() - self._t0, 3),
            "inputs": self.inputs,
            "files": self.files,
            "summary": self.summary,
        }
        path = self.store.manifest_path(self.stage)
        remove_earlier_temporaries(path)
        write_bytes_atomic(path, dumps_document(manifest).encode())
