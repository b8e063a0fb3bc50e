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
    def _keep(self, name: str, column: str, keys: pa.Array, columns: list[str] | None) -> pa.Table: ...

    @abstractmethod
    def narrowed(self, columns: Columns) -> World:
        """The same tables, read by default with only the listed columns of each."""

    def table(self, name: str, columns: Sequence[str] | None = None) -> pa.Table:
        """One table, with ``columns`` (default: the narrowed columns, else all)."""
        return self._read(name, self._columns(name, columns))

    def rows(self, name: str, column: str, keys: pa.Array, columns: Sequence[str] | None = None) -> pa.Table:
        """The rows of ``name`` whose uuid ``column`` is one of ``keys`` (see :func:`id_keys`)."""
        return self._keep(name, column, keys, self._columns(name, columns))

    def _columns(self, name: str, columns: Sequence[str] | None) -> list[str] | None:
        return list(columns) if columns is not None else self.columns.get(name)


class ParquetWorld(World):
    """Tables in local Parquet files, already verified by the caller, read on demand."""

    def __init__(self, files: Mapping[str, Path], columns: Columns | None = None) -> None:
        super().__init__(columns)
        self.files = dict(files)

    def names(self) -> list[str]:
        return list(self.files)

    def narrowed(self, columns: Columns) -> ParquetWorld:
        return ParquetWorld(self.files, columns)

    def schema(self, name: str) -> pa.Schema:
        import pyarrow.parquet as pq

        with parquet_reading(self.files[name]):
            return pq.read_schema(self.files[name])

    def _read(self, name: str, columns: list[str] | None) -> pa.Table:
        import pyarrow.parquet as pq

        with parquet_reading(self.files[name]):
            return pq.read_table(self.files[name], columns=columns)

    def _keep(self, name: str, column: str, keys: pa.Array, columns: list[str] | None) -> pa.Table:
        import pyarrow.parquet as pq

        with parquet_reading(self.files[name]):
            source = pq.ParquetFile(self.files[name])
            kept = [
                batch.filter(pc.is_in(storage_of(batch.column(column)), value_set=keys))
                for batch in source.iter_batches(batch_size=BATCH_ROWS, columns=columns)
            ]
        schema = source.schema_arrow
        if columns is not None:
            schema = pa.schema([schema.field(c) for c in columns])
        return pa.Table.from_batches([b for b in kept if b.num_rows], schema=schema)


class MemoryWorld(World):
    """Tables already in memory, narrowed like the Parquet reader reads them."""

    def __init__(self, tables: Mapping[str, pa.Table], columns: Columns | None = None) -> None:
        super().__init__(columns)
        self.tables = dict(tables)

    def names(self) -> list[str]:
        return list(self.tables)

    def narrowed(self, columns: Columns) -> MemoryWorld:
        return MemoryWorld(self.tables, columns)

    def schema(self, name: str) -> pa.Schema:
        return self.tables[name].schema

    def _read(self, name: str, columns: list[str] | None) -> pa.Table:
        table = self.tables[name]
        return table.select(columns) if columns is not None else table

    def _keep(self, name: str, column: str, keys: pa.Array, columns: list[str] | None) -> pa.Table:
        table = self.tables[name]
        kept = table.filter(pc.is_in(storage_of(table[column]), value_set=keys))
        return kept.select(columns) if columns is not None else kept


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
