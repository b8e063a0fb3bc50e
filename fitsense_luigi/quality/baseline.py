"""The baseline for drift: the previous successful run under the same data root.

A run counts as successful when its last stage (BiasSlicing) finished and its
quality gate passed (``gate_passed`` in that stage's manifest summary): a run
that failed the gate, or only warned, is not a trustworthy reference. Among
those, the one that finished last wins. Its statistics are read through its own
manifest, so a baseline altered after the fact is skipped with a note instead
of being trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fitsense_luigi import storage
from fitsense_luigi.errors import FitSenseError


@dataclass(frozen=True)
class Baseline:
    run_id: str
    finished_at: str
    config_fingerprint: str
    stats: dict[str, Any]

    def describe(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "finished_at": self.finished_at, "config_fingerprint": self.config_fingerprint}


def previous_successful_run(data_root: Path, run_id: str) -> tuple[Baseline | None, list[str]]:
    """(the baseline or None, notes on candidates that were passed over)."""
    reports = Path(data_root) / "reports"
    candidates, notes = [], []
    for directory in sorted(reports.iterdir()) if reports.is_dir() else []:
        if directory.name == run_id or not directory.is_dir():
            continue
        store = storage.RunStore(data_root, directory.name)
        if not store.is_complete(storage.BIAS):
            continue
        try:
            manifest = store.manifest(storage.BIAS)
        except FitSenseError as exc:
            notes.append(f"{directory.name}: {exc}")
            continue
        if manifest.get("summary", {}).get("gate_passed") is True:
            candidates.append((str(manifest.get("finished_at", "")), directory.name, manifest))
    for finished_at, other, manifest in sorted(candidates, reverse=True):
        try:
            stats = storage.RunStore(data_root, other).read_json(storage.STATS, "stats_report.json")
        except (FitSenseError, ValueError) as exc:
            notes.append(f"{other}: statistics unusable as a baseline: {exc}")
            continue
        return Baseline(other, finished_at, str(manifest.get("config_fingerprint", "")), stats), notes
    return None, notes
