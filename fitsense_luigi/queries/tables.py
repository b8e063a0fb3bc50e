"""Read access to the app tables for the query stage: whole small tables, or only some users' rows.

Queries concern a few hundred users of a world that may hold 100k, whose
workout sets run to tens of millions of rows. ``ParquetTables`` therefore
streams a file batch by batch and keeps only the rows whose uuid column holds
one of the wanted ids (compared as raw 16-byte values in Arrow), so memory
follows the number of askers, not the size of the world. ``InMemoryTables``
gives the same answers for tables already in memory (tests, notebooks).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fitsense_luigi import ids
from fitsense_luigi.storage import parquet_reading

BATCH_ROWS = 1 << 17


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


def keep_rows(table: pa.Table, column: str, keys: pa.Array) -> pa.Table:
    """Rows whose uuid ``column`` is one of ``keys``."""
    return table.filter(pc.is_in(storage_of(table[column]), value_set=keys))


class Tables:
    def read(self, name: str) -> pa.Table:
        raise NotImplementedError

    def rows(self, name: str, column: str, keys: pa.Array) -> pa.Table:
        raise NotImplementedError


class InMemoryTables(Tables):
    """Whole tables in memory, narrowed to the listed columns like ``ParquetTables`` reads them.

    Narrowing matters beyond memory: two tables that both carry, say, ``notes``
    would otherwise collide when the state joins them.
    """

    def __init__(self, tables: Mapping[str, pa.Table], columns: Mapping[str, Iterable[str]] | None = None) -> None:
        self.tables = tables
        self.columns = columns or {}

    def read(self, name: str) -> pa.Table:
        table = self.tables[name]
        wanted = self.columns.get(name)
        return table.select(list(wanted)) if wanted else table

    def rows(self, name: str, column: str, keys: pa.Array) -> pa.Table:
        return keep_rows(self.read(name), column, keys)


class ParquetTables(Tables):
    """Tables in Parquet files (already verified by the caller), read with only the listed columns."""

    def __init__(self, paths: Mapping[str, Path], columns: Mapping[str, Iterable[str]]) -> None:
        self.paths = paths
        self.columns = {name: list(cols) for name, cols in columns.items()}

    def read(self, name: str) -> pa.Table:
        with parquet_reading(self.paths[name]):
            return pq.read_table(self.paths[name], columns=self.columns[name])

    def rows(self, name: str, column: str, keys: pa.Array) -> pa.Table:
        with parquet_reading(self.paths[name]):
            source = pq.ParquetFile(self.paths[name])
            kept = [
                batch.filter(pc.is_in(storage_of(batch.column(column)), value_set=keys))
                for batch in source.iter_batches(batch_size=BATCH_ROWS, columns=self.columns[name])
            ]
        schema = source.schema_arrow
        schema = pa.schema([schema.field(c) for c in self.columns[name]])
        return pa.Table.from_batches([b for b in kept if b.num_rows], schema=schema)


def as_tables(world: Tables | Mapping[str, pa.Table], columns: Mapping[str, Iterable[str]] | None = None) -> Tables:
    return world if isinstance(world, Tables) else InMemoryTables(world, columns)
