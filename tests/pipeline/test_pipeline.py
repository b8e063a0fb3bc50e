"""End to end through the `luigi` command: outputs, reruns, run identity, determinism, bad input."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fitsense_luigi.contracts import files, splits, stages
from fitsense_luigi.synth.schema import TABLES
from tests.support import layout
from tests.support import params as test_params
from tests.support.harness import REPO, RUN_ID, BuiltRun, run_luigi
from tests.support.hashing import digests


def test_every_output_is_present(built_run: BuiltRun) -> None:
    run = built_run.files
    tables = {p.stem for stage in layout.WORLD_STAGES.values() for p in run.directory(stage).glob("*.parquet")}
    assert tables == set(TABLES) and len(tables) == 23
    assert run.path(files.QUERIES).stat().st_size > 0
    assert run.path(files.RESPONSES).stat().st_size > 0
    for split in splits.SPLITS:
        assert run.path(files.records(split)).stat().st_size > 0, split
    for report in layout.REPORTS:
        assert run.path(report).is_file(), report.name
    assert run.run_log.is_file()
    for stage in layout.DATA_STAGES:
        manifest = run.document(run.manifest(stage))
        assert manifest["files"], stage.name
        assert all(len(f["sha256"]) == 64 for f in manifest["files"].values())


def test_reports_are_computed_from_the_data(built_run: BuiltRun) -> None:
    run = built_run.files
    validation = run.document(files.VALIDATION_REPORT)
    assert validation["valid"] is True, validation["failed_checks"]
    assert validation["num_checks"] > 50
    records = run.records()
    stats = run.document(files.STATS_REPORT)
    assert stats["splits"]["all_records"]["count"] == len(records)
    bootstrap = run.document(files.BOOTSTRAP_RECORD)
    assert bootstrap["as_of_date"] == built_run.run_id  # a run id that is a date stands for that day
    assert len(bootstrap["config_fingerprint"]) == 64


def test_one_log_format_to_the_run_log(built_run: BuiltRun) -> None:
    log = built_run.files.run_log.read_text().splitlines()
    record = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR) [\w.-]+\[\d+\]: ")
    records = [line for line in log if record.match(line)]
    assert any("luigi-interface" in line for line in records)
    assert any("fitsense.tasks" in line for line in records)
    # the only other lines continue a multi-line record (Luigi's execution summary)
    assert all(not re.search(r"\b(INFO|ERROR)\b", line) for line in log if not record.match(line))


def test_rerun_runs_no_task(built_run: BuiltRun) -> None:
    manifests = {p: p.stat().st_mtime_ns for p in layout.manifest_paths(built_run.data_root)}
    assert len(manifests) == len(stages.STAGES) - 1 + 2  # every stage, the teacher's once per shard (2)
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
    seed, users = test_params.params()["reproducibility"]["seed"], test_params.params()["world"]["users"]
    assert errors[1:] == [
        f"reproducibility.seed: {seed} when the run was made, 5 now (from FITSENSE__REPRODUCIBILITY__SEED)",
        f"world.users: {users} when the run was made, 77 now (from {changed}; "
        f"the run was made with {built_run.params})",
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
    first, second = digests(built_run.data_root), digests(other_root)
    assert first.keys() == second.keys() and len(first) > 25
    assert [k for k in first if first[k] != second[k]] == []


@pytest.mark.parametrize("run_id", ["bad id", "../escape", "a/b", "2026-02-30", ""])
def test_bad_run_id(tmp_path: Path, write_params, run_id: str) -> None:
    """Refused in one line, exit 40 (the README's exit codes), nothing created: among them a day February does not
    have (it would otherwise run as of today) and an empty id (luigi would otherwise build today's run)."""
    root = tmp_path / "data"
    result = run_luigi("BiasSlicing", run_id, root, write_params())
    assert result.returncode == 40
    errors = [line for line in result.output.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "RunIdError: bad run id" in errors[0], result.output[-2000:]
    assert "Traceback" not in result.output and "Uncaught exception" not in result.output
    assert not root.exists()


def test_bad_params_file(tmp_path: Path) -> None:
    root = tmp_path / "data"
    params = tmp_path / "params.yaml"
    params.write_text("run: {data_root: data}\n")
    result = run_luigi("BiasSlicing", RUN_ID, root, params)
    assert result.returncode == 40
    said = [line.split("ConfigError: ", 1)[1] for line in result.output.splitlines() if "ConfigError" in line]
    # every problem at once, one line each, in the file's order (the missing sections after the run section)
    assert said[:3] == [
        f"{params}: run.as_of_date: missing key",
        f"{params}: run.log_level: missing key",
        f"{params}: reproducibility: missing key",
    ]
    assert len(said) == 10 and all(line.startswith(f"{params}: ") for line in said)
    assert "Traceback" not in result.output and not root.exists()


def test_three_typos_are_named_at_once_one_line_each(tmp_path: Path, write_params) -> None:
    """A misspelt key, a word for a number and a word for a float: three lines naming file, key path, expected
    and seen, in the file's order, and none of luigi's "Uncaught exception" or "logging disabled" lines."""
    params = write_params()
    text = params.read_text()
    for right, wrong in (
        ("users: 120", "users: many"),
        ("lookback_days:", "lookbak_days:"),
        ("top_p: 1.0", "top_p: x"),
    ):
        assert text.count(right) == 1, right
        text = text.replace(right, wrong)
    params.write_text(text)
    root = tmp_path / "data"
    result = run_luigi("BiasSlicing", RUN_ID, root, params)
    assert result.returncode == 40
    errors = [line.split("]: ", 1)[1] for line in result.output.splitlines() if " ERROR " in line]
    assert errors == [
        f"ConfigError: {params}: world.users: expected integer, got 'many'",
        f"ConfigError: {params}: world.lookbak_days: unknown key (did you mean lookback_days?)",
        f"ConfigError: {params}: teacher.top_p: expected number, got 'x'",
    ]
    assert result.output.count("\n") == 3, result.output  # nothing else is said
    assert not root.exists()


def test_a_problem_in_the_environment_is_named_beside_those_in_the_file(tmp_path: Path, write_params) -> None:
    params = write_params({"world": {"users": "many"}})
    env = {"FITSENSE__TEACHER__SHARDS": "lots", "FITSENSE__WORLD__USER": "3"}
    result = run_luigi("BiasSlicing", RUN_ID, tmp_path / "data", params, env=env)
    assert result.returncode == 40
    errors = [line.split("ConfigError: ", 1)[1] for line in result.output.splitlines() if " ERROR " in line]
    assert sorted(errors) == sorted(
        [
            f"FITSENSE__WORLD__USER: world.user is not a key of {params} (overrides name existing keys)",
            f"{params}: world.users: expected integer, got 'many'",
            f"FITSENSE__TEACHER__SHARDS (overrides teacher.shards in {params}): expected integer, got 'lots'",
        ]
    )


def test_an_unquoted_yaml_date_is_the_as_of_date(tmp_path: Path, write_params) -> None:
    """How everyone writes a date in YAML: as_of_date: 2026-06-01, which YAML reads as a date."""
    params = write_params()
    text = params.read_text()
    assert text.count("as_of_date: null") == 1
    params.write_text(text.replace("as_of_date: null", "as_of_date: 2026-06-01"))
    run = layout.RunFiles(tmp_path / "data", "smoke_1")
    result = run_luigi("Bootstrap", run.run_id, run.data_root, params)
    assert result.returncode == 0, result.output[-2000:]
    assert run.document(files.BOOTSTRAP_RECORD)["as_of_date"] == "2026-06-01"


def test_python_m_fitsense_luigi_prints_its_help_once_under_its_own_name() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fitsense_luigi", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("usage: ") == 1, result.stdout
    assert result.stdout.startswith("usage: python -m fitsense_luigi "), result.stdout[:200]
    assert "__main__" not in result.stdout + result.stderr


def test_unreadable_params_file(tmp_path: Path) -> None:
    result = run_luigi("BiasSlicing", RUN_ID, tmp_path / "data", tmp_path / "missing.yaml")
    assert result.returncode == 40 and "params file not found" in result.output
    assert not (tmp_path / "data").exists()


def test_unwritable_data_root(tmp_path: Path, write_params) -> None:
    if os.geteuid() == 0:
        parent = Path("/proc/fitsense-cannot-write")  # not writable even for root
    else:
        parent = tmp_path / "locked"
        parent.mkdir(mode=0o500)
    result = run_luigi("BiasSlicing", RUN_ID, parent / "data", write_params())
    said = "takes no new files (creating one there failed" if os.geteuid() == 0 else "is not writable"
    assert result.returncode == 40 and said in result.output, result.output[-2000:]
    assert "DataRootError" in result.output and "Traceback" not in result.output
    assert "not writable: No such file" not in result.output  # no self-contradiction
    assert not (parent / "data").exists()


def test_data_root_that_is_a_file(tmp_path: Path, write_params) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a directory")
    result = run_luigi("BiasSlicing", RUN_ID, blocker / "sub", write_params())
    assert result.returncode == 40 and "DataRootError" in result.output and "is a file" in result.output
    assert "Traceback" not in result.output
