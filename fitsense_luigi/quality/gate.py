"""The quality gate: a failed validation fails the run unless the config says warn."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fitsense_luigi.config import Config
from fitsense_luigi.errors import QualityGateError

log = logging.getLogger("fitsense.quality")


def enforce(config: Config, report: dict[str, Any], report_path: Path) -> None:
    if report["valid"]:
        return
    failed = ", ".join(report["failed_checks"][:3])
    message = f"quality gate failed: {report['num_errors']} checks failed ({failed}); see {report_path}"
    if config.quality.on_failure == "warn":
        log.warning("%s (quality.on_failure=warn: continuing)", message)
        return
    raise QualityGateError(message)
