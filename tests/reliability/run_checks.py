"""What a data root holds after a fault: leftovers, broken stages, data that differs, secrets; and ways to damage one.

Shared by the reliability tests (``fault_harness`` runs the pipeline and kills it; this module looks at the result).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.conftest import BuiltRun
from tests.teacher.teacher_server import KEY_ENV, TEST_KEY

WITH_KEY = {KEY_ENV: TEST_KEY}  # every scenario runs with an API key set, and then looks for it everywhere
TEMPORARY = re.compile(r"^\.(?P<final>.+)\.tmp-\d+-[0-9a-f]+$")
DATA_SUFFIXES = (".parquet", ".jsonl")


# ------------------------------------------------------------------ what a data root holds


def temporaries(root: Path) -> list[str]:
    """Final paths (relative to ``root``) of every temporary file under it."""
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            match = TEMPORARY.match(name)
            if match:
                found.append(os.path.relpath(os.path.join(directory, match["final"]), root))
    return found


def manifest_problems(root: Path) -> list[str]:
    """Every stage manifest under ``root`` that lists a file which is missing or differs from its checksum."""
    problems = []
    for manifest in sorted([*root.glob("raw/**/manifest.json"), *root.glob("reports/*/manifests/*.json")]):
        try:
            files = json.loads(manifest.read_text())["files"]
        except (ValueError, KeyError) as exc:
            problems.append(f"{manifest}: unreadable ({exc})")
            continue
        for relative, entry in files.items():
            path = root / relative
            if not path.is_file():
                problems.append(f"{manifest}: {relative} is missing")
            elif hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
                problems.append(f"{manifest}: {relative} does not match its checksum")
    return problems


def data_file_paths(root: Path) -> dict[str, Path]:
    """Every data file (tables and JSONL) of the runs under ``root``, by relative path (the cache left out)."""
    return {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.suffix in DATA_SUFFIXES and p.is_file() and p.relative_to(root).parts[0] != "cache"
    }


def _without(value: Any, measurements: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, measurements) for k, v in value.items() if k not in measurements}
    if isinstance(value, list):
        return [_without(v, measurements) for v in value]
    return value


def _content(path: Path, measurements: tuple[str, ...]) -> Any:
    if path.suffix == ".parquet":
        return _without(pq.read_table(path).to_pylist(), measurements)
    return [_without(json.loads(line), measurements) for line in path.read_text().splitlines()]


def data_differences(root: Path, reference: Path, measurements: tuple[str, ...] = ("latency_ms",)) -> list[str]:
    """Data files of ``root`` that differ from ``reference``'s.

    Byte for byte, except that files carrying per-call measurements of a real
    teacher (``latency_ms``: no two runs against a network agree on it) are
    compared row by row without those keys; everything else in them must match.
    ``measurements=()``: byte for byte, every file.
    """
    mine, theirs = data_file_paths(root), data_file_paths(reference)
    differences = [f"only in one run: {name}" for name in sorted(set(mine) ^ set(theirs))]
    for name in sorted(set(mine) & set(theirs)):
        if mine[name].read_bytes() == theirs[name].read_bytes():
            continue
        if not measurements or _content(mine[name], measurements) != _content(theirs[name], measurements):
            differences.append(name)
    return differences


# ------------------------------------------------------------------ damaging a finished run


def downstream_manifests(root: Path, run_id: str) -> None:
    """Forget every stage after the queries, so that the rerun has to read queries.jsonl again."""
    for path in (root / "raw" / "teacher_outputs" / run_id).rglob("manifest.json"):
        path.unlink()
    for stage in ("distillation_dataset",):
        (root / "raw" / stage / run_id / "manifest.json").unlink()
    for path in (root / "reports" / run_id / "manifests").glob("*.json"):
        if path.stem not in ("bootstrap",):
            path.unlink()


@pytest.fixture(name="run_copy")
def run_copy_fixture(built_run: BuiltRun, tmp_path: Path) -> BuiltRun:
    root = tmp_path / "data"
    shutil.copytree(built_run.data_root, root)
    return BuiltRun(root, built_run.params, built_run.run_id, built_run.result)


def rewrite_with_matching_checksum(stage_dir: Path, name: str, data: bytes) -> Path:
    """A writer fault: the file is damaged before its checksum was taken, so the manifest agrees with it."""
    path = stage_dir / name
    path.write_bytes(data)
    manifest_path = stage_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    key = next(k for k in manifest["files"] if k.endswith(f"/{name}"))
    manifest["files"][key]["sha256"] = hashlib.sha256(data).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    return path


# ------------------------------------------------------------------ secrets


def files_containing(roots: Iterable[Path], secret: str) -> list[Path]:
    """Every file under ``roots`` (data, cache, logs, manifests, locks, scheduler state) holding ``secret``."""
    needle = secret.encode()
    hits = []
    for root in roots:
        for path in Path(root).rglob("*"):
            if path.is_file() and not path.is_symlink():
                with contextlib.suppress(OSError):
                    if needle in path.read_bytes():
                        hits.append(path)
    return hits


def assert_no_secret(roots: Iterable[Path], texts: Iterable[str], secret: str = TEST_KEY) -> None:
    assert files_containing(roots, secret) == [], "the API key was written to a file"
    leaked = [i for i, text in enumerate(texts) if secret in text]
    assert leaked == [], f"the API key is in captured output {leaked}"
