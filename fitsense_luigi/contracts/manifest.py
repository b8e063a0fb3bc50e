"""The manifest that closes a stage, the run's bootstrap record, and the summary keys read across modules.

A manifest lists every file of its stage (rows, bytes, sha256), the digests of
the input stages' manifests, the config fingerprint and the stage's summary
figures. The bootstrap record (``files.BOOTSTRAP_RECORD``) is how every later
invocation of a run checks that its config did not change.
"""

from __future__ import annotations

from typing import Any, TypedDict


class FileEntry(TypedDict):
    rows: int | None  # None for files that are not tables or JSONL
    bytes: int
    sha256: str


class Manifest(TypedDict):
    stage: str
    run_id: str
    config_fingerprint: str
    package_version: str
    started_at: str  # UTC, ISO 8601 (timestamps live in manifests, never in data files)
    finished_at: str
    duration_s: float
    inputs: dict[str, str]  # input stage name -> sha256 of its manifest
    files: dict[str, FileEntry]  # path relative to the data root -> entry
    summary: dict[str, Any]


class BootstrapRecord(TypedDict):
    run_id: str
    as_of_date: str
    config_fingerprint: str
    params_file: str
    params: dict[str, Any]  # the resolved params (as-of date and data root filled in)
    seed: int
    package_version: str
    python: str
    platform: str
    libraries: dict[str, str | None]
    created_at: str


# Summary keys that another module reads: the last stage's verdict decides which runs can serve as a baseline.
GATE_PASSED = "gate_passed"
