"""`make publish RUN_ID=R` as its user runs it, then a consumer's fresh clone of the registry and `dvc pull`.

DVC and git are the real tools (dvc pinned in requirements-dev.txt); the remote is a local directory, as the
card documents for S3 (``release.remote: s3://bucket/prefix`` with the dvc-s3 plugin).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fitsense_luigi.contracts import files, stages
from fitsense_luigi.dataset.card import RELEASE_START
from fitsense_luigi.pipeline.release import RELEASED_REPORT
from tests.support.harness import luigi_env
from tests.support.params import REPO, write_params

DVC = str(Path(sys.executable).with_name("dvc"))
NAME = "fitsense-distillation"


def publish(built_run, params: Path) -> subprocess.CompletedProcess:
    env = luigi_env(built_run.data_root, params)
    env["MAKEFLAGS"] = ""
    return subprocess.run(
        ["make", "--no-print-directory", "publish", f"RUN_ID={built_run.run_id}", f"BIN={Path(sys.executable).parent}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def tree(directory: Path) -> dict[str, str]:
    return {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def released(built_run, tmp_path_factory):
    base = tmp_path_factory.mktemp("release")
    registry, remote = base / "registry", base / "remote"
    params = write_params(base / "params.yaml", {"release": {"registry": str(registry), "remote": str(remote)}})
    done = publish(built_run, params)
    assert done.returncode == 0, done.stderr[-2000:]
    return built_run, params, registry, remote, done.stdout


def test_a_release_round_trips_through_dvc_pull_in_a_fresh_clone(released, tmp_path):
    built_run, _, registry, remote, said = released
    assert f"released as {NAME}-v1" in said
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(registry), str(clone)], check=True)
    assert not (clone / NAME).exists(), "git holds only the .dvc pointer; the data comes from the remote"
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    subprocess.run([DVC, "pull", "-q"], cwd=clone, check=True, env=env, timeout=300)
    pulled, written = tree(clone / NAME), tree(built_run.files.directory(stages.DATASET))
    card = files.DATASET_CARD.name
    assert {k: v for k, v in pulled.items() if k not in (card, RELEASED_REPORT)} == {
        k: v for k, v in written.items() if k != card
    }, "every data file byte-equal to the run's"
    released_card = (clone / NAME / card).read_text()
    assert f"git tag `{NAME}-v1`" in released_card and "DVC 3." in released_card
    assert "Quality gate of this run: **passed**" in released_card
    assert f"[report.html]({RELEASED_REPORT})" in released_card and (clone / NAME / RELEASED_REPORT).is_file()
    for name, digest in written.items():
        if name not in (card, "manifest.json"):  # the manifest lists the others; the card is what changes
            assert f'"{name}": "{digest}"' in released_card
    assert any(remote.rglob("*")), "the data is in the remote"
    tags = subprocess.run(["git", "tag"], cwd=clone, capture_output=True, text=True, check=True).stdout.split()
    assert tags == [f"{NAME}-v1"]


def test_publishing_the_same_run_again_changes_nothing(released):
    built_run, params, registry, _, _ = released
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=registry, capture_output=True, text=True).stdout
    again = publish(built_run, params)
    assert again.returncode == 0 and f"already released as {NAME}-v1" in again.stdout
    assert subprocess.run(["git", "rev-parse", "HEAD"], cwd=registry, capture_output=True, text=True).stdout == head


def test_a_run_without_a_dataset_is_refused_in_one_line(released, tmp_path):
    built_run, params, *_ = released
    env = luigi_env(tmp_path / "empty", params)
    done = subprocess.run(
        [sys.executable, "-m", "fitsense_luigi.pipeline.release", "--run-id", built_run.run_id],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"publish: ReleaseError: run {built_run.run_id}: no finished dataset (run BuildDistillationDataset first)"
    ]


def test_the_unreleased_card_says_how_to_release(built_run):
    card = built_run.files.path(files.DATASET_CARD).read_text()
    assert RELEASE_START in card and "make publish RUN_ID=" in card
