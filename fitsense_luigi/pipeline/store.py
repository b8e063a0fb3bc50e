"""One run's files under one data root: atomic writes, manifests written last, verified reads.

Every file the pipeline produces is staged and moved into place whole (see the
data root), so a reader never sees half a file. A stage is complete only when
its manifest (files, row counts, sha256, config fingerprint, timings) exists,
and the manifest is written last. Readers verify a file against its manifest
before using it, so a file changed after it was written is caught by name
instead of silently feeding the next stage.

Besides single files, the store knows the run's composite inputs: the world's
23 tables (:meth:`RunStore.world`) and the dataset's parts
(:meth:`RunStore.dataset`). A store made with ``readable=`` stages (what a
task requires) refuses to read any other stage, so a task's reads cannot drift
from its ``requires()``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, overload

from fitsense_luigi._version import __version__
from fitsense_luigi.contracts import files, splits
from fitsense_luigi.contracts.dataroot import DataRoot
from fitsense_luigi.contracts.encoding import dumps_document, dumps_row, iter_jsonl, parse_row
from fitsense_luigi.contracts.files import StageFile
from fitsense_luigi.contracts.manifest import FileEntry, Manifest
from fitsense_luigi.contracts.stages import BY_NAME, REPORTS_DIR, Stage, stage_named
from fitsense_luigi.errors import CorruptInputError, DataRootError
from fitsense_luigi.pipeline.roots import open_data_root

if TYPE_CHECKING:  # pyarrow and pandas load only when a task reads tables: a rerun with nothing to do stays fast
    import pyarrow as pa

    from fitsense_luigi.contracts.world import Columns, ParquetWorld


LOCKS_DIR = "locks"  # per run id: one lock per stage, and the run lock
RUN_LOCK = "run.lock"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def utc_now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RunStore:
    """All reads and writes of one run under one data root."""

    def __init__(
        self, root: str | os.PathLike[str] | DataRoot, run_id: str, *, readable: Iterable[Stage] | None = None
    ) -> None:
        self.root = open_data_root(root)
        self.run_id = run_id
        self.readable = None if readable is None else frozenset(s.name for s in readable)  # None: any stage

    def reading_only(self, stages: Iterable[Stage]) -> RunStore:
        """This store, refusing to read any stage but ``stages`` (a task's requirements)."""
        return RunStore(self.root, self.run_id, readable=stages)

    # -- locations (keys relative to the data root)
    def directory(self, stage: Stage) -> str:
        return stage.directory_of(self.run_id)

    def reports_dir(self) -> str:
        return REPORTS_DIR.format(run_id=self.run_id)

    def key(self, file: StageFile) -> str:
        return f"{self.reports_dir() if file.in_reports else self.directory(file.stage)}/{file.name}"

    def manifest_key(self, stage: Stage) -> str:
        return f"{self.directory(stage)}/{stage.manifest_name}"

    def run_log_key(self) -> str:
        return f"{self.reports_dir()}/{files.RUN_LOG}"

    def uri(self, key: str) -> str:
        return self.root.uri(key)

    def lock_path(self, stage: Stage) -> Path:
        return self.root.lock_path(f"{LOCKS_DIR}/{self.run_id}/{stage.name}.lock")

    def run_lock_path(self) -> Path:
        """Held shared by every live process that works on the run (see ``locks.hold_shared``)."""
        return self.root.lock_path(f"{LOCKS_DIR}/{self.run_id}/{RUN_LOCK}")

    # -- completion
    def is_complete(self, stage: Stage) -> bool:
        key = self.manifest_key(stage)
        try:
            return self.root.is_file(key)
        except OSError as exc:  # e.g. EIO or EACCES (ENOENT and the like just mean "no")
            raise DataRootError(
                f"{self.uri(key)}: cannot check whether stage {stage.name} is complete: {exc.strerror or exc}",
                permanent=False,
            ) from None

    def outdated(self, stage: Stage) -> str | None:
        """Why a stage whose manifest exists is not current (None: it is): an input it was built from, at any
        depth, is missing or was rebuilt since (its manifest's sha256 differs from the one recorded in ``inputs``).

        So deleting a stage's manifest (the remedy printed for a damaged file) rebuilds that stage and then
        everything built from it, instead of leaving downstream stages "complete" on inputs that are gone. A
        manifest that cannot be read counts as current here: the stage that reads it names it.
        """
        return self._outdated(stage, {})

    def _outdated(self, stage: Stage, seen: dict[str, str | None]) -> str | None:
        if stage.name in seen:
            return seen[stage.name]
        seen[stage.name] = None
        try:
            recorded = json.loads(self.root.read_bytes(self.manifest_key(stage))).get("inputs") or {}
            inputs = {stage_named(name): digest for name, digest in recorded.items()}
        except FileNotFoundError:
            seen[stage.name] = f"stage {stage.name} has no manifest"
            return seen[stage.name]
        except (ValueError, AttributeError, KeyError, TypeError, OSError):
            return None
        for upstream, digest in inputs.items():
            try:
                current = self.manifest_digest(upstream)
            except FileNotFoundError:
                seen[stage.name] = f"its input {upstream.name} has no manifest (deleted, to be rebuilt)"
                return seen[stage.name]
            except OSError:
                continue
            if current != digest:
                seen[stage.name] = f"its input {upstream.name} was rebuilt since"
                return seen[stage.name]
            reason = self._outdated(upstream, seen)
            if reason:
                seen[stage.name] = f"its input {upstream.name} is out of date ({reason})"
                return seen[stage.name]
        return None

    def manifest(self, stage: Stage) -> Manifest:
        where = self.uri(self.manifest_key(stage))
        try:
            return json.loads(self.root.read_bytes(self.manifest_key(stage)))
        except FileNotFoundError:
            raise CorruptInputError(f"{where}: manifest missing; stage {stage.name} has not finished") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CorruptInputError(
                f"{where}: manifest is not valid JSON; delete it to rebuild stage {stage.name}"
            ) from None

    def manifest_digest(self, stage: Stage) -> str:
        return hashlib.sha256(self.root.read_bytes(self.manifest_key(stage))).hexdigest()

    # -- writing
    def writer(self, stage: Stage, *, fingerprint: str, inputs: Iterable[Stage] = ()) -> StageWriter:
        return StageWriter(self, stage, fingerprint, {s.name: self.manifest_digest(s) for s in inputs})

    # -- verified reading
    @contextlib.contextmanager
    def verified_local(self, file: StageFile) -> Iterator[Path]:
        """A local file whose sha256 matches the stage's manifest: the file itself, or one download."""
        stage = file.stage
        if self.readable is not None and stage.name not in self.readable:
            raise RuntimeError(f"reads {file.name} of stage {stage.name}, which its task does not require")
        key = self.key(file)
        where = self.uri(key)
        entry = self.manifest(stage).get("files", {}).get(key)
        if entry is None:
            raise CorruptInputError(f"{where}: not listed in the manifest of stage {stage.name}")
        with contextlib.ExitStack() as stack:
            try:
                local = stack.enter_context(self.root.local_copy(key))
                digest = sha256_file(local)
            except FileNotFoundError:
                raise CorruptInputError(
                    f"{where}: listed in the manifest of stage {stage.name} but missing; "
                    f"delete {self.uri(self.manifest_key(files.written_by(file)))} to rebuild it"
                ) from None
            if digest != entry["sha256"]:
                raise CorruptInputError(
                    f"{where}: checksum does not match the manifest of stage {stage.name} (changed after it "
                    f"was written); delete {self.uri(self.manifest_key(files.written_by(file)))} to rebuild it"
                )
            yield local

    def read_table(self, file: StageFile, columns: list[str] | None = None) -> pa.Table:
        import pyarrow.parquet as pq

        from fitsense_luigi.contracts.world import parquet_reading

        with self.verified_local(file) as local, parquet_reading(self.uri(self.key(file))):
            return pq.read_table(local, columns=columns)

    def read_json(self, file: StageFile) -> Any:
        with self.verified_local(file) as local:
            return json.loads(local.read_text(encoding="utf-8"))

    def read_jsonl(self, file: StageFile) -> list[dict[str, Any]]:
        with self.verified_local(file) as local:
            return list(iter_jsonl(local, name=self.uri(self.key(file))))

    @contextlib.contextmanager
    def streamed_jsonl(self, file: StageFile) -> Iterator[Iterator[dict[str, Any]]]:
        """The rows one at a time while the block runs (a big file need not be held as a list)."""
        with self.verified_local(file) as local:
            yield iter_jsonl(local, name=self.uri(self.key(file)))

    @contextlib.contextmanager
    def indexed_rows(
        self, file: StageFile, key: str, check: Callable[[dict[str, Any], int], None] | None = None
    ) -> Iterator[IndexedRows]:
        """The rows of a JSONL file by the value of their ``key`` field, each read from the file when asked for.

        Every row is parsed once to find its key (and given to ``check`` with its row number); memory then holds
        one offset per row, not the rows (a later row with the same key wins, as in a dict).
        """
        with self.verified_local(file) as local, open(local, "rb") as fh:
            yield IndexedRows(fh, self.uri(self.key(file)), key, check)

    @contextlib.contextmanager
    def streamed_lines(self, file: StageFile) -> Iterator[Iterator[bytes]]:
        """The raw lines of a JSONL file (newline included) while the block runs, for copying them as they are."""
        with self.verified_local(file) as local, open(local, "rb") as fh:
            yield (line for line in fh if line.strip())

    # -- composite inputs
    def world_files(
        self, parts: Iterable[int] | None = None, names: Iterable[str] | None = None
    ) -> dict[str, list[StageFile]]:
        """Each app table's files as its stage's manifest lists them: the table itself, or its parts in order.

        ``parts``: only these world parts of the per-user tables (the catalogue tables are whole);
        ``names``: only these tables (default: all 23).
        """
        from fitsense_luigi.synth.schema import TABLES

        wanted = None if parts is None else set(parts)
        chosen = list(TABLES) if names is None else list(names)
        listed = {stage: self.manifest(stage).get("files", {}) for stage in {BY_NAME[TABLES[n].stage] for n in chosen}}
        out: dict[str, list[StageFile]] = {}
        for name in chosen:
            stage = BY_NAME[TABLES[name].stage]
            whole = files.world_table(name, stage)
            if self.key(whole) in listed[stage]:
                out[name] = [whole]
                continue
            found, part = [], 0
            while self.key(piece := files.world_part(name, stage, part)) in listed[stage]:
                if wanted is None or part in wanted:
                    found.append(piece)
                part += 1
            out[name] = found
        return out

    @contextlib.contextmanager
    def world(
        self, columns: Columns | None = None, *, parts: Iterable[int] | None = None, names: Iterable[str] | None = None
    ) -> Iterator[ParquetWorld]:
        """The 23 app tables (a table may be several part files), each file verified once, read lazily.

        ``parts``: the per-user tables of these world parts only; ``names``: only these tables. On an S3 root
        each file is downloaded once and kept until the block ends.
        """
        from fitsense_luigi.contracts.world import ParquetWorld

        with contextlib.ExitStack() as stack:
            paths = {
                name: [stack.enter_context(self.verified_local(file)) for file in table_files]
                for name, table_files in self.world_files(parts, names).items()
            }
            yield ParquetWorld(paths, columns)

    def read_world_table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        """One app table whole, its parts (if any) concatenated in order."""
        import pyarrow as pa

        tables = [self.read_table(file, columns) for file in self.world_files(names=[name])[name]]
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables)

    def pieces(self, part: Stage) -> Iterator[tuple[str, pa.Table]]:
        """A world part's tables piece by piece, exactly as its generator yielded them (block by block).

        The part's manifest records the rows of every piece (``piece_rows``); the files are read back in
        lockstep, so a consumer that watched the generator (the realism observer) sees the same pieces
        and memory holds one block.
        """
        import pyarrow.parquet as pq

        from fitsense_luigi.contracts.world import parquet_reading

        counts: dict[str, list[int]] = self.manifest(part)["summary"]["piece_rows"]
        with contextlib.ExitStack() as stack:
            readers = {}
            for name in counts:
                local = stack.enter_context(self.verified_local(files.world_table(name, part)))
                stack.enter_context(parquet_reading(self.uri(self.key(files.world_table(name, part)))))
                readers[name] = _Rechunker(pq.ParquetFile(local))
            for block in range(max(len(c) for c in counts.values())):
                for name, rows in counts.items():
                    if block < len(rows):
                        yield name, readers[name].take(rows[block])

    @contextlib.contextmanager
    def rows(self, file: StageFile) -> Iterator[StoredRows]:
        """The rows of a JSONL file, verified once and read again on every pass while the block runs."""
        with self.verified_local(file) as local:
            entry = self.manifest(file.stage)["files"][self.key(file)]
            yield StoredRows(local, self.uri(self.key(file)), entry["rows"] or 0)

    @contextlib.contextmanager
    def line_rows(self, file: StageFile) -> Iterator[LineRows]:
        """The rows of a verified JSONL file by position, each parsed when asked for, while the block runs."""
        with self.verified_local(file) as local, open(local, "rb") as fh:
            yield LineRows.scan(fh, self.uri(self.key(file)))

    @contextlib.contextmanager
    def dataset(self) -> Iterator[dict[str, Rows]]:
        """Every JSONL part of the dataset stage (the splits and rejected), and ``all_records``: the splits
        together, in split order (the dataset keeps each record once, in its split's file); streamed on each
        pass, never held as a list."""
        with contextlib.ExitStack() as stack:
            parts = {part: stack.enter_context(self.rows(files.records(part))) for part in splits.DATASET_FILES}
            yield {splits.ALL_RECORDS: ChainedRows([parts[split] for split in splits.SPLITS]), **parts}

    @contextlib.contextmanager
    def records(self) -> Iterator[ChainedRows]:
        """Every kept record: the splits together, in split order, streamed on each pass."""
        with self.dataset() as dataset:
            yield dataset[splits.ALL_RECORDS]


class StoredRows:
    """Rows of a verified JSONL file: iterable again and again, never held as a list; ``len`` from the manifest.

    At 100,000 queries the dataset's records are gigabytes as Python objects; a reader that counts,
    checks or groups them needs one at a time.
    """

    def __init__(self, path: Path, name: str, rows: int) -> None:
        self.path, self.name, self.rows = path, name, rows

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter_jsonl(self.path, name=self.name)

    def __len__(self) -> int:
        return self.rows


class LineRows(Sequence[dict[str, Any]]):
    """Rows of a verified JSONL file by position, each read and parsed when asked for; a slice is a view.

    The teacher stage hands 100,000 queries (10 kB of JSON each, gigabytes as objects) to its shards a few
    hundred at a time: memory holds an offset and a line number per row and the rows in flight, not the file.
    A malformed row is named by its line in the file, whichever view reads it.
    """

    def __init__(
        self, fh: BinaryIO, name: str, offsets: Sequence[int], lines: Sequence[int], lock: threading.Lock
    ) -> None:
        self.fh, self.name, self.offsets, self.lines = fh, name, offsets, lines
        self.lock = lock  # one file position, shared by the views

    @classmethod
    def scan(cls, fh: BinaryIO, name: str) -> LineRows:
        offsets, lines, at = array("q"), array("q"), 0
        for number, line in enumerate(fh, start=1):
            if line.strip():
                offsets.append(at)
                lines.append(number)
            at += len(line)
        return cls(fh, name, offsets, lines, threading.Lock())

    def __len__(self) -> int:
        return len(self.offsets)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> LineRows: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | LineRows:
        if isinstance(index, slice):
            return LineRows(self.fh, self.name, self.offsets[index], self.lines[index], self.lock)
        with self.lock:
            self.fh.seek(self.offsets[index])
            line = self.fh.readline()
        return parse_row(line, self.name, self.lines[index])


class ChainedRows:
    """Several files of rows read one after the other as one (the splits as all records); ``len`` summed."""

    def __init__(self, parts: list[StoredRows]) -> None:
        self.parts = parts

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (row for part in self.parts for row in part)

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts)


Rows = StoredRows | ChainedRows


class IndexedRows(Mapping[str, dict[str, Any]]):
    """Rows of an open JSONL file found by one field, parsed from the file on each lookup (see
    :meth:`RunStore.indexed_rows`): a stage that joins 100,000 answers to their queries holds offsets, not answers."""

    def __init__(
        self, fh: Any, name: str, key: str, check: Callable[[dict[str, Any], int], None] | None = None
    ) -> None:
        self.fh, self.name = fh, name
        self.offsets: dict[str, tuple[int, int]] = {}  # key -> (byte offset, line number)
        position, row_number = 0, 0
        for number, line in enumerate(fh, start=1):
            if line.strip():
                row = parse_row(line, self.name, number)
                row_number += 1
                if check:
                    check(row, row_number)
                self.offsets[row[key]] = (position, number)
            position += len(line)

    def __getitem__(self, key: str) -> dict[str, Any]:
        position, number = self.offsets[key]
        self.fh.seek(position)
        return parse_row(self.fh.readline(), self.name, number)

    def __iter__(self) -> Iterator[str]:
        return iter(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets)

    def __contains__(self, key: object) -> bool:
        return key in self.offsets


class _Rechunker:
    """Successive slices of a Parquet file with the requested numbers of rows.

    The writer puts each piece in its own row group (up to a million rows), so this reads row group after
    row group (columns decoded in parallel) and slices only when a piece spans several.
    """

    def __init__(self, source: Any) -> None:
        self.source = source
        self.next_group = 0
        self.held: Any = source.schema_arrow.empty_table()

    def take(self, rows: int) -> pa.Table:
        import pyarrow as pa

        while self.held.num_rows < rows:
            group = self.source.read_row_group(self.next_group)
            self.next_group += 1
            self.held = group if not self.held.num_rows else pa.concat_tables([self.held, group])
        piece, self.held = self.held.slice(0, rows), self.held.slice(rows)
        return piece if piece.column(0).num_chunks <= 1 else piece.combine_chunks()


class JsonlSink:
    """Rows appended to an open JSONL file, hashed and counted as they go (see :meth:`StageWriter.jsonl_stream`)."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()
        self.size = self.rows = 0

    def write(self, row: Any) -> None:
        self.write_line((dumps_row(row) + "\n").encode("utf-8"))

    def write_line(self, line: bytes) -> None:
        """A line already encoded, ending in a newline."""
        self.fh.write(line)
        self.digest.update(line)
        self.size += len(line)
        self.rows += 1


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
        self.files: dict[str, FileEntry] = {}
        self.summary: dict[str, Any] = {}
        self.piece_rows: dict[str, list[int]] = {}  # rows of every piece :meth:`tables` wrote, per table
        self._started = utc_now()
        self._t0 = time.monotonic()

    def __enter__(self) -> StageWriter:
        root = self.store.root
        root.sweep_temporaries(self.store.directory(self.stage))
        root.sweep_temporaries(self.store.reports_dir())
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self._write_manifest()

    def _target(self, file: StageFile) -> str:
        """Where ``file`` goes; leftovers of an earlier, killed build of it are removed first."""
        if file.stage != self.stage:
            raise ValueError(f"stage {self.stage.name} cannot write {file.name} of stage {file.stage.name}")
        key = self.store.key(file)
        self.store.root.discard_temporaries_of(key)
        return key

    def _record(self, key: str, rows: int | None, digest: str, size: int) -> str:
        self.files[key] = {"rows": rows, "bytes": size, "sha256": digest}
        return key

    def adopt(self, file: StageFile, entry: FileEntry) -> str:
        """List a file that a part of this stage wrote inside its directory (entry from the part's manifest).

        The part's manifest is an input of this stage, so the entry is as trustworthy as the file's own
        writer; readers verify the file against it like any other of this stage's files.
        """
        if file.stage != self.stage:
            raise ValueError(f"stage {self.stage.name} cannot list {file.name} of stage {file.stage.name}")
        return self._record(self.store.key(file), entry["rows"], entry["sha256"], entry["bytes"])

    def bytes(self, file: StageFile, data: bytes, *, rows: int | None = None) -> str:
        key = self._target(file)
        self.store.root.write_bytes(key, data)
        return self._record(key, rows, hashlib.sha256(data).hexdigest(), len(data))

    def text(self, file: StageFile, text: str) -> str:
        return self.bytes(file, text.encode("utf-8"))

    def json(self, file: StageFile, obj: Any) -> str:
        return self.text(file, dumps_document(obj))

    def jsonl(self, file: StageFile, rows: Iterable[Any]) -> str:
        """One JSON row per line, streamed to the staged file and hashed as it goes: memory holds one row."""
        with self.jsonl_stream(file) as sink:
            for row in rows:
                sink.write(row)
        return self.store.key(file)

    def jsonl_lines(self, file: StageFile, lines: Iterable[bytes]) -> str:
        """Lines already encoded (each ending in a newline), e.g. copied from other JSONL files, streamed."""
        with self.jsonl_stream(file) as sink:
            for line in lines:
                sink.write_line(line)
        return self.store.key(file)

    @contextlib.contextmanager
    def jsonl_stream(self, file: StageFile) -> Iterator[JsonlSink]:
        """A JSONL file written row by row while the block runs (several can be open at once), listed on a clean
        exit; an exception leaves only a temporary behind, swept by the next build."""
        key = self._target(file)
        with self.store.root.staged(key) as tmp, open(tmp, "wb", buffering=1 << 20) as fh:
            sink = JsonlSink(fh)
            yield sink
        self._record(key, sink.rows, sink.digest.hexdigest(), sink.size)

    def parquet(self, file: StageFile, table: pa.Table) -> str:
        import pyarrow.parquet as pq

        key = self._target(file)
        with self.store.root.staged(key) as tmp:
            pq.write_table(table, tmp, **parquet_options(table.schema))
            digest, size = sha256_file(tmp), tmp.stat().st_size
        return self._record(key, table.num_rows, digest, size)

    @contextlib.contextmanager
    def parquet_stream(self, file: StageFile, schema: pa.Schema) -> Iterator[Any]:
        """Write a table chunk by chunk (one row group per chunk) so memory stays flat."""
        import pyarrow.parquet as pq

        key = self._target(file)
        rows = 0
        with self.store.root.staged(key) as tmp:
            with pq.ParquetWriter(tmp, schema, **parquet_options(schema)) as sink:

                class _Sink:
                    def write(self, table: pa.Table) -> None:
                        nonlocal rows
                        sink.write_table(table.cast(schema) if table.schema != schema else table)
                        rows += table.num_rows

                yield _Sink()
            digest, size = sha256_file(tmp), tmp.stat().st_size
        self._record(key, rows, digest, size)

    def tables(self, pieces: Iterable[tuple[str, pa.Table]], schemas: dict[str, pa.Schema]) -> dict[str, int]:
        """Stream (name, table) pieces into this stage's ``<name>.parquet`` files, one row group per piece.

        Generators yield their tables chunk by chunk; every file stays open until
        the last piece, then all are moved into place together.
        """
        counts: dict[str, int] = {}
        with contextlib.ExitStack() as stack:
            sinks: dict[str, Any] = {}
            for name, table in pieces:
                if name not in sinks:
                    sink = self.parquet_stream(files.world_table(name, self.stage), schemas[name])
                    sinks[name] = stack.enter_context(sink)
                    counts[name] = 0
                sinks[name].write(table)
                counts[name] += table.num_rows
                self.piece_rows.setdefault(name, []).append(table.num_rows)
        return counts

    def _write_manifest(self) -> None:
        manifest: Manifest = {
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
        key = self.store.manifest_key(self.stage)
        self.store.root.discard_temporaries_of(key)
        self.store.root.write_bytes(key, dumps_document(manifest).encode())
