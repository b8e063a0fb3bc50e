"""A finished stage's file changed behind the pipeline's back is caught by name, never read."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import BuiltRun, run_luigi


def downstream_manifests(root: Path, run_id: str) -> None:
    """Forget every stage after the queries, so that the rerun has to read queries.jsonl again."""
    for path in (root / "raw" / "teacher_outputs" / run_id).rglob("manifest.json"):
        path.unlink()
    for stage in ("distillation_dataset",):
        (root / "raw" / stage / run_id / "manifest.json").unlink()
    for path in (root / "reports" / run_id / "manifests").glob("*.json"):
        if path.stem not in ("bootstrap",):
            path.unlink()


@pytest.fixture
def run_copy(built_run: BuiltRun, tmp_path: Path) -> BuiltRun:
    root = tmp_path / "data"
    shutil.copytree(built_run.data_root, root)
    return BuiltRun(root, built_run.params, built_run.run_id, built_run.result)


def test_truncated_file_is_named_and_not_read(run_copy: BuiltRun) -> None:
    queries = run_copy.path("raw", "synthetic_queries", run_copy.run_id, "queries.jsonl")
    queries.write_bytes(queries.read_bytes()[: queries.stat().st_size // 2])
    downstream_manifests(run_copy.data_root, run_copy.run_id)
    result = run_luigi("BiasSlicing", run_copy.run_id, run_copy.data_root, run_copy.params)
    assert result.returncode == 30
    assert f"CorruptInputError: {queries}: checksum does not match the manifest of stage queries" in result.output
    assert "Traceback" not in result.output
    assert not run_copy.path("raw", "teacher_outputs", run_copy.run_id, "manifest.json").exists()


def test_altered_table_is_caught(run_copy: BuiltRun) -> None:
    table = run_copy.path("raw", "synthetic_profiles", run_copy.run_id, "users.parquet")
    data = bytearray(table.read_bytes())
    data[100] ^= 0xFF
    table.write_bytes(bytes(data))
    (run_copy.data_root / "raw" / "synthetic_queries" / run_copy.run_id / "manifest.json").unlink()
    result = run_luigi("GenerateQueries", run_copy.run_id, run_copy.data_root, run_copy.params)
    assert result.returncode == 30
    assert f"{table}: checksum does not match" in result.output


def test_malformed_row_is_reported_with_file_and_line(run_copy: BuiltRun) -> None:
    """A writer bug upstream (bad row, matching checksum) is reported as file:line."""
    stage_dir = run_copy.path("raw", "synthetic_queries", run_copy.run_id)
    queries = stage_dir / "queries.jsonl"
    lines = queries.read_text().splitlines()
    lines[2] = "{this is not json"
    queries.write_text("\n".join(lines) + "\n")
    manifest_path = stage_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    key = f"raw/synthetic_queries/{run_copy.run_id}/queries.jsonl"
    manifest["files"][key]["sha256"] = hashlib.sha256(queries.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    downstream_manifests(run_copy.data_root, run_copy.run_id)
    result = run_luigi("BiasSlicing", run_copy.run_id, run_copy.data_root, run_copy.params)
    assert result.returncode == 30
    assert f"MalformedInputError: {queries}:3: not a JSON object" in result.output
