"""The gate end to end through the real `luigi` command: exit codes, warn mode, drift baselines, charts and report."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from html import escape as html_escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from quality_inputs import jsonl_bytes, read_jsonl, restamp

from fitsense_luigi.config import load_config
from fitsense_luigi.contracts import files
from fitsense_luigi.pipeline.store import RunStore
from fitsense_luigi.quality.publish import gate
from tests.conftest import SMALL, deep_merge, default_params, run_luigi

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


def write_params(path: Path, overrides: dict) -> Path:
    path.write_text(yaml.safe_dump(deep_merge(deep_merge(default_params(), SMALL), overrides), sort_keys=False))
    return path


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
    reports = built_run.reports
    for name in CHARTS:
        root = ET.parse(reports / "charts" / name).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg", name
        assert root.get("viewBox") and root.get("width"), name
        assert len(list(root.iter())) > 20, name  # drawn, not an empty canvas
    html = (reports / "report.html").read_text()
    parser = _Links()
    parser.feed(html)
    assert {f"charts/{name}" for name in CHARTS} <= set(parser.hrefs)
    assert parser.inline_svgs == len(CHARTS)  # self-contained: every chart is also inline
    assert parser.h1[0].startswith("PASS")  # the verdict comes first
    assert "<script" not in html and "<link" not in html and " src=" not in html  # nothing loaded from elsewhere
    gate = json.loads((reports / "quality_gate.json").read_text())
    assert gate["passed"] is True and gate["run_id"] == built_run.run_id
    summary = json.loads((reports / "manifests" / "bias.json").read_text())["summary"]
    assert summary["gate_passed"] is True and summary["bias_alert"] is False
    manifest = json.loads((reports / "manifests" / "bias.json").read_text())
    assert f"reports/{built_run.run_id}/report.html" in manifest["files"]


def test_report_names_every_check_and_alert(built_run):
    html = (built_run.reports / "report.html").read_text()
    validation = json.loads((built_run.reports / "validation_report.json").read_text())
    for check in validation["checks"]:
        assert html_escape(check["check"]) in html, check["check"]
    anomalies = json.loads((built_run.reports / "anomaly_report.json").read_text())
    for alert in anomalies["alerts"]:
        assert alert["alert"] in html


def test_failed_gate_exits_non_zero_with_one_line_then_warn_mode_completes(tmp_path):
    data_root = tmp_path / "data"
    params = write_params(tmp_path / "params.yaml", {})
    run_id = "2026-02-17"
    built = run_luigi("BuildDistillationDataset", run_id, data_root, params)
    assert built.returncode == 0, built.output[-3000:]
    # a leak between splits, as a buggy split would write it: a train user's record also in test.jsonl
    store = RunStore(data_root, run_id)
    train = read_jsonl(data_root / store.key(files.records("train")))
    test = read_jsonl(data_root / store.key(files.records("test")))
    leaked = dict(test[0], user_id=train[0]["user_id"])
    test[0] = leaked
    all_records = [
        leaked if r["record_id"] == leaked["record_id"] else r
        for r in read_jsonl(data_root / store.key(files.ALL_RECORDS))
    ]
    restamp(store, files.records("test"), jsonl_bytes(test), len(test))
    restamp(store, files.ALL_RECORDS, jsonl_bytes(all_records), len(all_records))

    production = tmp_path / "production-luigi.cfg"
    production.write_text(PRODUCTION_RETRIES)
    failed = run_luigi("BiasSlicing", run_id, data_root, params, env={"LUIGI_CONFIG_PATH": str(production)}, timeout=90)
    assert failed.returncode == TASK_FAILED, failed.output[-3000:]
    lines = [line for line in failed.output.splitlines() if "QualityGateError: quality gate failed" in line]
    assert lines and "no user in two splits" in lines[0] and "report.html" in lines[0]
    assert "Traceback" not in failed.output
    reports = data_root / "reports" / run_id
    assert not (reports / "manifests" / "bias.json").exists()  # the run is not complete
    assert json.loads((reports / "quality_gate.json").read_text())["passed"] is False
    html = (reports / "report.html").read_text()
    assert "FAIL: do not train on this run" in html and train[0]["user_id"] in html

    # quality.on_failure is operational: the same run id may be finished in warn mode
    warn = write_params(tmp_path / "warn.yaml", {"quality": {"on_failure": "warn"}})
    warned = run_luigi("BiasSlicing", run_id, data_root, warn)
    assert warned.returncode == 0, warned.output[-3000:]
    assert "quality.on_failure=warn: continuing" in warned.output
    summary = json.loads((reports / "manifests" / "bias.json").read_text())["summary"]
    assert summary["gate_passed"] is False

    # a run that only warned is no baseline for the next one
    nxt = run_luigi("DetectAnomalies", "2026-02-18", data_root, params)
    assert nxt.returncode == 0, nxt.output[-3000:]
    anomalies = json.loads((data_root / "reports" / "2026-02-18" / "anomaly_report.json").read_text())
    assert anomalies["drift"]["baseline"] is None


def test_drift_against_the_previous_successful_run(tmp_path):
    data_root = tmp_path / "data"
    first = run_luigi("BiasSlicing", "2026-02-17", data_root, write_params(tmp_path / "a.yaml", {}))
    assert first.returncode == 0, first.output[-3000:]
    skewed = {
        "queries": {
            "per_type": {"plan_creation": 40, "plan_modification": 4, "safety_adjustment": 2, "progress_adaptation": 2}
        }
    }
    second = run_luigi("BiasSlicing", "2026-02-18", data_root, write_params(tmp_path / "b.yaml", skewed))
    assert second.returncode == 0, second.output[-3000:]  # drift is a warning: the gate still passes
    report = json.loads((data_root / "reports" / "2026-02-18" / "anomaly_report.json").read_text())
    drift = report["drift"]
    assert drift["baseline"]["run_id"] == "2026-02-17"
    assert "queries.per_type.plan_creation" in drift["baseline"]["changed_params"]
    drifted = {(a["scope"], a["feature"]) for a in report["alerts"] if a["alert"] == "feature_drift"}
    assert ("records", "prompt_type") in drifted
    assert report["severity"] == "warning"
    assert "Compared with run <b>2026-02-17</b>" in (data_root / "reports" / "2026-02-18" / "report.html").read_text()


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

    reports = built_run.reports
    stats = json.loads((reports / "stats_report.json").read_text())
    validation = json.loads((reports / "validation_report.json").read_text())
    bias = json.loads((reports / "bias_report.json").read_text())
    drawn = charts.render_all(stats, validation, bias)
    for name, (_, svg) in drawn.items():
        assert svg == (reports / "charts" / name).read_bytes(), name  # no dates, fixed ids: same input, same bytes


def test_gate_policy():
    default_config = load_config()
    clean = {"num_errors": 0, "num_warnings": 0, "failed_checks": [], "warning_checks": []}
    warning = {"alerts": [{"alert": "feature_drift", "severity": "warning"}]}
    alert = {"bias_alert": True, "alerts": [{}], "reasons": ["sex=female: shorter"]}
    calm = {"bias_alert": False, "alerts": [], "reasons": []}
    assert gate.verdict(default_config, clean, warning, calm)["passed"]  # warnings alone pass by default
    assert not gate.verdict(default_config, clean, {"alerts": []}, alert)["passed"]
    strict = dataclasses.replace(
        default_config,
        quality=dataclasses.replace(
            default_config.quality,
            gate=dataclasses.replace(default_config.quality.gate, fail_on_anomaly="warning", fail_on_bias_alert=False),
        ),
    )
    outcome = gate.verdict(strict, clean, warning, alert)
    assert outcome["reasons"] == ["anomalies: 1 warning alert (feature_drift)"]
    assert outcome["notes"][0].startswith("bias: 1 slice served worse")
