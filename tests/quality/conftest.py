"""Fixtures of the quality tests: the shared small run as in-memory inputs, and helpers to break it on purpose.

Every crafted failure starts from the real, clean output of ``built_run`` and
changes one thing, so each test shows that exactly that change trips exactly
the check meant to catch it.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fitsense_luigi import storage
from fitsense_luigi.config import Config, load_config
from fitsense_luigi.quality.world import MemoryWorld
from fitsense_luigi.synth.schema import TABLES

AS_OF = dt.date(2026, 2, 17)
DATASET_FILES = ("all_records", "train", "val", "test", "rejected")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def small_config(built_run: Any) -> Config:
    return load_config(built_run.params)


@pytest.fixture(scope="session")
def clean_tables(built_run: Any) -> dict[str, pa.Table]:
    dirs = {"profiles": "synthetic_profiles", "workouts": "synthetic_workouts"}
    return {
        name: pq.read_table(built_run.path("raw", dirs[spec.stage], built_run.run_id, f"{name}.parquet"))
        for name, spec in TABLES.items()
    }


@pytest.fixture
def tables(clean_tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """A fresh copy per test (Arrow tables are immutable: a shallow copy of the mapping suffices)."""
    return dict(clean_tables)


@pytest.fixture(scope="session")
def clean_dataset(built_run: Any) -> dict[str, list[dict[str, Any]]]:
    base = built_run.path("raw", "distillation_dataset", built_run.run_id)
    return {name: read_jsonl(base / f"{name}.jsonl") for name in DATASET_FILES}


@pytest.fixture
def dataset(clean_dataset: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    return copy.deepcopy(clean_dataset)


@pytest.fixture(scope="session")
def clean_queries(built_run: Any) -> list[dict[str, Any]]:
    return read_jsonl(built_run.path("raw", "synthetic_queries", built_run.run_id, "queries.jsonl"))


@pytest.fixture(scope="session")
def clean_responses(built_run: Any) -> list[dict[str, Any]]:
    return read_jsonl(built_run.path("raw", "teacher_outputs", built_run.run_id, "responses.jsonl"))


@pytest.fixture(scope="session")
def realism_report(built_run: Any) -> dict[str, Any]:
    return json.loads((built_run.reports / "realism.json").read_text())


def world(tables: dict[str, pa.Table]) -> MemoryWorld:
    return MemoryWorld(tables)


def restamp(store: storage.RunStore, stage: storage.Stage, name: str, data: bytes, rows: int | None) -> None:
    """Replace a finished stage's file and its manifest entry, as a buggy upstream stage would have written it."""
    path = store.path(stage, name)
    path.write_bytes(data)
    manifest = store.manifest(stage)
    manifest["files"][store.relative(path)] = {
        "rows": rows,
        "bytes": len(data),
        "sha256": storage.sha256_file(path),
    }
    store.manifest_path(stage).write_text(storage.dumps_document(manifest))


def jsonl_bytes(rows: list[dict[str, Any]]) -> bytes:
    return "".join(storage.dumps_row(r) + "\n" for r in rows).encode()
