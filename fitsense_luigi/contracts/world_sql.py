"""The world's tables as DuckDB views: whole-table questions answered out of core, memory capped by a setting.

Validation and statistics ask questions of whole tables (is this key unique,
has every child row its parent, what are this column's value counts) that run
to tens of millions of rows at 100,000 users and hundreds of millions at a
million. DuckDB answers them over the Parquet files as they are, streaming,
its memory capped by ``memory_limit``: past it, joins, aggregates and sorts
spill to a temporary directory, so peak memory follows the setting rather than
the world. Chosen over Polars lazy scans by measurement
(``bench/bench_engines.py``: faster on every read but one, a third to a fifth
of the memory, and a memory limit to set at all).

Every table ``t`` is a view of that name. ``t__pos`` is the same rows with
``_pos``, each row's place in the table as stored (parts concatenated in
order), so that a check can show the first offending rows in the order a
reader of the files meets them, exactly as the in-memory checks did.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from fitsense_luigi.config import Config
from fitsense_luigi.contracts.world import MemoryWorld, ParquetWorld, World, parquet_reading
from fitsense_luigi.errors import ResourceError


@dataclass(frozen=True)
class Limits:
    """How much of the machine the out-of-core reads may use (``run.duckdb_*`` in the params)."""

    memory_mb: int = 1024
    threads: int | None = None  # None: every core this process may run on

    def resolved_threads(self) -> int:
        if self.threads:
            return self.threads
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def limits(config: Config) -> Limits:
    return Limits(config.run.duckdb_memory_mb, config.run.duckdb_threads)


class WorldSQL:
    """One DuckDB connection with a view per table of a :class:`World`."""

    def __init__(self, connection: Any, world: World) -> None:
        self.connection = connection
        self.world = world

    def schema(self, name: str) -> pa.Schema:
        return self.world.schema(name)

    def one(self, sql: str) -> tuple[Any, ...]:
        return self.connection.sql(sql).fetchall()[0]

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.connection.sql(sql).fetchall()

    def arrow(self, sql: str) -> pa.Table:
        """A result as Arrow (uuids as canonical text, timestamps in UTC)."""
        return self.connection.sql(sql).to_arrow_table()


@contextlib.contextmanager
def open_world(world: World, limits: Limits | None = None) -> Iterator[WorldSQL]:
    """DuckDB over ``world``: memory limited, threads set, spilling into a private temporary directory."""
    import duckdb

    limits = limits or Limits()
    with tempfile.TemporaryDirectory(prefix="fitsense-duckdb-") as spill:
        connection = duckdb.connect(
            config={
                "memory_limit": f"{limits.memory_mb}MB",
                "threads": limits.resolved_threads(),
                "temp_directory": spill,
                "preserve_insertion_order": False,  # every ordered answer says ORDER BY
            }
        )
        try:
            for name in world.names():
                _create_views(connection, world, name)
            yield WorldSQL(connection, world)
        except duckdb.OutOfMemoryException as exc:  # a query that could not spill: name the setting that bounds it
            raise ResourceError(
                f"the world's reader ran out of run.duckdb_memory_mb ({limits.memory_mb} MB): {exc}; "
                "raise run.duckdb_memory_mb or free disk space for spilling in the temporary directory"
            ) from None
        finally:
            connection.close()


def _create_views(connection: Any, world: World, name: str) -> None:
    if isinstance(world, MemoryWorld):
        table = world.tables[name]
        connection.register(f"{name}__arrow", table.append_column("_pos", pa.array(range(table.num_rows), pa.int64())))
        connection.execute(f'CREATE VIEW "{name}__pos" AS SELECT * FROM "{name}__arrow"')
        connection.execute(f'CREATE VIEW "{name}" AS SELECT * EXCLUDE (_pos) FROM "{name}__arrow"')
        return
    if not isinstance(world, ParquetWorld):
        raise TypeError(f"no SQL view for a {type(world).__name__}")
    import pyarrow.parquet as pq

    paths = world.paths(name)
    listed = ", ".join(_literal(p) for p in paths)
    connection.execute(f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet([{listed}])')
    scans, offset = [], 0
    for path in paths:
        scans.append(
            f"SELECT * EXCLUDE (file_row_number), file_row_number + {offset} AS _pos "
            f"FROM read_parquet({_literal(path)}, file_row_number = true)"
        )
        with parquet_reading(path):
            offset += pq.ParquetFile(path).metadata.num_rows
    connection.execute(f'CREATE VIEW "{name}__pos" AS {" UNION ALL ".join(scans)}')


def _literal(path: Any) -> str:
    return "'" + str(path).replace("'", "''") + "'"
