"""``python -m fitsense_luigi prune``: remove old runs from a data root, keeping what must stay.

A daily cron run adds a run a day (about 56 MiB at the default scale), so a
data root needs pruning. A run is every directory its id names: its stages
under ``raw/``, ``reports/<run_id>/`` and ``locks/<run_id>/``. What is removed:
runs beyond the newest ``--keep N``, or older than ``--older-than`` (30d, 12h,
2w), or, with both, runs that are both. What is never removed:

* the drift baseline: the run the next run compares with (the last one whose
  quality gate passed, :func:`fitsense_luigi.pipeline.history.drift_baseline`);
* a run in progress: one whose run lock a live process holds (every process
  that schedules an existing run or builds a stage of it holds it while it
  lives, see :func:`fitsense_luigi.pipeline.locks.hold_shared`); the lock is
  held by the pruner while it removes a run, so a run that starts meanwhile
  waits and then starts afresh; and an unfinished run written in the last 6
  hours, which may be between two tasks or running on another host;
* what runs share: the teacher cache (``cache/teacher``, never pay twice) and
  luigid's state (``scheduler/``).

It is a dry run unless ``--yes`` is given. Age is the time of a run's last
write. Only local data roots are pruned; an S3 bucket has lifecycle rules.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fitsense_luigi.contracts.stages import BIAS, REPORTS_DIR, STAGES
from fitsense_luigi.errors import DataRootError, FitSenseError
from fitsense_luigi.pipeline import history, locks
from fitsense_luigi.pipeline.roots import LocalRoot
from fitsense_luigi.pipeline.scheduler import resolve_data_root
from fitsense_luigi.pipeline.store import LOCKS_DIR, RunStore
from fitsense_luigi.wording import counted

AGE = re.compile(r"^(\d+(?:\.\d+)?)([hdw])$")
# An unfinished run nobody holds may still be in progress: between two tasks of a --workers N run, or on another
# host of a shared data root (locks are per host). It stays until it has been quiet this long.
UNFINISHED_GRACE_S = 6 * 3600
UNIT_S = {"h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class Run:
    """One run id on disk: its directories, their size and the time of its last write."""

    run_id: str
    directories: tuple[Path, ...]
    size: int
    last_write: float
    finished: bool  # its last stage's manifest exists (whatever the gate said)


@dataclass(frozen=True)
class Decision:
    run: Run
    remove: bool
    why: str


def run_directories(root: LocalRoot) -> dict[str, list[Path]]:
    """run id -> its directories, found under every stage's parent directory, ``reports/`` and ``locks/``.

    The removal order is the reverse of the pipeline (the reports directory,
    holding the run's record and last manifests, goes first; locks go last), so
    a prune stopped halfway leaves a run that is visibly incomplete.
    """
    parents = [stage.directory.split("/{run_id}")[0] for stage in STAGES if "{run_id}" in stage.directory]
    parents = list(dict.fromkeys([REPORTS_DIR.split("/{run_id}")[0], *reversed(parents), LOCKS_DIR]))
    found: dict[str, list[Path]] = {}
    for parent in parents:
        for run_id in root.subdirectories(parent):
            found.setdefault(run_id, []).append(root.file(f"{parent}/{run_id}"))
    return found


def measure(root: LocalRoot, run_id: str, directories: list[Path]) -> Run:
    size, newest = 0, 0.0
    for directory in directories:
        for entry in _files(directory):
            stat = entry.stat(follow_symlinks=False)
            size += stat.st_size
            newest = max(newest, stat.st_mtime)
        newest = max(newest, directory.stat().st_mtime)
    return Run(run_id, tuple(directories), size, newest, RunStore(root, run_id).is_complete(BIAS))


def _files(directory: Path) -> Iterator[os.DirEntry[str]]:
    for entry in os.scandir(directory):
        if entry.is_dir(follow_symlinks=False):
            yield from _files(Path(entry.path))
        else:
            yield entry


def decide(
    runs: list[Run],
    *,
    keep: int | None,
    older_than_s: float | None,
    baseline: str | None,
    in_use: set[str],
    now: float,
) -> list[Decision]:
    """Newest first: which runs go, and why each one stays or goes."""
    decisions = []
    for rank, run in enumerate(sorted(runs, key=lambda r: (r.last_write, r.run_id), reverse=True)):
        age = now - run.last_write
        if run.run_id == baseline:
            decisions.append(Decision(run, False, "drift baseline (the last run whose quality gate passed)"))
        elif run.run_id in in_use:
            decisions.append(Decision(run, False, "in use by a running process"))
        elif not run.finished and age < UNFINISHED_GRACE_S:
            decisions.append(Decision(run, False, "unfinished and written in the last 6 hours (may be in progress)"))
        elif keep is not None and rank < keep:
            decisions.append(Decision(run, False, f"among the newest {keep}"))
        elif older_than_s is not None and age < older_than_s:
            decisions.append(Decision(run, False, f"younger than {_duration(older_than_s)}"))
        else:
            decisions.append(Decision(run, True, "old" if keep is None else f"beyond the newest {keep}"))
    return decisions


def in_use(root: LocalRoot, run_ids: list[str]) -> set[str]:
    busy = set()
    for run_id in run_ids:
        with locks.exclusive_if_free(RunStore(root, run_id).run_lock_path()) as free:
            if not free:
                busy.add(run_id)
    return busy


def remove(root: LocalRoot, run: Run) -> bool:
    """Remove the run's directories while holding its run lock; False if a process started using it meanwhile."""
    with locks.exclusive_if_free(RunStore(root, run.run_id).run_lock_path()) as free:
        if not free:
            return False
        for directory in run.directories:
            shutil.rmtree(directory, ignore_errors=True)
        return True


def parse_age(text: str) -> float:
    match = AGE.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected an age like 30d, 12h or 2w, got {text!r}")
    return float(match[1]) * UNIT_S[match[2]]


def parse_args(argv: list[str], prog: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Remove old runs from the data root (FITSENSE_DATA_ROOT, else run.data_root). Never removes "
        "the drift baseline, a run in use, the teacher cache or luigid's state. A dry run unless --yes is given.",
    )
    parser.add_argument("--keep", type=int, metavar="N", help="keep the N newest runs (by their last write)")
    parser.add_argument("--older-than", type=parse_age, metavar="AGE", help="remove runs older than AGE: 30d, 12h, 2w")
    parser.add_argument("--yes", action="store_true", help="remove them (without it: only say what would go)")
    parser.add_argument("--dry-run", action="store_true", help="only say what would go (the default)")
    args = parser.parse_args(argv)
    if args.keep is None and args.older_than is None:
        parser.error("say what to keep: --keep N and/or --older-than AGE")
    if args.keep is not None and args.keep < 0:
        parser.error(f"--keep: expected 0 or more, got {args.keep}")
    if args.yes and args.dry_run:
        parser.error("--yes and --dry-run contradict each other")
    return args


def main(argv: list[str] | None = None, *, prog: str = "python -m fitsense_luigi prune") -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv), prog)
    try:
        root = resolve_data_root()
        if not isinstance(root, LocalRoot):
            raise DataRootError(f"{root.uri()}: prune works on local data roots; on S3 use a bucket lifecycle rule")
        found = run_directories(root)
        runs = [measure(root, run_id, dirs) for run_id, dirs in found.items()]
        baseline = history.drift_baseline(root)
        busy = in_use(root, list(found))
    except (FitSenseError, OSError) as exc:
        print(f"prune: {exc}", file=sys.stderr)
        return 2
    decisions = decide(
        runs, keep=args.keep, older_than_s=args.older_than, baseline=baseline, in_use=busy, now=time.time()
    )
    total = sum(r.size for r in runs)
    print(f"data root {root.uri()}: {counted(len(runs), 'run')}, {_size(total)}")
    for d in decisions:
        written = dt.datetime.fromtimestamp(d.run.last_write, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        action = "remove" if d.remove else "keep"
        print(f"  {action:<6} {d.run.run_id:<24} {_size(d.run.size):>9}  last written {written}  {d.why}")
    going = [d.run for d in decisions if d.remove]
    freed = sum(r.size for r in going)
    shared = [p for p in ("cache/teacher", "scheduler") if root.file(p).exists()]
    if shared:
        print(f"  (kept, shared by every run: {', '.join(p + '/' for p in shared)})")
    if not args.yes:
        print(f"dry run: would remove {counted(len(going), 'run')} ({_size(freed)}); add --yes to remove")
        return 0
    removed = [r for r in going if remove(root, r)]
    skipped = [r.run_id for r in going if r not in removed]
    print(f"removed {counted(len(removed), 'run')} ({_size(sum(r.size for r in removed))})")
    if skipped:
        print(f"kept {', '.join(skipped)}: a process started using it meanwhile")
    return 0


def _size(n: float) -> str:
    """Binary units, as ``du -h`` shows them."""
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _duration(seconds: float) -> str:
    for unit in ("w", "d", "h"):
        if seconds >= UNIT_S[unit] and seconds % UNIT_S[unit] == 0:
            return f"{int(seconds // UNIT_S[unit])}{unit}"
    return f"{seconds / 3600:g}h"
