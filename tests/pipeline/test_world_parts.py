"""The world in parts: workers change nothing, and splitting the world changes which file a row lands in, never a row.

Three real runs of the `luigi` command over a 2,500-user world: in parts of 1,000 users with two workers and with
one, and in one part. Every file of the two part runs is byte-identical; the one-part run's queries, answers,
dataset and reports are byte-identical to theirs, and its tables hold the same rows as their parts in order.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import SMALL, deep_merge, default_params, run_luigi

from fitsense_luigi.synth.schema import TABLES

RUN_ID = "2026-02-17"
# 3 parts of 1000, 1000 and 500 users; the gate only warns (a 28-day world this small misses published figures)
WHOLE = {"world": {"users": 2500}, "quality": {"on_failure": "warn"}}
PARTS = {**WHOLE, "run": {"users_per_part": 1000}}
MANIFESTS_AND_LOGS = ("manifest.json", "run.log", "phase1_bootstrap.json")


def run(tmp_path: Path, name: str, overrides: dict, *args: str) -> Path:
    root = tmp_path / name / "data"
    params = tmp_path / f"{name}.yaml"
    params.write_text(yaml.safe_dump(deep_merge(deep_merge(default_params(), SMALL), overrides), sort_keys=False))
    result = run_luigi("BiasSlicing", RUN_ID, root, params, *args, timeout=900)
    assert result.returncode == 0, result.output[-3000:]
    return root


def data_files(root: Path) -> dict[str, str]:
    """sha256 of every data file (manifests and logs hold times; locks and the teacher cache are not data)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and p.name not in MANIFESTS_AND_LOGS
        and "manifests" not in p.parts
        and p.parts[len(root.parts)] not in ("locks", "cache")
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    tmp_path = tmp_path_factory.mktemp("world_parts")
    return {
        "parts, 2 workers": run(tmp_path, "two", PARTS, "--workers", "2"),
        "parts, 1 worker": run(tmp_path, "one", PARTS),
        "one part": run(tmp_path, "whole", WHOLE),
    }


def table_rows(root: Path, name: str) -> list[dict]:
    """A table's rows, its part files read in order (the catalogue tables are one file)."""
    directory = root / "raw" / f"synthetic_{TABLES[name].stage}" / RUN_ID
    files = sorted(directory.glob(f"parts/*/{name}.parquet")) or [directory / f"{name}.parquet"]
    return [row for path in files for row in pq.read_table(path).to_pylist()]


def test_workers_change_no_byte(runs):
    two, one = data_files(runs["parts, 2 workers"]), data_files(runs["parts, 1 worker"])
    assert sum("/parts/002/" in name for name in one) == 18  # the third part holds every per-user table
    assert two.keys() == one.keys()
    assert [name for name in one if one[name] != two[name]] == []


def test_parts_change_no_row(runs):
    parted, whole = runs["parts, 1 worker"], runs["one part"]
    split, single = data_files(parted), data_files(whole)
    world = ("raw/synthetic_profiles/", "raw/synthetic_workouts/", "raw/synthetic_queries/2026-02-17/plan/")
    outside_world = [n for n in single if not n.startswith(world) and "synthetic_queries/2026-02-17/shards" not in n]
    assert len(outside_world) >= 25  # the queries, answers, the dataset, every report and chart
    assert [n for n in outside_world if split.get(n) != single[n]] == []
    for name in TABLES:
        assert table_rows(parted, name) == table_rows(whole, name), name
    manifest = json.loads((parted / "raw" / "synthetic_workouts" / RUN_ID / "manifest.json").read_text())
    assert manifest["summary"]["parts"] == 3
