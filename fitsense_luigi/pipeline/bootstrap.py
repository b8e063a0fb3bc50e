"""The run's birth certificate: what was asked for, with which software, on which day.

Written once per run as ``reports/<run_id>/phase1_bootstrap.json``; later
invocations compare their config fingerprint with the one recorded here.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from fitsense_luigi._version import __version__
from fitsense_luigi.contracts.manifest import BootstrapRecord
from fitsense_luigi.pipeline.runs import RunContext
from fitsense_luigi.pipeline.store import utc_now

LIBRARIES = ("luigi", "numpy", "pandas", "pyarrow", "faker", "requests", "backoff", "jsonschema", "PyYAML")


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def bootstrap_record(ctx: RunContext) -> BootstrapRecord:
    return {
        "run_id": ctx.run_id,
        "as_of_date": ctx.as_of_date.isoformat(),
        "config_fingerprint": ctx.fingerprint,
        "params_file": str(ctx.params_file),
        "params": ctx.resolved_params(),
        "seed": ctx.seed,
        "package_version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": library_versions(),
        "created_at": utc_now(),
    }
