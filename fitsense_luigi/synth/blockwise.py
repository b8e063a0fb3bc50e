"""Generation block by block, shared by both stages.

Every draw is keyed by (seed, block), so a person's whole history depends on the
block alone. Generating the partial block in full and then trimming it keeps
that true for the last block too: user 1050 is the same person, with the same
plan, workouts and logs, whether the run has 1,100 users or 100,000.

Rows are trimmed by following the schema: a table with ``user_id`` keeps the
kept users' rows; a child table (plan sets, workout sets, ...) keeps the rows
whose parent row was kept. Parents are always yielded before their children.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from fitsense_luigi.config import Config
from fitsense_luigi.contracts.progress import Progress
from fitsense_luigi.synth import columns as col
from fitsense_luigi.synth.ahead import ahead
from fitsense_luigi.synth.population import BLOCK, People, blocks, draw_people
from fitsense_luigi.synth.schema import TABLES, conform

BlockTables = Callable[[int, People, dt.date, int], Iterable[tuple[str, pa.Table]]]


def generate(
    config: Config, as_of: dt.date, build: BlockTables, stage: str, progress: Progress | None = None
) -> Iterator[tuple[str, pa.Table]]:
    """``build(seed, people, as_of, lookback)`` for every whole block; the last one trimmed to the run's users.

    Blocks are generated one step ahead in a background thread (see ``ahead``); progress is
    reported from the consumer's thread, the one Luigi runs the task in.
    """
    users = config.world.users
    for name, item in ahead(_blocks(config, as_of, build)):
        if isinstance(item, pa.Table):
            yield name, item
        elif progress:
            progress(item, users, f"{stage}: {item}/{users} users")


def _blocks(config: Config, as_of: dt.date, build: BlockTables) -> Iterator[tuple[str, pa.Table | int]]:
    """The block tables, each block followed by ("", number of users done so far)."""
    seed, users, lookback = config.reproducibility.seed, config.world.users, config.world.lookback_days
    for start, stop in blocks(users):
        people = draw_people(seed, start, start + BLOCK, as_of)
        pieces = build(seed, people, as_of, lookback)
        if stop - start < BLOCK:
            pieces = keep_first_users(pieces, col.uuid(people.user_id[: stop - start]))
        for name, table in pieces:
            yield name, conform(name, table)
        yield "", stop


def _storage(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return column.storage if isinstance(column.type, pa.BaseExtensionType) else column


def keep_first_users(pieces: Iterable[tuple[str, pa.Table]], users: pa.Array) -> Iterator[tuple[str, pa.Table]]:
    """Pass a block's tables through, keeping only rows that belong to ``users`` (a uuid array)."""
    kept: dict[str, pa.Array] = {"users": _storage(users)}
    for name, table in pieces:
        spec = TABLES[name]
        parents = [(column, parent) for column, parent, _ in spec.foreign_keys if parent in kept]
        if "user_id" in table.column_names:
            parents = [("user_id", "users")]
        for column, parent in parents[:1]:
            table = table.filter(pc.is_in(_storage(table[column]), value_set=kept[parent]))
        if spec.primary_key and len(spec.primary_key) == 1:
            kept[name] = _storage(table[spec.primary_key[0]])
        yield name, table
