"""End to end through the `luigi` command: outputs, reruns, run identity, determinism, bad input."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.conftest import BuiltRun, run_luigi

DATA_SUFFIXES = (".parquet", ".jsonl")
REPORTS = (
    "phase1_bootstrap.json",
    "validation_report.json",
    "stats_report.json",
    "anomaly_report.json",
    "bias_report.json",
    "realism.json",
    "run.log",
)


def data_files(root: Path) -> dict[str, bytes]:
    """Every data file (tables and JSONL) by path relative to the data root."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.suffix in DATA_SUFFIXES and "/cache/" not in p.as_posix()
    }


def test_every_output_is_present(built_run: BuiltRun) -> None:
    r = built_run.run_id
    tables = {p.stem for p in built_run.path("raw", "synthetic_profiles", r).glob("*.parquet")}
    tables |= {p.stem for p in built_run.path("raw", "synthetic_workouts", r).glob("*.parquet")}
    assert len(tables) == 23
    assert built_run.path("raw", "synthetic_queries", r, "queries.jsonl").stat().st_size > 0
    assert built_run.path("raw", "teacher_outputs", r, "responses.jsonl").stat().st_size > 0
    for split in ("train", "val", "test"):
        assert built_run.path("raw", "distillation_dataset", r, f"{split}.jsonl").stat().st_size > 0
    for name in REPORTS:
        assert (built_run.reports / name).is_file(), name
    for stage_dir in (
        "synthetic_profiles",
        "synthetic_workouts",
        "synthetic_queries",
        "teacher_outputs",
        "distillation_dataset",
    ):
        manifest = json.loads(built_run.path("raw", stage_dir, r, "manifest.json").read_text())
        assert manifest["files"], stage_dir
        assert all(len(f["sha256"]) == 64 for f in manifest["files"].values())


def test_reports_are_computed_from_the_data(built_run: BuiltRun) -> None:
    validation = json.loads((built_run.reports / "validation_report.json").read_text())
    assert validation["valid"] is True, validation["failed_checks"]
    assert validation["num_checks"] > 50
    dataset = built_run.path("raw", "distillation_dataset", built_run.run_id)
    records = [
        line for split in ("train", "val", "test") for line in (dataset / f"{split}.jsonl").read_text().splitlines()
    ]
    stats = json.loads((built_run.reports / "stats_report.json").read_text())
    assert stats["splits"]["all_records"]["count"] == len(records)
    bootstrap = json.loads((built_run.reports / "phase1_bootstrap.json").read_text())
    assert bootstrap["as_of_date"] == "2026-02-17"
    assert len(bootstrap["config_fingerprint"]) == 64


def test_one_log_format_to_the_run_log(built_run: BuiltRun) -> None:
    log = (built_run.reports / "run.log").read_text().splitlines()
    record = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR) [\w.-]+\[\d+\]: ")
    records = [line for line in log if record.match(line)]
    assert any("luigi-interface" in line for line in records)
    assert any("fitsense.tasks" in line for line in records)
    # the only other lines continue a multi-line record (Luigi's execution summary)
    assert all(not re.search(r"\b(INFO|ERROR)\b", line) for line in log if not record.match(line))


def test_rerun_runs_no_task(built_run: BuiltRun) -> None:
    manifests = {p: p.stat().st_mtime_ns for p in built_run.data_root.rglob("manifest*.json")}
    manifests |= {p: p.stat().st_mtime_ns for p in built_run.reports.glob("manifests/*.json")}
    again = run_luigi("BiasSlicing", built_run.run_id, built_run.data_root, built_run.params)
    assert again.returncode == 0
    assert "Did not run any tasks" in again.output
    assert {p: p.stat().st_mtime_ns for p in manifests} == manifests


def test_changed_config_for_the_same_run_id_is_refused(built_run: BuiltRun, write_params) -> None:
    changed = write_params({"world": {"users": 77}}, name="changed.yaml")
    result = run_luigi(
        "BiasSlicing", built_run.run_id, built_run.data_root, changed, env={"FITSENSE__REPRODUCIBILITY__SEED": "5"}
    )
    assert result.returncode == 40
    errors = [line.split("RunConflictError: ", 1)[1] for line in result.output.splitlines() if "ERROR" in line]
    assert "2 keys differ" in errors[0] and "use a new --run-id" in errors[0]
    # each changed key with its old and new value and where the new one comes from: the file or the environment
    assert errors[1:] == [
        "reproducibility.seed: 20260217 when the run was made, 5 now (from FITSENSE__REPRODUCIBILITY__SEED)",
        f"world.users: 120 when the run was made, 77 now (from {changed}; the run was made with {built_run.params})",
    ]
    assert "Traceback" not in result.output and "Uncaught exception" not in result.output


def test_operational_change_is_not_a_new_config(built_run: BuiltRun, write_params) -> None:
    faster = write_params({"teacher": {"concurrency": 3}, "run": {"log_level": "DEBUG"}})
    result = run_luigi("BiasSlicing", built_run.run_id, built_run.data_root, faster)
    assert result.returncode == 0 and "Did not run any tasks" in result.output


def test_two_identical_runs_give_byte_identical_data(built_run: BuiltRun, tmp_path: Path) -> None:
    other_root = tmp_path / "data"
    result = run_luigi("BiasSlicing", built_run.run_id, other_root, built_run.params)
    assert result.returncode == 0, result.output[-3000:]
    first, second = data_files(built_run.data_root), data_files(other_root)
    assert first.keys() == second.keys() and len(first) > 25
    assert [k for k in first if first[k] != second[k]] == []


@pytest.mark.parametrize("run_id", ["bad id", "../escape", "a/b"])
def test_bad_run_id(tmp_path: Path, write_params, run_id: str) -> None:
    root = tmp_path / "data"
    result = run_luigi("BiasSlicing", run_id, root, write_params())
    assert result.returncode == 40
    assert "RunIdError: bad run id" in result.output and "Traceback" not in result.output
    assert not root.exists()


def test_bad_params_file(tmp_path: Path) -> None:
    root = tmp_path / "data"
    params = tmp_path / "params.yaml"
    params.write_text("run: {data_root: data}\n")
    result = run_luigi("BiasSlicing", "2026-02-17", root, params)
    assert result.returncode == 40
    said = [line.split("ConfigError: ", 1)[1] for line in result.output.splitlines() if "ConfigError" in line]
    # every problem at once, one line each, in the file's order (the missing sections after the run section)
    assert said[:3] == [
        f"{params}: run.as_of_date: missing key",
        f"{params}: run.log_level: missing key",
        f"{params}: reproducibility: missing key",
    ]
    assert len(said) == 8 and all(line.startswith(f"{params}: ") for line in said)
    assert "Traceback" not in result.output and not root.exists()


def test_unreadable_params_file(tmp_path: Path) -> None:
    result = run_luigi("BiasSlicing", "2026-02-17", tmp_path / "data", tmp_path / "missing.yaml")
    assert result.returncode == 40 and "params file not found" in result.output
    assert not (tmp_path / "data").exists()


def test_unwritable_data_root(tmp_path: Path, write_params) -> None:
    if os.geteuid() == 0:
        parent = Path("/proc/fitsense-cannot-write")  # not writable even for root
    else:
        parent = tmp_path / "locked"
        parent.mkdir(mode=0o500)
    result = run_luigi("BiasSlicing", "2026-02-17", parent / "data", write_params())
    said = "takes no new files (creating one there failed" if os.geteuid() == 0 else "is not writable"
    assert result.returncode == 40 and said in result.output, result.output[-2000:]
    assert "DataRootError" in result.output and "Traceback" not in result.output
    assert "not writable: No such file" not in result.output  # no self-contradiction
    assert not (parent / "data").exists()


def test_data_root_that_is_a_file(tmp_path: Path, write_params) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a directory")
    result = run_luigi("BiasSlicing", "2026-02-17", blocker / "sub", write_params())
    assert result.returncode == 40 and "DataRootError" in result.output and "is a file" in result.output
    assert "Traceback" not in result.output
