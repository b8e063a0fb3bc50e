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
from typing import Any

from fitsense_luigi import storage
from fitsense_luigi.errors import FitSenseError
from fitsense_luigi.identity import significant_params
from fitsense_luigi.runs import BOOTSTRAP_RECORD


@dataclass(frozen=True)
class Baseline:
    run_id: str
    finished_at: str
    config_fingerprint: str
    stats: dict[str, Any]
    params: dict[str, Any]  # the baseline's resolved params, to tell what changed since

    def describe(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "finished_at": self.finished_at, "config_fingerprint": self.config_fingerprint}

    def changed_params(self, current: dict[str, Any]) -> list[str]:
        """Dotted keys whose value differs from the baseline's, ignoring the as-of date and operational keys."""
        before, after = _flat(_shape(self.params)), _flat(_shape(current))
        return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def _shape(params: dict[str, Any]) -> dict[str, Any]:
    shaped = significant_params(params) if params else {}
    shaped.get("run", {}).pop("as_of_date", None)
    return shaped


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def previous_successful_run(data_root: storage.DataPath, run_id: str) -> tuple[Baseline | None, list[str]]:
    """(the baseline or None, notes on candidates that were passed over)."""
    reports = data_root / "reports"
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
        store = storage.RunStore(data_root, other)
        try:
            stats = store.read_json(storage.STATS, "stats_report.json")
        except (FitSenseError, ValueError) as exc:
            notes.append(f"{other}: statistics unusable as a baseline: {exc}")
            continue
        try:
            params = store.read_json(storage.BOOTSTRAP, BOOTSTRAP_RECORD).get("params", {})
        except (FitSenseError, ValueError):
            params = {}
        return Baseline(other, finished_at, str(manifest.get("config_fingerprint", "")), stats, params), notes
    return None, notes
