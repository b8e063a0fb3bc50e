"""The quality gate: one verdict from the four reports, enforced at the very end of the run.

The gate fails when validation has an error, when an anomaly reaches the
configured severity (``quality.gate.fail_on_anomaly``) or when a bias alert is
raised and ``quality.gate.fail_on_bias_alert`` is set. It is enforced only after
every report, chart and the HTML page exist, so a failing run still explains
itself. With ``quality.on_failure: fail`` the last task raises a one-line
QualityGateError (Luigi's ``task_failed`` exit code for cron); with ``warn`` it
logs the same line and the run completes.
"""

from __future__ import annotations

import logging
from typing import Any

from fitsense_luigi.config import Config
from fitsense_luigi.errors import QualityGateError
from fitsense_luigi.wording import counted

log = logging.getLogger("fitsense.quality")

SEVERITY_RANK = {"none": 0, "warning": 1, "critical": 2, "never": 3}
TEACHER_ALERTS = ("unusable_answers", "failed_calls")


def verdict(
    config: Config, validation: dict[str, Any], anomalies: dict[str, Any], bias: dict[str, Any]
) -> dict[str, Any]:
    gate = config.quality.gate
    reasons, notes = [], []
    # the teacher is the root cause of what follows (an empty split, a failed ratio): say it first
    for a in anomalies["alerts"]:
        if a["alert"] in TEACHER_ALERTS and SEVERITY_RANK[a["severity"]] >= SEVERITY_RANK[gate.fail_on_anomaly]:
            reasons.append(f"teacher: {a['message']}")
    if validation["num_errors"]:
        failed = validation["failed_checks"]
        more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
        reasons.append(f"validation: {counted(len(failed), 'check')} failed ({'; '.join(failed[:3])}{more})")
    if validation.get("num_warnings"):
        warned = "; ".join(validation["warning_checks"][:3])
        notes.append(f"validation: {counted(validation['num_warnings'], 'warning')} ({warned})")
    threshold = SEVERITY_RANK[gate.fail_on_anomaly]
    by_level = {level: [a for a in anomalies["alerts"] if a["severity"] == level] for level in ("critical", "warning")}
    for level, alerts in by_level.items():
        if not alerts:
            continue
        names = sorted({a["alert"] for a in alerts})
        line = f"anomalies: {counted(len(alerts), f'{level} alert')} ({', '.join(names)})"
        (reasons if SEVERITY_RANK[level] >= threshold else notes).append(line)
    if bias["bias_alert"]:
        line = f"bias: {counted(len(bias['alerts']), 'slice')} served worse (first: {bias['reasons'][0]})"
        (reasons if gate.fail_on_bias_alert else notes).append(line)
    return {
        "passed": not reasons,
        "status": "pass" if not reasons else "fail",
        "reasons": reasons,
        "notes": notes,
        "on_failure": config.quality.on_failure,
    }


def enforce(config: Config, outcome: dict[str, Any], run_id: str, report_path: str) -> None:
    if outcome["passed"]:
        for note in outcome["notes"]:
            log.info("quality gate passed with a note: %s", note)
        return
    message = f"quality gate failed for run {run_id}: {' | '.join(outcome['reasons'])}; see {report_path}"
    if config.quality.on_failure == "warn":
        log.warning("%s (quality.on_failure=warn: continuing)", message)
        return
    raise QualityGateError(message)
