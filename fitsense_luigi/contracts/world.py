"""The synthetic world's 23 app tables, as every later stage reads them: one reader, two homes.

Consumers ask for one table, a few of its columns, or only the rows of some
users, and the reader keeps nothing: peak memory follows the table in use, not
the world. The query stage summarises a few hundred users of a world that may
hold 100k, whose workout sets run to tens of millions of rows, so ``rows``
streams a file batch by batch and keeps only the rows whose uuid column holds a
wanted id (compared as raw 16-byte values in Arrow): memory follows the number
of askers, not the size of the world.

* :class:`ParquetWorld` reads Parquet files the runtime has verified against
  their manifests (``RunStore.world``), lazily and column by column;
* :class:`MemoryWorld` serves tables already in memory (tests, notebooks,
  callers that have just generated them) and gives the same answers.

``narrowed(columns)`` fixes the columns read per table by default: besides
memory, it keeps two tables that both carry, say, ``notes`` from colliding
when a consumer joins them.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fitsense_luigi import ids
from fitsense_luigi.errors import MalformedInputError

BATCH_ROWS = 1 << 17
Columns = Mapping[str, Iterable[str]]


class World(ABC):
    """Read access to the app tables; subclasses say where the tables are."""

    def __init__(self, columns: Columns | None = None) -> None:
        self.columns = {name: list(cols) for name, cols in (columns or {}).items()}

    @abstractmethod
    def names(self) -> list[str]: ...

    @abstractmethod
    def schema(self, name: str) -> pa.Schema: ...

    @abstractmethod
    def _read(self, name: str, columns: list[str] | None) -> pa.Table: ...

    @abstractmethod
    def _keep(
        self, name: str, column: str, keys: pa.Array, columns: list[str] | None
    ) -> tuple[pa.Table, np.ndarray]: ...

    @abstractmethod
    def part_sizes(self, name: str) -> list[int]:
        """Rows of each part of a table, in order (one part unless the world was generated in parts)."""

    @abstractmethod
    def narrowed(self, columns: Columns) -> World:
        """The same tables, read by default with only the listed columns of each."""

    def table(self, name: str, columns: Sequence[str] | None = None) -> pa.Table:
        """One table, with ``columns`` (default: the narrowed columns, else all)."""
        return self._read(name, self._columns(name, columns))

    def rows(self, name: str, column: str, keys: pa.Array, columns: Sequence[str] | None = None) -> pa.Table:
        """The rows of ``name`` whose uuid ``column`` is one of ``keys`` (see :func:`id_keys`)."""
        return self._keep(name, column, keys, self._columns(name, columns))[0]

    def joined(
        self, name: str, column: str, keys: pa.Array, columns: Sequence[str] | None = None
    ) -> tuple[pa.Table, np.ndarray]:
        """:meth:`rows`, and for each row the place in ``keys`` of its ``column`` value: a join to the table
        ``keys`` came from, found by the same lookup that chose the rows (no second hash join)."""
        return self._keep(name, column, keys, self._columns(name, columns))

    def _columns(self, name: str, columns: Sequence[str] | None) -> list[str] | None:
        return list(columns) if columns is not None else self.columns.get(name)


class ParquetWorld(World):
    """Tables in local Parquet files, already verified by the caller, read on demand.

    A table is one file or several (the parts of a world generated in parts, in order); read in order,
    the parts are the table.
    """

    def __init__(self, files: Mapping[str, Path | Sequence[Path]], columns: Columns | None = None) -> None:
        super().__init__(columns)
        self.files = {name: [paths] if isinstance(paths, Path | str) else list(paths) for name, paths in files.items()}

    def names(self) -> list[str]:
        return list(self.files)

    def paths(self, name: str) -> list[Path]:
        return list(self.files[name])

    def narrowed(self, columns: Columns) -> ParquetWorld:
        return ParquetWorld(self.files, columns)

    def part_sizes(self, name: str) -> list[int]:
        import pyarrow.parquet as pq

        sizes = []
        for path in self.files[name]:
            with parquet_reading(path):
                sizes.append(pq.ParquetFile(path).metadata.num_rows)
        return sizes

    def schema(self, name: str) -> pa.Schema:
        import pyarrow.parquet as pq

        first = self.files[name][0]
        with parquet_reading(first):
            return pq.read_schema(first)

    def _read(self, name: str, columns: list[str] | None) -> pa.Table:
        import pyarrow.parquet as pq

        parts = []
        for path in self.files[name]:
            with parquet_reading(path):
                parts.append(pq.read_table(path, columns=columns))
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts)

    def _keep(self, name: str, column: str, keys: pa.Array, columns: list[str] | None) -> tuple[pa.Table, np.ndarray]:
        import pyarrow.parquet as pq

        wanted = KeySet(keys)
        schema = self.schema(name)
        if columns is not None:
            schema = pa.schema([schema.field(c) for c in columns])
        kept, places = [], []
        for path in self.files[name]:
            with parquet_reading(path):
                for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=columns):
                    place = wanted.find(batch.column(column))
                    chosen = place >= 0
                    if chosen.any():
                        kept.append(batch.filter(pa.array(chosen)))
                        places.append(place[chosen])
        return pa.Table.from_batches(kept, schema=schema), np.concatenate(places) if places else np.zeros(0, np.int64)


class MemoryWorld(World):
    """Tables already in memory, narrowed like the Parquet reader reads them."""

    def __init__(self, tables: Mapping[str, pa.Table], columns: Columns | None = None) -> None:
        super().__init__(columns)
        self.tables = dict(tables)

    def names(self) -> list[str]:
        return list(self.tables)

    def narrowed(self, columns: Columns) -> MemoryWorld:
        return MemoryWorld(self.tables, columns)

    def part_sizes(self, name: str) -> list[int]:
        return [self.tables[name].num_rows]

    def schema(self, name: str) -> pa.Schema:
        return self.tables[name].schema

    def _read(self, name: str, columns: list[str] | None) -> pa.Table:
        table = self.tables[name]
        return table.select(columns) if columns is not None else table

    def _keep(self, name: str, column: str, keys: pa.Array, columns: list[str] | None) -> tuple[pa.Table, np.ndarray]:
        table = self.tables[name]
        place = positions(table[column], keys)
        chosen = place >= 0
        kept = table.filter(pa.array(chosen))
        return (kept.select(columns) if columns is not None else kept), place[chosen]


class KeySet:
    """Where the values of a uuid column are among ``keys``: the set is built once and asked batch by batch.

    ``pc.is_in`` hashes its value set again on every call, which made filtering tens of millions of workout
    sets by a few million ids take minutes. Here the keys are sorted once by their first 8 bytes and a
    batch is a binary search plus a comparison of the last 8 bytes (exact; if two keys ever shared their
    first 8 bytes, every batch falls back to a hash lookup).
    """

    def __init__(self, keys: pa.Array) -> None:
        self.keys = storage_of(keys)
        high, low = _halves(self.keys)
        self.order = np.argsort(high, kind="stable")
        self.high, self.low = high[self.order], low[self.order]
        self.exact = bool(self.high.size < 2 or np.all(self.high[1:] != self.high[:-1]))

    def mask(self, column: pa.Array | pa.ChunkedArray) -> pa.Array:
        return pa.array(self.find(column) >= 0)

    def find(self, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """For each value, its place in ``keys`` (the first, if several hold it), else -1 (NULL: -1)."""
        values = storage_of(column)
        if not self.exact:
            return positions(values, self.keys)
        if self.high.size == 0 or len(values) == 0:
            return np.full(len(values), -1, np.int64)
        high, low = _halves(pc.fill_null(values, pa.scalar(b"\0" * 16, values.type)) if values.null_count else values)
        # child rows come in runs of one parent (a user's logs, an exercise's sets): search once per run
        starts = np.flatnonzero(np.r_[True, (high[1:] != high[:-1]) | (low[1:] != low[:-1])])
        found = self._search(high[starts], low[starts])
        if starts.size < high.size:
            found = np.repeat(found, np.diff(np.r_[starts, high.size]))
        if values.null_count:
            found[~values.is_valid().to_numpy(zero_copy_only=False)] = -1
        return found

    def _search(self, high: np.ndarray, low: np.ndarray) -> np.ndarray:
        ascending = np.argsort(high)  # searching in ascending order walks the keys once: far fewer cache misses
        at = np.empty(high.size, np.int64)
        at[ascending] = np.searchsorted(self.high, high[ascending])
        at = np.minimum(at, self.high.size - 1)
        return np.where((self.high[at] == high) & (self.low[at] == low), self.order[at], -1)


def positions(values: pa.Array | pa.ChunkedArray, among: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """For each of ``values``, the row of ``among`` that holds it (the first, if several), else -1.

    An exact hash join on the raw values (uuids compared as their 16 bytes): one lookup table, built once.
    """
    found = pc.index_in(storage_of(values), value_set=storage_of(among))
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _halves(storage: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The first and last 8 bytes of each 16-byte value, as unsigned integers."""
    if len(storage) == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    raw = np.frombuffer(storage.buffers()[1], np.uint8)[storage.offset * 16 : (storage.offset + len(storage)) * 16]
    pairs = raw.view(np.uint64).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def as_world(world: World | Mapping[str, pa.Table], columns: Columns | None = None) -> World:
    """A reader for ``world`` (tables in memory become a MemoryWorld), narrowed to ``columns`` when given."""
    reader = world if isinstance(world, World) else MemoryWorld(world)
    return reader.narrowed(columns) if columns is not None else reader


@contextlib.contextmanager
def parquet_reading(path: Any) -> Iterator[None]:
    """Name the file when pyarrow cannot read a Parquet file's content.

    A file that matches its manifest but cannot be decoded was written damaged
    (a failing disk or a writer bug before the checksum was taken); pyarrow's
    own message ("ZSTD decompression failed") does not say which file.
    """
    try:
        yield
    except MemoryError:  # pyarrow's ArrowMemoryError is also an ArrowException: not the file's fault
        raise
    except (pa.ArrowException, OSError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise MalformedInputError(
            f"{path}: cannot read this Parquet file ({detail}); delete its stage's manifest to rebuild it"
        ) from None


# -- uuid columns: the app stores uuids as 16 raw bytes (an Arrow extension type)


def storage_of(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The raw 16-byte values behind a uuid column."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return array.storage if isinstance(array.type, pa.BaseExtensionType) else array


def id_keys(uuids: Iterable[str]) -> pa.Array:
    """Canonical uuid strings -> the 16-byte values stored in the tables."""
    hexed = "".join(u.replace("-", "") for u in uuids)
    return (
        pa.array(np.frombuffer(bytes.fromhex(hexed), dtype="S16"), pa.binary(16))
        if hexed
        else pa.array([], pa.binary(16))
    )


def uuid_strings(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Canonical text of a uuid column (vectorised); nulls become None."""
    storage = storage_of(column)
    if not storage.null_count:
        return ids.to_strings(ids.from_arrow(storage))
    mask = storage.is_null().to_numpy(zero_copy_only=False)
    text = ids.to_strings(ids.from_arrow(pc.fill_null(storage, pa.scalar(b"\0" * 16, storage.type))))
    return np.where(mask, None, text)


def frame(table: pa.Table) -> pd.DataFrame:
    """Arrow -> pandas with every uuid column as canonical strings."""
    uuid_columns = [f.name for f in table.schema if isinstance(f.type, pa.BaseExtensionType)]
    df = table.drop_columns(uuid_columns).to_pandas()
    for name in uuid_columns:
        df[name] = uuid_strings(table[name])
    return df[table.column_names]
