"""Retention through the real command, ``python -m fitsense_luigi prune``, on runs the pipeline made.

Under one data root: an old run whose gate passed (the drift baseline), two newer runs whose gate failed
(finished in warn mode), and a run in progress (its teacher holds every request, so the `luigi` process
sits in the teacher stage). Pruning to the newest run removes exactly the two failed runs, in every folder
they own, and keeps the baseline, the run in progress and the teacher cache; once that run's process is
gone it is kept while recent, and removed once quiet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fitsense_luigi.contracts import files, stages
from fitsense_luigi.contracts.manifest import GATE_PASSED
from tests.support import params as test_params
from tests.support.harness import REPO, BuiltRun, run_luigi, start_luigi
from tests.support.layout import RunFiles, stage_directory
from tests.support.teacher import LOOPBACK_TEACHER, WITH_KEY, teacher_params

DAY = 86400
BASELINE, FAILED, COPY, RUNNING = "2026-02-17", "2026-02-18", "2026-02-19", "2026-02-20"


def prune(data_root: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, FITSENSE_DATA_ROOT=str(data_root))
    command = [sys.executable, "-m", "fitsense_luigi", "prune", *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def run_folders(data_root: Path, run_id: str) -> list[Path]:
    """Every folder a run owns, from the stage registry (and its locks)."""
    parents = {stage_directory(stage, run_id).split(f"/{run_id}")[0] for stage in stages.STAGES}
    return sorted(data_root / parent / run_id for parent in [*parents, "locks"])


def backdate(data_root: Path, run_id: str, seconds: float) -> None:
    """Make a run look last written ``seconds`` ago (every file and folder it owns)."""
    when = time.time() - seconds
    for folder in filter(Path.exists, run_folders(data_root, run_id)):  # a run in progress has some of them
        for path in [folder, *folder.rglob("*")]:
            os.utime(path, (when, when), follow_symlinks=False)


def decision(output: str, run_id: str) -> str:
    """The listing's line for ``run_id``: 'keep ... why' or 'remove ... why'."""
    line = next(line for line in output.splitlines() if f" {run_id} " in line)
    return " ".join(line.split())


@pytest.fixture
def in_progress(tmp_path: Path, server) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A data root holding the shared small run (gate passed), and a `luigi` process building another run that
    waits in its teacher stage (the teacher holds every request after the first)."""
    data_root = tmp_path / "data"
    teacher = server()
    teacher.hold_after(1)  # one answer goes through (the server has seen the run), every later request waits
    params = test_params.write_params(tmp_path / "running.yaml", teacher_params(teacher.url, LOOPBACK_TEACHER))
    proc = start_luigi(
        "BiasSlicing", RUNNING, data_root, params, env=WITH_KEY, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while not teacher.received and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert teacher.received and proc.poll() is None, "the run reached its teacher stage and waits there"
        yield data_root, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def test_prune_keeps_the_baseline_and_the_run_in_progress(built_run: BuiltRun, in_progress, write_params) -> None:
    data_root, proc = in_progress
    shutil.copytree(built_run.data_root, data_root, dirs_exist_ok=True)  # BASELINE: the shared run, gate passed
    flawed = write_params({"teacher": {"mock": {"flaw_rate": 0.3}}, "quality": {"on_failure": "warn"}}, name="f.yaml")
    made = run_luigi("BiasSlicing", FAILED, data_root, flawed)
    assert made.returncode == 0, made.output[-3000:]
    failed = RunFiles(data_root, FAILED)
    assert failed.document(failed.manifest(stages.BIAS))["summary"][GATE_PASSED] is False  # finished, gate failed
    for source, copy in zip(run_folders(data_root, FAILED), run_folders(data_root, COPY), strict=True):
        shutil.copytree(source, copy)  # a second failed run, as a later cron day would leave it
    backdate(data_root, BASELINE, 40 * DAY)
    backdate(data_root, FAILED, 20 * DAY)
    backdate(data_root, COPY, 10 * DAY)
    cache = sorted(p.relative_to(data_root) for p in (data_root / files.TEACHER_CACHE).rglob("*"))

    looked = prune(data_root, "--keep", "1")
    assert looked.returncode == 0, looked.stderr
    assert decision(looked.stdout, RUNNING).endswith("in use by a running process")
    assert decision(looked.stdout, BASELINE).endswith("drift baseline (the last run whose quality gate passed)")
    assert decision(looked.stdout, FAILED).startswith("remove") and decision(looked.stdout, COPY).startswith("remove")
    assert "dry run: would remove 2 runs" in looked.stdout
    assert all(folder.is_dir() for run in (FAILED, COPY) for folder in run_folders(data_root, run))

    removed = prune(data_root, "--keep", "1", "--yes")
    assert removed.returncode == 0, removed.stderr
    assert "removed 2 runs" in removed.stdout
    for run in (FAILED, COPY):
        assert not any(folder.exists() for folder in run_folders(data_root, run)), run
    assert all(folder.is_dir() for folder in run_folders(data_root, BASELINE))
    assert (data_root / "reports" / RUNNING).is_dir() and proc.poll() is None  # the run goes on
    assert sorted(p.relative_to(data_root) for p in (data_root / files.TEACHER_CACHE).rglob("*")) == cache

    old = prune(data_root, "--older-than", "30d", "--yes")  # the baseline is 40 days old, and stays
    assert "removed 0 runs" in old.stdout and (data_root / "reports" / BASELINE).is_dir()

    proc.kill()
    proc.wait(timeout=30)
    recent = prune(data_root, "--keep", "0")
    assert decision(recent.stdout, RUNNING).endswith("unfinished and written in the last 6 hours (may be in progress)")
    backdate(data_root, RUNNING, 7 * 3600)
    quiet = prune(data_root, "--keep", "0", "--yes")
    assert "removed 1 run " in quiet.stdout, quiet.stdout
    assert not any(folder.exists() for folder in run_folders(data_root, RUNNING))
    assert all(folder.is_dir() for folder in run_folders(data_root, BASELINE))


def test_prune_says_what_to_give_it(tmp_path: Path) -> None:
    nothing = prune(tmp_path / "data")
    assert nothing.returncode == 2 and "say what to keep: --keep N and/or --older-than AGE" in nothing.stderr
    bad_age = prune(tmp_path / "data", "--older-than", "a month")
    assert bad_age.returncode == 2 and "expected an age like 30d, 12h or 2w, got 'a month'" in bad_age.stderr
    bucket = prune("s3://bucket/prefix", "--keep", "3")  # an S3 data root: its own lifecycle rules
    assert bucket.returncode == 2 and "prune works on local data roots" in bucket.stderr
    empty = prune(tmp_path / "data", "--keep", "3")
    assert empty.returncode == 0 and "0 runs" in empty.stdout and not (tmp_path / "data").exists()
