"""One self-contained ``report.html`` per run: the verdict first, then every check, chart and alert.

Self-contained means one file: styles inline and every chart embedded as inline
SVG, so the page can be mailed or archived alone; each chart also links to its
standalone file under ``charts/``. Failures come before passes everywhere, so
the first screen answers "can I train on this?".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any

from fitsense_luigi.config import Config
from fitsense_luigi.contracts.splits import ALL_RECORDS, RECORD_FILES
from fitsense_luigi.quality.bias.significance import CRAMERS_V, EPSILON_SQUARED
from fitsense_luigi.quality.publish import figures
from fitsense_luigi.quality.validate.tablecheck import EXAMPLES
from fitsense_luigi.wording import counted


@dataclass(frozen=True)
class Filters:
    """What the dataset's filters did: the dataset stage's counts (``rejected_by_reason`` in the order the filters
    run, the query count) and what each filter drops (the dataset's own words), with the limits it used."""

    counts: Mapping[str, Any]  # the dataset stage's manifest summary
    descriptions: Mapping[str, str]  # reason -> what it drops
    limits: Mapping[str, str] = field(default_factory=dict)  # a setting a description names -> its value here


def filter_limits(config: Config) -> dict[str, str]:
    """The settings the filters' descriptions name, with their values in this run."""
    chars = config.dataset.response_chars
    return {
        "dataset.response_chars.min": f"{chars.min:,}",
        "dataset.response_chars.max": f"{chars.max:,}",
        "dataset.near_duplicate_jaccard": f"{config.dataset.near_duplicate_jaccard:g}",
    }


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#212121;background:#fafafa}
main{max-width:1200px;margin:0 auto;padding:0 20px 40px}
.verdict{padding:18px 20px;color:#fff}.verdict h1{margin:0 0 4px;font-size:26px}
.pass{background:#2e7d32}.fail{background:#c62828}.warnonly{background:#ef6c00}
.verdict ul{margin:8px 0 0;padding-left:20px}.verdict p{margin:2px 0}
nav{padding:8px 20px;background:#eceff1;position:sticky;top:0}nav a{margin-right:14px;color:#1565c0}
h2{border-bottom:2px solid #cfd8dc;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:13px;background:#fff}
th,td{border:1px solid #e0e0e0;padding:4px 6px;text-align:left;vertical-align:top}th{background:#f5f5f5}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#2e7d32;font-weight:600}.bad{color:#c62828;font-weight:600}.warn{color:#ef6c00;font-weight:600}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:14px 0}
.card{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:10px 14px;min-width:170px}
.card b{display:block;font-size:20px}
figure{background:#fff;border:1px solid #e0e0e0;border-radius:6px;margin:12px 0;padding:10px;overflow-x:auto}
figure svg{max-width:100%;height:auto}figcaption{font-size:12px;color:#616161}
code,pre{font-size:12px;white-space:pre-wrap;word-break:break-all}details{margin:8px 0}
.note{color:#616161;font-size:13px}
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return _e(value)


def _table(header: list[str], rows: list[list[str]], numeric: set[int] | frozenset[int] = frozenset()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td class='num'>{c}</td>" if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _examples(examples: list[Any]) -> str:
    if not examples:
        return ""
    return (
        "<code>" + "<br>".join(_e(json.dumps(x, ensure_ascii=False, default=str))[:300] for x in examples) + "</code>"
    )


def _inline_svg(svg: bytes) -> str:
    text = svg.decode("utf-8")
    text = re.sub(r"<\?xml[^>]*\?>", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>", "", text, flags=re.S)
    return text.strip()


def _figure(name: str, caption: str, svg: bytes) -> str:
    return (
        f"<figure id='chart-{_e(name.removesuffix('.svg'))}'>{_inline_svg(svg)}"
        f"<figcaption>{_e(caption)} &middot; <a href='charts/{_e(name)}'>charts/{_e(name)}</a></figcaption></figure>"
    )


def _status(passed: bool, severity: str = "error") -> str:
    if passed:
        return "<span class='ok'>pass</span>"
    return "<span class='bad'>FAIL</span>" if severity == "error" else "<span class='warn'>warning</span>"


def render(
    run: dict[str, Any],
    outcome: dict[str, Any],
    validation: dict[str, Any],
    stats: dict[str, Any],
    anomalies: dict[str, Any],
    bias: dict[str, Any],
    charts: dict[str, tuple[str, bytes]],
    filters: Filters | None = None,
) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>FitSense quality report: run {_e(run['run_id'])} ({_e(outcome['status'].upper())})</title>",
        f"<style>{CSS}</style></head><body>",
        _verdict(run, outcome, stats),
        "<nav><a href='#summary'>Summary</a><a href='#validation'>Validation</a><a href='#realism'>Realism</a>"
        "<a href='#dataset'>Dataset</a><a href='#anomalies'>Anomalies &amp; drift</a><a href='#bias'>Bias</a></nav>",
        "<main>",
        _summary(validation, stats, anomalies, bias),
        _validation(validation),
        _realism(validation, charts),
        _dataset(stats, charts, filters),
        _anomalies(anomalies),
        _bias(bias, charts),
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _verdict(run: dict[str, Any], outcome: dict[str, Any], stats: dict[str, Any]) -> str:
    splits = stats["splits"]
    if outcome["passed"]:
        css, title = "pass", "PASS: this run can be used for training"
    elif outcome["on_failure"] == "warn":
        css, title = "warnonly", "FAIL (warn only): do not train on this run before reading the reasons"
    else:
        css, title = "fail", "FAIL: do not train on this run"
    reasons = "".join(f"<li>{_e(r)}</li>" for r in outcome["reasons"])
    notes = "".join(f"<li>{_e(n)}</li>" for n in outcome["notes"])
    return (
        f"<header class='verdict {css}'><h1>{_e(title)}</h1>"
        f"<p>Run <b>{_e(run['run_id'])}</b>, as of {_e(run['as_of_date'])}: "
        f"{splits[ALL_RECORDS]['count']} records from {splits[ALL_RECORDS]['users']} users "
        f"(train {splits['train']['count']} / validation {splits['validation']['count']} / "
        f"test {splits['test']['count']}), "
        f"{stats['rejected']['count']} rejected.</p>"
        f"<p>Config fingerprint {_e(run['fingerprint'][:12])}, fitsense-luigi {_e(run['version'])}.</p>"
        + (f"<ul>{reasons}</ul>" if reasons else "")
        + (f"<p>Notes:</p><ul>{notes}</ul>" if notes else "")
        + "</header>"
    )


def _card(title: str, value: str, detail: str, ok: bool | None) -> str:
    css = "" if ok is None else "ok" if ok else "bad"
    return f"<div class='card'>{_e(title)}<b class='{css}'>{value}</b>{detail}</div>"


def _summary(validation: dict[str, Any], stats: dict[str, Any], anomalies: dict[str, Any], bias: dict[str, Any]) -> str:
    drift = anomalies["drift"]
    passed = validation["num_checks"] - validation["num_errors"] - validation["num_warnings"]
    cards = [
        _card(
            "Validation",
            f"{passed}/{validation['num_checks']} passed",
            f"{counted(validation['num_errors'], 'error')}, {counted(validation['num_warnings'], 'warning')}",
            validation["valid"],
        ),
        _card(
            "Anomalies",
            _e(anomalies["severity"]),
            f"{anomalies['counts']['critical']} critical, {counted(anomalies['counts']['warning'], 'warning')}",
            anomalies["severity"] != "critical",
        ),
        _drift_card(drift),
        _card(
            "Bias",
            "alert" if bias["bias_alert"] else "no alert",
            f"{counted(len(bias['alerts']), 'slice')} flagged",
            not bias["bias_alert"],
        ),
        _card("Records", str(stats["splits"][ALL_RECORDS]["count"]), f"{stats['rejected']['count']} rejected", None),
    ]
    return f"<section id='summary'><h2>Summary</h2><div class='cards'>{''.join(cards)}</div></section>"


def _drift_card(drift: dict[str, Any]) -> str:
    """'no drift' or '3 of 92 features drifted', never a bare '0 features' that reads either way."""
    baseline = drift["baseline"]
    if not baseline:
        return _card("Drift", "no baseline", "first good run here: nothing to compare with", None)
    compared = len(drift.get("features", []))
    drifted = drift.get("drifted", 0)
    value = "no drift" if not drifted else f"{drifted} of {compared} drifted"
    detail = f"{drifted} of {counted(compared, 'feature')} beyond threshold vs run {_e(baseline['run_id'])}"
    return _card("Drift", value, detail, not drifted)


def _check_rows(checks: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            _status(c["passed"], c["severity"]),
            _e(c["category"]),
            _e(c["check"]),
            f"{c['count']} / {c['checked']}",
            _examples(c["examples"]),
        ]
        for c in checks
    ]


def _validation(validation: dict[str, Any]) -> str:
    failed = [c for c in validation["checks"] if not c["passed"]]
    header = ["status", "category", "check", "offending / checked", f"examples (up to {EXAMPLES})"]
    categories = _table(
        ["category", "checks", "failed"],
        [[_e(k), str(v["checks"]), str(v["failed"])] for k, v in validation["categories"].items()],
        {1, 2},
    )
    failing = _table(header, _check_rows(failed)) if failed else "<p class='ok'>Every check passed.</p>"
    return (
        "<section id='validation'><h2>Validation</h2>"
        f"<h3>Failed checks ({len(failed)})</h3>{failing}<h3>By category</h3>{categories}"
        f"<details><summary>All {validation['num_checks']} checks</summary>"
        f"{_table(header, _check_rows(validation['checks']))}</details></section>"
    )


def _realism(validation: dict[str, Any], charts: dict[str, tuple[str, bytes]]) -> str:
    order = {"held_out": 0, "rule": 1, "calibration": 2}  # the evidence first; aimed-at figures last
    checks = [c for c in validation["checks"] if c["category"] == "realism"]
    checks = sorted(checks, key=lambda c: order.get(c.get("kind", ""), 3))
    rows = []
    for c in checks:
        unit = figures.unit_of(c["check"].removeprefix("realism: "))
        rows.append(
            [
                _status(c["passed"], c["severity"]),
                _e(c.get("kind", "").replace("_", "-")),
                _e(c["check"].removeprefix("realism: ")),
                _e(figures.number(c.get("observed", ""), unit)),
                _e(figures.expected(c.get("expected", ""), unit)),
                _e(figures.tolerance(c)),
                _e(c.get("basis") or ""),
                _e(c.get("source", "")),
                _e(c.get("note", "")),
            ]
        )
    header = ["status", "kind", "marginal", "generated", "expected", "tolerance", "basis", "source", "note"]
    table = _table(header, rows, {3, 4, 5})
    return f"<section id='realism'><h2>Realism</h2>{_figure('realism.svg', *charts['realism.svg'])}{table}</section>"


def _dataset(stats: dict[str, Any], charts: dict[str, tuple[str, bytes]], filters: Filters | None) -> str:
    drawn = "".join(
        _figure(name, *charts[name])
        for name in ("split_sizes.svg", "prompt_types.svg", "goal_types.svg", "response_lengths.svg")
    )
    by_reason = stats["rejected"]["by_reason"]
    reasons = (
        _table(["rejection reason", "queries"], [[_e(k), str(v)] for k, v in by_reason.items()], {1})
        if by_reason
        else "<p class='ok'>No query was rejected.</p>"
    )
    rows = []
    for split in RECORD_FILES:
        s = stats["splits"][split]
        response = s["features"].get("response", {})
        tokens = s["features"].get("completion_tokens", {})
        rows.append(
            [
                _e(split),
                str(s["count"]),
                str(s["users"]),
                _num(response.get("length", {}).get("mean", "")),
                _num(s["features"].get("response_tokens", {}).get("mean", "")),
                _num(tokens.get("mean", "")),
            ]
        )
    table = _table(
        ["split", "records", "users", "mean response chars", "mean response words+punct.", "mean completion tokens"],
        rows,
        {1, 2, 3, 4, 5},
    )
    return (
        f"<section id='dataset'><h2>Dataset</h2>{table}{drawn}{_filters(filters, stats)}"
        f"<h3>Rejected queries</h3>{reasons}</section>"
    )


def _filters(filters: Filters | None, stats: dict[str, Any]) -> str:
    """Every filter in the order it runs: how many answers it checked and dropped, with the closest call where the
    statistics tell it, so that a run that dropped nothing still shows each filter at work."""
    if not filters:
        return ""
    by_reason = filters.counts.get("rejected_by_reason", {})
    remaining = filters.counts.get("input_queries", 0)
    lengths = stats["splits"][ALL_RECORDS]["features"].get("response", {}).get("length", {})
    closest = {
        "too_short": f"shortest kept: {lengths['min']:,.0f} chars" if "min" in lengths else "",
        "too_long": f"longest kept: {lengths['max']:,.0f} chars" if "max" in lengths else "",
    }
    pairs = filters.counts.get("near_duplicates", {}).get("candidate_pairs")
    if pairs is not None:
        closest["near_duplicate"] = f"{counted(pairs, 'candidate pair')} compared"
    rows = []
    for reason, dropped in by_reason.items():
        rows.append(
            [
                f"<code>{_e(reason)}</code>",
                _describe(filters.descriptions.get(reason, ""), filters.limits),
                f"{remaining:,}",
                f"<span class='bad'>{dropped:,}</span>" if dropped else "0",
                _e(closest.get(reason, "")),
            ]
        )
        remaining -= dropped
    table = _table(["filter", "drops an answer with", "checked", "dropped", "closest call"], rows, {2, 3})
    if sum(by_reason.values()):
        hint = ""
    else:
        hint = (
            "<p class='note'>No answer was dropped: every answer was checked by every filter and passed. The mock "
            "teacher answers cleanly by default (<code>teacher.mock.flaw_rate: 0</code>); to watch each filter "
            "drop flawed answers, run a new run id with e.g. <code>FITSENSE__TEACHER__MOCK__FLAW_RATE=0.05</code>."
            "</p>"
        )
    return f"<h3>Filters at work</h3>{table}<p class='note'>{remaining:,} answers kept.</p>{hint}"


def _describe(text: str, limits: Mapping[str, str]) -> str:
    """The dataset's description with `settings` as code and their values in this run."""

    def setting(match: re.Match[str]) -> str:
        name = match[1]
        value = f" ({_e(limits[name])})" if name in limits else ""
        return f"<code>{_e(name)}</code>{value}"

    return re.sub(r"`([^`]+)`", setting, _e(text).replace("&#x27;", "'"))


def _anomalies(anomalies: dict[str, Any]) -> str:
    order = {"critical": 0, "warning": 1}
    alerts = sorted(anomalies["alerts"], key=lambda a: (order.get(a["severity"], 2), a["alert"]))
    rows = [
        [
            "<span class='bad'>critical</span>" if a["severity"] == "critical" else "<span class='warn'>warning</span>",
            _e(a["alert"]),
            _e(a["message"]),
            _examples(a.get("examples", [])),
        ]
        for a in alerts
    ]
    table = _table(["severity", "alert", "what", "examples"], rows) if rows else "<p class='ok'>No anomalies.</p>"
    drift = anomalies["drift"]
    if drift["baseline"]:
        b = drift["baseline"]
        changed = b.get("changed_params") or []
        same = "same parameters" if not changed else "parameters changed: " + ", ".join(changed[:8])
        head = f"<p>Compared with run <b>{_e(b['run_id'])}</b> (finished {_e(b['finished_at'])}, {same}).</p>"
        features = sorted(drift["features"], key=lambda f: -f["distance"])
        drift_rows = [
            [
                "<span class='warn'>drift</span>" if f["drifted"] else "<span class='ok'>ok</span>",
                _e(f["scope"]),
                _e(f["feature"]),
                _e(f["basis"]),
                _e(f["measure"]),
                f"{f['distance']:.4f}",
                f"{f['threshold']:g}",
            ]
            for f in features
        ]
        header = ["", "scope", "feature", "compared", "measure", "distance", "threshold"]
        top = _table(header, drift_rows[:15], {5, 6})
        everything = (
            f"<details><summary>All {len(drift_rows)} features</summary>{_table(header, drift_rows, {5, 6})}</details>"
        )
        changes = drift["schema_changes"]
        schema = (
            _table(
                ["scope", "field", "change", "before", "after", "severity"],
                [
                    [
                        _e(c["scope"]),
                        _e(c["field"]),
                        _e(c["change"]),
                        _e(c.get("before", "")),
                        _e(c.get("after", "")),
                        _e(c["severity"]),
                    ]
                    for c in changes
                ],
            )
            if changes
            else "<p class='ok'>No schema changes.</p>"
        )
        body = f"{head}<h3>Largest distances</h3>{top}{everything}<h3>Schema</h3>{schema}"
    else:
        body = "".join(f"<p>{_e(n)}</p>" for n in drift["notes"])
    notes = "".join(f"<p>{_e(n)}</p>" for n in drift["notes"]) if drift["baseline"] else ""
    return (
        f"<section id='anomalies'><h2>Anomalies &amp; drift</h2><p>Severity: <b>{_e(anomalies['severity'])}</b></p>"
        f"{table}{_safety(anomalies.get('safety'))}"
        f"<h3>Drift against the previous successful run</h3>{body}{notes}</section>"
    )


def _safety(safety: dict[str, Any] | None) -> str:
    """Records of train/val/test judged again by the safety and coaching rules: rules broken, per slice."""
    if not safety:
        return ""
    head = f"<h3>Safety of the training data</h3><p>{counted(safety['records'], 'record')} judged again by the rules"
    if not safety["flagged"]:
        return head + ": <span class='ok'>none breaks a safety or coaching rule</span>.</p>"
    rules = sorted(safety["by_rule"])
    rows = [[_e(name), *(str(counts.get(r, 0)) for r in rules)] for name, counts in safety["by_slice"].items()]
    total = [["<b>all records</b>", *(str(safety["by_rule"][r]) for r in rules)]]
    numeric = set(range(1, len(rules) + 1))
    return (
        head + f": <span class='bad'>{counted(safety['flagged'], 'record')} break a rule</span> (records per rule "
        f"and slice).</p>{_table(['slice', *rules], total + rows, numeric)}"
    )


EFFECT_NAMES = {EPSILON_SQUARED: "ε²", CRAMERS_V: "V"}
EFFECT_SIZES_NOTE = (
    "<p class='note'>Effect sizes say how large a difference is; p and q say how sure it is (with many users even a "
    "tiny difference is significant). Kruskal-Wallis: ε² = H / (n − 1), the share of the variance "
    "of the ranks that lies between the slices, 0 to 1 (Tomczak &amp; Tomczak 2014, <i>Trends in Sport "
    "Sciences</i> 21(1):19–25). Chi-square: Cramér's V = √(χ² / (n (k − 1))), "
    "0 to 1 (Cramér 1946; for two rates Cohen's w: 0.1 small, 0.3 medium, 0.5 large, Cohen 1988). "
    "q: Benjamini-Hochberg.</p>"
)


def _effect(test: dict[str, Any]) -> str:
    if "effect_size" not in test:
        return ""
    name = EFFECT_NAMES.get(test.get("effect_measure"), test.get("effect_measure", ""))
    return f"{_e(name)} = {test['effect_size']:.3f}"


def _bias(bias: dict[str, Any], charts: dict[str, tuple[str, bytes]]) -> str:
    s = bias["settings"]
    intro = (
        f"<p>Each slice is compared with {_e(s['reference'])}. Alert = Benjamini-Hochberg q &lt; {s['alpha']:g} "
        f"and a disparity beyond the four-fifths rule (ratio &lt; {s['disparity_ratio']:g}"
        f" or, for numeric metrics, &gt; {1 / s['disparity_ratio']:.3g}). Slices with fewer than "
        f"{s['min_slice_size']} observations are listed, not tested.</p>"
    )
    if bias["alerts"]:
        alerts = "<ul>" + "".join(f"<li class='bad'>{_e(r)}</li>" for r in bias["reasons"]) + "</ul>"
    else:
        alerts = "<p class='ok'>No slice is both significantly and materially served worse.</p>"
    overall = _table(
        ["metric", "overall", "n"],
        [[_e(bias["metrics"][k]["label"]), _num(v["value"]), str(v["n"])] for k, v in bias["overall"].items()],
        {1, 2},
    )
    significant = [d for d in bias["dimension_tests"] if d["significant"]]
    omnibus = (
        _table(
            ["dimension", "metric", "test", "groups", "statistic", "effect size", "p", "q"],
            [
                [
                    _e(d["dimension"]),
                    _e(d["metric"]),
                    _e(d["test"]),
                    str(d["groups"]),
                    _num(d["statistic"]),
                    _effect(d),
                    _num(d["p_value"]),
                    _num(d["q_value"]),
                ]
                for d in significant
            ],
            {3, 4, 5, 6, 7},
        )
        + EFFECT_SIZES_NOTE
        if significant
        else "<p>No dimension differs significantly across its slices.</p>"
    )
    below = bias["below_min_size"]
    small = (
        "<details><summary>"
        + f"{counted(len(below), 'slice')} below the minimum size (not tested)</summary>"
        + _table(
            ["dimension", "slice", "queries"],
            [[_e(b["dimension"]), _e(b["slice"]), str(b["queries"])] for b in below],
            {2},
        )
        + "</details>"
    )
    figure = _figure("bias_slice_gaps.svg", *charts["bias_slice_gaps.svg"])
    return (
        f"<section id='bias'><h2>Bias</h2>{intro}{alerts}{figure}"
        f"<h3>Overall</h3>{overall}<h3>Dimensions whose slices differ (omnibus tests, q &lt; {s['alpha']:g})</h3>"
        f"{omnibus}{small}</section>"
    )
