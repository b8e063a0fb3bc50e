"""The gate end to end through the real `luigi` command: exit codes, warn mode, drift baselines, charts and report."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html import escape as html_escape
from html.parser import HTMLParser

import pytest
from quality_inputs import jsonl_bytes

from fitsense_luigi.config import load_config
from fitsense_luigi.contracts import files, stages
from fitsense_luigi.quality.publish import gate
from tests.support import params as test_params
from tests.support.harness import RUN_ID, run_luigi
from tests.support.hashing import restamp
from tests.support.layout import RunFiles
from tests.support.params import write_params

CHARTS = (
    "split_sizes.svg",
    "prompt_types.svg",
    "goal_types.svg",
    "response_lengths.svg",
    "bias_slice_gaps.svg",
    "realism.svg",
)
TASK_FAILED = 30  # luigi.cfg [retcode] task_failed
# the production retry policy (2 minutes between retries, worker kept alive): a gate failure must not wait on it
PRODUCTION_RETRIES = "[worker]\nkeep_alive = true\nwait_interval = 1\n[scheduler]\nretry_count = 3\nretry_delay = 120\n"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.inline_svgs = 0
        self.h1: list[str] = []
        self._in_h1 = False

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href", ""))
        self.inline_svgs += tag == "svg"
        self._in_h1 = tag == "h1"

    def handle_data(self, data):
        if self._in_h1:
            self.h1.append(data)
            self._in_h1 = False


def test_charts_are_valid_svg_and_the_report_links_them(built_run):
    run = built_run.files
    for name in CHARTS:
        root = ET.parse(run.path(files.chart(name))).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg", name
        assert root.get("viewBox") and root.get("width"), name
        assert len(list(root.iter())) > 20, name  # drawn, not an empty canvas
    html = run.path(files.REPORT_HTML).read_text()
    parser = _Links()
    parser.feed(html)
    assert {files.chart(name).name for name in CHARTS} <= set(parser.hrefs)
    assert parser.inline_svgs == len(CHARTS)  # self-contained: every chart is also inline
    assert parser.h1[0].startswith("PASS")  # the verdict comes first
    assert "<script" not in html and "<link" not in html and " src=" not in html  # nothing loaded from elsewhere
    gate = run.document(files.QUALITY_GATE)
    assert gate["passed"] is True and gate["run_id"] == built_run.run_id
    manifest = run.document(run.manifest(stages.BIAS))
    assert manifest["summary"]["gate_passed"] is True and manifest["summary"]["bias_alert"] is False
    report = run.path(files.REPORT_HTML).relative_to(built_run.data_root).as_posix()
    assert report in manifest["files"]


def test_report_names_every_check_and_alert(built_run):
    run = built_run.files
    html = run.path(files.REPORT_HTML).read_text()
    validation = run.document(files.VALIDATION_REPORT)
    for check in validation["checks"]:
        assert html_escape(check["check"]) in html, check["check"]
    anomalies = run.document(files.ANOMALY_REPORT)
    for alert in anomalies["alerts"]:
        assert alert["alert"] in html


def test_failed_gate_exits_non_zero_with_one_line_then_warn_mode_completes(tmp_path):
    run = RunFiles(tmp_path / "data", RUN_ID)
    params = write_params(tmp_path / "params.yaml")
    built = run_luigi("BuildDistillationDataset", RUN_ID, run.data_root, params)
    assert built.returncode == 0, built.output[-3000:]
    # a leak between splits, as a buggy split would write it: a train user's record also in test.jsonl
    train = run.rows(files.records("train"))
    test = run.rows(files.records("test"))
    leaked = dict(test[0], user_id=train[0]["user_id"])
    test[0] = leaked
    restamp(run, files.records("test"), jsonl_bytes(test), len(test))

    production = tmp_path / "production-luigi.cfg"
    production.write_text(PRODUCTION_RETRIES)
    env = {"LUIGI_CONFIG_PATH": str(production)}
    failed = run_luigi("BiasSlicing", RUN_ID, run.data_root, params, env=env, timeout=90)
    assert failed.returncode == TASK_FAILED, failed.output[-3000:]
    lines = [line for line in failed.output.splitlines() if "QualityGateError: quality gate failed" in line]
    assert lines and "no user in two splits" in lines[0] and files.REPORT_HTML.name in lines[0]
    assert "Traceback" not in failed.output
    assert not run.manifest(stages.BIAS).exists()  # the run is not complete
    assert run.document(files.QUALITY_GATE)["passed"] is False
    html = run.path(files.REPORT_HTML).read_text()
    assert "FAIL: do not train on this run" in html and train[0]["user_id"] in html
    # the command's last lines name the verdict with its first reason, and the report
    closing = failed.output.rsplit("===== Luigi Execution Summary =====", 1)[1].split("\n")
    verdict = next(line for line in closing if line.startswith("quality gate: "))
    first_reason = run.document(files.QUALITY_GATE)["reasons"][0]
    assert verdict.startswith(f"quality gate: FAILED: {first_reason}") and "no user in two splits" in verdict
    assert f"report: {run.path(files.REPORT_HTML)}" in closing

    # quality.on_failure is operational: the same run id may be finished in warn mode
    warn = write_params(tmp_path / "warn.yaml", {"quality": {"on_failure": "warn"}})
    warned = run_luigi("BiasSlicing", RUN_ID, run.data_root, warn)
    assert warned.returncode == 0, warned.output[-3000:]
    assert "quality.on_failure=warn: continuing" in warned.output
    assert "quality gate: FAILED (warn only: quality.on_failure is warn): " in warned.output
    assert run.document(run.manifest(stages.BIAS))["summary"]["gate_passed"] is False

    # a run that only warned is no baseline for the next one
    nxt = RunFiles(run.data_root, "2026-02-18")
    result = run_luigi("DetectAnomalies", nxt.run_id, run.data_root, params)
    assert result.returncode == 0, result.output[-3000:]
    assert nxt.document(files.ANOMALY_REPORT)["drift"]["baseline"] is None


def test_drift_against_the_previous_successful_run(tmp_path):
    first, second = RunFiles(tmp_path / "data", RUN_ID), RunFiles(tmp_path / "data", "2026-02-18")
    result = run_luigi("BiasSlicing", first.run_id, first.data_root, write_params(tmp_path / "a.yaml"))
    assert result.returncode == 0, result.output[-3000:]
    skewed = {
        "queries": {
            "per_type": {"plan_creation": 40, "plan_modification": 4, "safety_adjustment": 2, "progress_adaptation": 2}
        }
    }
    result = run_luigi("BiasSlicing", second.run_id, second.data_root, write_params(tmp_path / "b.yaml", skewed))
    assert result.returncode == 0, result.output[-3000:]  # drift is a warning: the gate still passes
    report = second.document(files.ANOMALY_REPORT)
    drift = report["drift"]
    assert drift["baseline"]["run_id"] == first.run_id
    assert "queries.per_type.plan_creation" in drift["baseline"]["changed_params"]
    drifted = {(a["scope"], a["feature"]) for a in report["alerts"] if a["alert"] == "feature_drift"}
    assert ("records", "prompt_type") in drifted
    assert report["severity"] == "warning"
    assert f"Compared with run <b>{first.run_id}</b>" in second.path(files.REPORT_HTML).read_text()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"quality": {"gate": {"fail_on_anomaly": "sometimes"}}}, "quality.gate.fail_on_anomaly: expected one of"),
        ({"quality": {"bias": {"disparity_ratio": 1.5}}}, "quality.bias.disparity_ratio: expected a value <= 1"),
        ({"quality": {"drift": {"numeric_js": None}}}, "quality.drift.numeric_js: expected number, got null"),
    ],
)
def test_bad_quality_config_is_one_clear_line(tmp_path, overrides, expected):
    result = run_luigi("BiasSlicing", "bad-config", tmp_path / "data", write_params(tmp_path / "p.yaml", overrides))
    assert result.returncode != 0
    assert expected in result.output and "Traceback" not in result.output
    assert not (tmp_path / "data").exists()


def test_charts_and_report_are_byte_stable(built_run):
    from fitsense_luigi.quality.publish import charts

    run = built_run.files
    stats = run.document(files.STATS_REPORT)
    validation = run.document(files.VALIDATION_REPORT)
    bias = run.document(files.BIAS_REPORT)
    drawn = charts.render_all(stats, validation, bias)
    for name, (_, svg) in drawn.items():
        assert svg == run.path(files.chart(name)).read_bytes(), name  # no dates, fixed ids: same input, same bytes


def test_gate_policy():
    default_config = load_config()
    clean = {"num_errors": 0, "num_warnings": 0, "failed_checks": [], "warning_checks": []}
    warning = {"alerts": [{"alert": "feature_drift", "severity": "warning"}]}
    alert = {"bias_alert": True, "alerts": [{}], "reasons": ["sex=female: shorter"]}
    calm = {"bias_alert": False, "alerts": [], "reasons": []}
    assert gate.verdict(default_config, clean, warning, calm)["passed"]  # warnings alone pass by default
    assert not gate.verdict(default_config, clean, {"alerts": []}, alert)["passed"]
    strict = test_params.config({"quality": {"gate": {"fail_on_anomaly": "warning", "fail_on_bias_alert": False}}})
    outcome = gate.verdict(strict, clean, warning, alert)
    assert outcome["reasons"] == ["anomalies: 1 warning alert (feature_drift)"]
    assert outcome["notes"][0].startswith("bias: 1 slice served worse")
