"""The end of the run: the gate's verdict, the charts and the HTML report, as files to write.

Kept separate from the gate's enforcement so that every file is written before
a failing gate stops the run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from fitsense_luigi.config import Config
from fitsense_luigi.contracts import files
from fitsense_luigi.contracts.encoding import dumps_document
from fitsense_luigi.contracts.files import StageFile
from fitsense_luigi.quality.publish import charts, gate, html_report


@dataclass(frozen=True)
class Publication:
    verdict: dict[str, Any]
    files: dict[StageFile, bytes]  # the files of the last stage, in the run's reports directory


def publish(
    config: Config,
    run: dict[str, Any],
    validation: dict[str, Any],
    stats: dict[str, Any],
    anomalies: dict[str, Any],
    bias: dict[str, Any],
    filters: html_report.Filters | None = None,
) -> Publication:
    """``filters``: what the dataset's filters checked and dropped (shown even when they dropped nothing)."""
    outcome = gate.verdict(config, validation, anomalies, bias)
    if filters is not None:
        filters = replace(filters, limits=html_report.filter_limits(config))
    drawn = charts.render_all(stats, validation, bias)
    written = {files.chart(name): svg for name, (_, svg) in drawn.items()}
    written[files.QUALITY_GATE] = dumps_document(dict(outcome, run_id=run["run_id"])).encode("utf-8")
    page = html_report.render(run, outcome, validation, stats, anomalies, bias, drawn, filters)
    written[files.REPORT_HTML] = page.encode("utf-8")
    return Publication(outcome, written)
