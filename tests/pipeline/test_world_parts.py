"""The world in parts: workers change nothing, and splitting the world changes which file a row lands in, never a row.

Three real runs of the `luigi` command over a 2,500-user world: in parts of 1,000 users with two workers and with
one, and in one part. Every file of the two part runs is byte-identical; the one-part run's queries, answers,
dataset and reports are byte-identical to theirs, and its tables hold the same rows as their parts in order.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fitsense_luigi.contracts import files, stages
from fitsense_luigi.pipeline.store import RunStore
from fitsense_luigi.synth.schema import TABLES
from tests.support import layout
from tests.support import params as test_params
from tests.support.harness import RUN_ID, run_luigi
from tests.support.hashing import digests, sha256

# 3 parts of 1000, 1000 and 500 users; the gate only warns (a 28-day world this small misses published figures)
WHOLE = {"world": {"users": 2500}, "quality": {"on_failure": "warn"}}
PARTS = {**WHOLE, "run": {"users_per_part": 1000}}
# the run's reports but the bootstrap record (it holds the params file, whose part size differs on purpose)
REPORTS = tuple(report for report in layout.REPORTS if report != files.BOOTSTRAP_RECORD)


def run(tmp_path: Path, name: str, overrides: dict, *args: str) -> Path:
    root = tmp_path / name / "data"
    params = test_params.write_params(tmp_path / f"{name}.yaml", overrides)
    result = run_luigi("BiasSlicing", RUN_ID, root, params, *args, timeout=900)
    assert result.returncode == 0, result.output[-3000:]
    return root


def report_digests(root: Path) -> dict[str, str]:
    run = layout.RunFiles(root, RUN_ID)
    return {report.name: sha256(run.path(report)) for report in REPORTS}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    tmp_path = tmp_path_factory.mktemp("world_parts")
    return {
        "parts, 2 workers": run(tmp_path, "two", PARTS, "--workers", "2"),
        "parts, 1 worker": run(tmp_path, "one", PARTS),
        "one part": run(tmp_path, "whole", WHOLE),
    }


def test_workers_change_no_byte(runs):
    two, one = runs["parts, 2 workers"], runs["parts, 1 worker"]
    data_two, data_one = digests(two, RUN_ID, every_file=True), digests(one, RUN_ID, every_file=True)
    third = tuple(layout.stage_directory(stage, RUN_ID, 2) + "/" for stage in layout.WORLD_PART_STAGES)
    per_user = len(TABLES) - len(layout.catalogue_tables())
    assert sum(name.startswith(third) for name in data_one) == per_user  # the third part holds its users' tables
    assert data_two.keys() == data_one.keys()
    assert [name for name in data_one if data_one[name] != data_two[name]] == []
    assert report_digests(two) == report_digests(one)


def test_parts_change_no_row(runs):
    parted, whole = runs["parts, 1 worker"], runs["one part"]
    world = tuple(layout.stage_directory(stage, RUN_ID) + "/" for stage in layout.WORLD_STAGES.values())
    split, single = digests(parted, RUN_ID, shards=False), digests(whole, RUN_ID, shards=False)
    outside_world = [name for name in single if not name.startswith(world)]
    assert len(outside_world) >= 8  # the queries, the answers, the dataset's splits, tables and rejections
    assert [name for name in outside_world if split.get(name) != single[name]] == []
    assert report_digests(parted) == report_digests(whole)  # every check, statistic and chart
    for name in TABLES:
        assert RunStore(parted, RUN_ID).read_world_table(name) == RunStore(whole, RUN_ID).read_world_table(name), name
    manifest = layout.RunFiles(parted, RUN_ID).document(layout.RunFiles(parted, RUN_ID).manifest(stages.WORKOUTS))
    assert manifest["summary"]["parts"] == 3
