"""The 23 app tables as the quality stages read them: one table, or a few of its columns, at a time.

Key checks need two or three columns of a table and statistics look at one table
at a time, so reading the whole world up front would hold every table in memory
at once. A world hands out what is asked for and keeps nothing, so peak memory
follows the largest table in use, not the sum of all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from fitsense_luigi.storage import parquet_reading


class World(Protocol):
    def names(self) -> Iterable[str]: ...

    def table(self, name: str, columns: Sequence[str] | None = None) -> pa.Table: ...

    def schema(self, name: str) -> pa.Schema: ...


class ParquetWorld:
    """Tables read from (already verified) Parquet files on demand."""

    def __init__(self, files: Mapping[str, Path]) -> None:
        self.files = dict(files)

    def names(self) -> Iterable[str]:
        return list(self.files)

    def table(self, name: str, columns: Sequence[str] | None = None) -> pa.Table:
        import pyarrow.parquet as pq

        with parquet_reading(self.files[name]):
            return pq.read_table(self.files[name], columns=list(columns) if columns is not None else None)

    def schema(self, name: str) -> pa.Schema:
        import pyarrow.parquet as pq

        with parquet_reading(self.files[name]):
            return pq.read_schema(self.files[name])


class MemoryWorld:
    """Tables already in memory (tests, and callers that have just generated them)."""

    def __init__(self, tables: Mapping[str, pa.Table]) -> None:
        self.tables = dict(tables)

    def names(self) -> Iterable[str]:
        return list(self.tables)

    def table(self, name: str, columns: Sequence[str] | None = None) -> pa.Table:
        table = self.tables[name]
        return table.select(list(columns)) if columns is not None else table

    def schema(self, name: str) -> pa.Schema:
        return self.tables[name].schema
