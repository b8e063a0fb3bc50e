"""How close the synthetic world is to published health and training statistics: ``realism.json``.

The stage writes the report from an :class:`Observer` that watches the
workouts tables while they stream to Parquet (memory stays flat);
:func:`measure` does the same for a world already in memory.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from fitsense_luigi.synth.realism.observe import PROFILE_TABLES, Observer
from fitsense_luigi.synth.realism.report import build
from fitsense_luigi.synth.schema import tables_for

__all__ = ["PROFILE_TABLES", "Observer", "measure", "report"]


def report(observer: Observer) -> dict[str, Any]:
    observer.close()
    return build(observer)


def measure(world: dict[str, pa.Table], as_of: dt.date, lookback_days: int) -> dict[str, Any]:
    """The report for a whole world in memory (all 23 tables), e.g. read back from a run."""
    observer = Observer({name: world[name] for name in PROFILE_TABLES}, as_of, lookback_days)
    for name in tables_for("workouts"):
        observer.add(name, world[name])
    return report(observer)
