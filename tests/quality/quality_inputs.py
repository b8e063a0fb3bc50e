"""Inputs of the quality tests: the shared small run, loaded once, handed out as fresh copies to break on purpose.

Every crafted failure starts from the real, clean output of ``built_run`` and
changes one thing, so each test shows that exactly that change trips exactly
the check meant to catch it. A plain module rather than a conftest.py: a second
conftest.py would take over ``from conftest import ...`` in test folders
collected after this one.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fitsense_luigi.config import Config, load_config
from fitsense_luigi.contracts.encoding import dumps_document, dumps_row
from fitsense_luigi.contracts.files import StageFile
from fitsense_luigi.contracts.world import MemoryWorld
from fitsense_luigi.pipeline.store import RunStore
from fitsense_luigi.synth.schema import TABLES

AS_OF = dt.date(2026, 2, 17)
DATASET_FILES = ("all_records", "train", "val", "test", "rejected")
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


def read_jsonl(path: Path) -> Rows:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@cache
def _clean(data_root: Path, run_id: str, params: Path) -> Inputs:
    dirs = {"profiles": "synthetic_profiles", "workouts": "synthetic_workouts"}
    raw = data_root / "raw"
    return Inputs(
        config=load_config(params),
        tables={n: pq.read_table(raw / dirs[s.stage] / run_id / f"{n}.parquet") for n, s in TABLES.items()},
        dataset={n: read_jsonl(raw / "distillation_dataset" / run_id / f"{n}.jsonl") for n in DATASET_FILES},
        queries=read_jsonl(raw / "synthetic_queries" / run_id / "queries.jsonl"),
        responses=read_jsonl(raw / "teacher_outputs" / run_id / "responses.jsonl"),
        realism=json.loads((data_root / "reports" / run_id / "realism.json").read_text()),
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


def restamp(store: RunStore, file: StageFile, data: bytes, rows: int | None) -> None:
    """Replace a finished stage's file and its manifest entry, as a buggy upstream stage would have written it."""
    key = store.key(file)
    Path(store.uri(key)).write_bytes(data)
    manifest = store.manifest(file.stage)
    manifest["files"][key] = {"rows": rows, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    Path(store.uri(store.manifest_key(file.stage))).write_text(dumps_document(manifest))


def jsonl_bytes(rows: Rows) -> bytes:
    return "".join(dumps_row(r) + "\n" for r in rows).encode()
