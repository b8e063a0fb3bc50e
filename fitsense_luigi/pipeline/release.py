"""``make publish RUN_ID=R`` (``python -m fitsense_luigi.pipeline.release --run-id R``): a run's dataset as a
versioned release in a DVC data registry.

The registry is a git repository (``release.registry``, else ``<data root>/registry``; made on first use) whose
``<release.name>/`` directory DVC tracks; the data goes to the DVC remote (``release.remote``: a directory, or
``s3://bucket/prefix`` with the ``dvc-s3`` plugin and the usual AWS credentials; else ``<data root>/dvc-remote``).
Each release is one commit and one tag ``<name>-v<N>``, its card filled in with the quality gate's verdict and
the release itself. A consumer gets a release with ``dvc get <registry> <name> --rev <tag>``, or clones the
registry and runs ``dvc pull``.

Only a run whose dataset is complete, whose files match their manifest and whose quality gate passed is
released; publishing the same dataset again changes nothing and names its existing tag.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

from fitsense_luigi.config import DATA_ROOT_ENV, load_config
from fitsense_luigi.contracts import files, stages
from fitsense_luigi.contracts.manifest import GATE_PASSED
from fitsense_luigi.dataset import card
from fitsense_luigi.errors import FitSenseError
from fitsense_luigi.pipeline.roots.local import LocalRoot
from fitsense_luigi.pipeline.scheduler import resolve_data_root
from fitsense_luigi.pipeline.store import RunStore

DEFAULT_REGISTRY = "registry"  # below the data root
DEFAULT_REMOTE = "dvc-remote"
REMOTE_NAME = "storage"
RELEASED_REPORT = "quality_report.html"  # the run's report (quality gate, statistics, bias), beside the card
QUIET_ENV = {"DVC_NO_ANALYTICS": "1", "GIT_TERMINAL_PROMPT": "0"}
AUTHOR = ["-c", "user.name=fitsense-luigi", "-c", "user.email=fitsense-luigi@localhost"]


class ReleaseError(FitSenseError):
    """The run cannot be released (incomplete, changed since written, failed gate) or a tool failed."""


def tool(name: str) -> str:
    """``git`` or ``dvc``: the one beside this interpreter (the venv's) first."""
    local = Path(sys.executable).with_name(name)
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        raise ReleaseError(f"{name} not found: `make install` installs dvc; git comes from the system")
    return found


def run(command: list[str], cwd: Path) -> str:
    env = {**os.environ, **QUIET_ENV}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise ReleaseError(f"{' '.join(Path(command[0]).name.split() + command[1:3])}: {said[-1] if said else done}")
    return done.stdout


def git(cwd: Path, *args: str) -> str:
    return run([tool("git"), *AUTHOR, *args], cwd)


def dvc(cwd: Path, *args: str) -> str:
    return run([tool("dvc"), *args], cwd)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checked_dataset(store: RunStore, root: Path) -> tuple[Path, dict[str, str]]:
    """The run's dataset directory and its files' sha256, each checked against the stage manifest."""
    run_id = store.run_id
    if not store.is_complete(stages.DATASET):
        raise ReleaseError(f"run {run_id}: no finished dataset (run BuildDistillationDataset first)")
    if not store.is_complete(stages.BIAS):
        raise ReleaseError(f"run {run_id}: the quality gate has not run (run BiasSlicing first)")
    if not store.manifest(stages.BIAS)["summary"].get(GATE_PASSED):
        raise ReleaseError(f"run {run_id}: the quality gate failed; a failed dataset is not released")
    directory = root / stages.DATASET.directory_of(run_id)
    listed = store.manifest(stages.DATASET)["files"]
    hashes, problems = {}, []
    for key, entry in sorted(listed.items()):
        path = root / key
        relative = path.relative_to(directory).as_posix()
        if not path.is_file():
            problems.append(f"{relative} is missing")
        elif (actual := sha256(path)) != entry["sha256"]:
            problems.append(f"{relative} changed since it was written")
        else:
            hashes[relative] = actual
    if problems:
        raise ReleaseError(f"run {run_id}: dataset does not match its manifest: {'; '.join(problems)}")
    return directory, hashes


def open_registry(registry: Path, remote: str) -> None:
    """The registry's git repository with DVC set up and ``remote`` as its default remote (made if new)."""
    if not (registry / ".git").exists():
        registry.mkdir(parents=True, exist_ok=True)
        git(registry, "init", "-q", "-b", "main")
    if not (registry / ".dvc").exists():
        dvc(registry, "init", "-q")
        dvc(registry, "config", "core.analytics", "false")
    dvc(registry, "remote", "add", "--force", "-d", REMOTE_NAME, remote)
    git(registry, "add", ".dvc")
    if git(registry, "status", "--porcelain", ".dvc"):
        git(registry, "commit", "-q", "-m", f"DVC set up, remote {remote}")


def releases(registry: Path, name: str) -> list[str]:
    return [t for t in git(registry, "tag", "--list", f"{name}-v*").split() if t[len(name) + 2 :].isdigit()]


def publish(run_id: str, root: Path, registry: Path, remote: str, name: str) -> dict[str, Any]:
    store = RunStore(LocalRoot(root), run_id)
    source, hashes = checked_dataset(store, root)
    open_registry(registry, remote)
    tags = releases(registry, name)
    for tag in tags:  # the same dataset released before: nothing to do
        if _source_line(run_id, hashes) in git(registry, "tag", "--list", "--format=%(contents)", tag):
            return {"tag": tag, "new": False, "registry": str(registry), "name": name}
    number = 1 + max((int(t[len(name) + 2 :]) for t in tags), default=0)
    tag = f"{name}-v{number}"
    gate = store.read_json(files.QUALITY_GATE)
    report_html = root / stages.BIAS.directory_of(run_id) / files.REPORT_HTML.name
    release = {
        "version": f"v{number}",
        "name": name,
        "tag": tag,
        "dvc_version": version("dvc"),
        "registry": str(registry),
        "files": {k: v for k, v in hashes.items() if k != files.DATASET_CARD.name},
    }
    with tempfile.TemporaryDirectory(dir=registry) as staging:
        staged = Path(staging) / name
        shutil.copytree(source, staged)
        shutil.copyfile(report_html, staged / RELEASED_REPORT)  # the card links it: it travels with the data
        released_card = card.with_release(
            (source / files.DATASET_CARD.name).read_text(), gate, RELEASED_REPORT, release
        )
        (staged / files.DATASET_CARD.name).write_text(released_card)
        target = registry / name
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    dvc(registry, "add", "-q", name)
    git(registry, "add", f"{name}.dvc", ".gitignore")
    git(registry, "commit", "-q", "-m", f"{name} {release['version']}: dataset of run {run_id}")
    git(
        registry,
        "tag",
        "-a",
        tag,
        "-m",
        f"{name} {release['version']} (run {run_id})\n\n{_source_line(run_id, hashes)}",
    )
    dvc(registry, "push", "-q")
    return {"tag": tag, "new": True, "registry": str(registry), "name": name}


def _source_line(run_id: str, hashes: dict[str, str]) -> str:
    """What identifies a release's content: the run and the sha256 of its files (the card before release)."""
    digest = hashlib.sha256("".join(f"{k}\0{v}\n" for k, v in sorted(hashes.items())).encode()).hexdigest()
    return f"run {run_id} files {digest}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fitsense_luigi.pipeline.release",
        description="Release a run's dataset into the DVC data registry (release: in params.yaml).",
    )
    parser.add_argument("--run-id", required=True)
    args = parser.parse_args(argv)
    try:
        config = load_config()
        data_root = resolve_data_root()
        if not isinstance(data_root, LocalRoot):
            raise ReleaseError(f"{data_root.uri()}: publish reads a local data root (set {DATA_ROOT_ENV})")
        root = data_root.path.resolve()
        registry = Path(config.release.registry or root / DEFAULT_REGISTRY).resolve()
        remote = config.release.remote or str(root / DEFAULT_REMOTE)
        done = publish(args.run_id, root, registry, remote, config.release.name)
    except FitSenseError as exc:
        print(f"publish: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    said = "released as" if done["new"] else "already released as"
    print(f"run {args.run_id}: {said} {done['tag']} in {done['registry']} (`dvc get {done['registry']} "
          f"{done['name']} --rev {done['tag']}`)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
