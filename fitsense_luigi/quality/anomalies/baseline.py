"""The baseline for drift: the statistics of the previous successful run under the same data root.

The runtime finds it (``pipeline.history.previous_successful_run``): the last
run whose final stage passed the quality gate, read through its own manifests.
``changed_params`` names what changed since, leaving out the as-of date and the
operational keys (those that change how a run executes, not what it produces).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fitsense_luigi.config import changed_params


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
        return [k for k in changed_params(self.params or {}, current) if k != AS_OF_DATE]


AS_OF_DATE = "run.as_of_date"  # a new day is a new run, not a changed parameter
