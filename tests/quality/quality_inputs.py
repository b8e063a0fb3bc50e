"""Inputs of the quality tests: the shared small run, loaded once, handed out as fresh copies to break on purpose.

Every crafted failure starts from the real, clean output of ``built_run`` and
changes one thing, so each test shows that exactly that change trips exactly
the check meant to catch it.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fitsense_luigi.config import Config, load_config
from fitsense_luigi.contracts import files
from fitsense_luigi.contracts.encoding import dumps_row
from fitsense_luigi.contracts.world import MemoryWorld
from fitsense_luigi.pipeline.store import RunStore
from fitsense_luigi.synth.schema import TABLES
from tests.support.layout import RunFiles

AS_OF = dt.date(2026, 2, 17)
Rows = list[dict[str, Any]]


@dataclass
class Inputs:
    config: Config
    tables: dict[str, pa.Table]
    dataset: dict[str, Rows]
    queries: Rows
    responses: Rows
    realism: dict[str, Any]

    def world(self) -> MemoryWorld:
        return MemoryWorld(self.tables)


@cache
def _clean(data_root: Path, run_id: str, params: Path) -> Inputs:
    run = RunFiles(data_root, run_id)
    return Inputs(
        config=load_config(params),
        tables={name: pq.read_table(run.table(name)) for name in TABLES},
        dataset=RunStore(data_root, run_id).dataset(),  # the splits, rejected, and all_records (the splits together)
        queries=run.rows(files.QUERIES),
        responses=run.rows(files.RESPONSES),
        realism=run.document(files.REALISM_REPORT),
    )


def inputs(built_run: Any) -> Inputs:
    """A private copy of the clean run's inputs (Arrow tables are immutable: the mapping is copied)."""
    clean = _clean(built_run.data_root, built_run.run_id, built_run.params)
    return Inputs(
        clean.config,
        dict(clean.tables),
        copy.deepcopy(clean.dataset),
        copy.deepcopy(clean.queries),
        copy.deepcopy(clean.responses),
        copy.deepcopy(clean.realism),
    )


def jsonl_bytes(rows: Rows) -> bytes:
    return "".join(dumps_row(r) + "\n" for r in rows).encode()
