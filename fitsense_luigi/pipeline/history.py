"""Earlier runs under the same data root: which one can serve as the baseline for drift.

A run counts as successful when its last stage (BiasSlicing) finished and its
quality gate passed (``GATE_PASSED`` in that stage's manifest summary): a run
that failed the gate, or only warned, is not a trustworthy reference. Among
those, the one that finished last wins. Its statistics are read through its own
manifest, so a baseline altered after the fact is skipped with a note instead
of being trusted.
"""

from __future__ import annotations

from fitsense_luigi.contracts import files
from fitsense_luigi.contracts.dataroot import DataRoot
from fitsense_luigi.contracts.manifest import GATE_PASSED
from fitsense_luigi.contracts.stages import BIAS, REPORTS_ROOT
from fitsense_luigi.errors import FitSenseError
from fitsense_luigi.pipeline.store import RunStore
from fitsense_luigi.quality.anomalies.baseline import Baseline


def run_ids(root: DataRoot) -> list[str]:
    """Every run id with a reports directory under the data root, sorted."""
    return list(root.subdirectories(REPORTS_ROOT))


def previous_successful_run(store: RunStore) -> tuple[Baseline | None, list[str]]:
    """(the baseline for ``store``'s run or None, notes on candidates that were passed over)."""
    return _baseline(store.root, excluding=store.run_id)


def drift_baseline(root: DataRoot) -> str | None:
    """The run a new run would compare with (what pruning must keep), or None."""
    baseline, _ = _baseline(root, excluding=None)
    return baseline.run_id if baseline else None


def _baseline(root: DataRoot, excluding: str | None) -> tuple[Baseline | None, list[str]]:
    candidates, notes = [], []
    for other in run_ids(root):
        if other == excluding:
            continue
        earlier = RunStore(root, other)
        if not earlier.is_complete(BIAS):
            continue
        try:
            manifest = earlier.manifest(BIAS)
        except FitSenseError as exc:
            notes.append(f"{other}: {exc}")
            continue
        if manifest.get("summary", {}).get(GATE_PASSED) is True:
            candidates.append((str(manifest.get("finished_at", "")), other, manifest))
    for finished_at, other, manifest in sorted(candidates, reverse=True):
        earlier = RunStore(root, other)
        try:
            stats = earlier.read_json(files.STATS_REPORT)
        except (FitSenseError, ValueError) as exc:
            notes.append(f"{other}: statistics unusable as a baseline: {exc}")
            continue
        try:
            params = earlier.read_json(files.BOOTSTRAP_RECORD).get("params", {})
        except (FitSenseError, ValueError):
            params = {}
        fingerprint = str(manifest.get("config_fingerprint", ""))
        return Baseline(other, finished_at, fingerprint, stats, params), notes
    return None, notes
