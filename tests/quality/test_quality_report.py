"""What report.html says, read the way its user reads it: figures with units, markers with a legend, effect sizes
beside p-values, and the dataset's filters at work even when they dropped nothing.

Effect sizes are checked against independent computations (one-way ANOVA of the ranks for epsilon-squared,
scipy's contingency association for Cramer's V); labels against the figures of a real run's realism report.
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from scipy import stats
from scipy.stats import contingency
from test_quality_bias import population

from fitsense_luigi.config import load_config
from fitsense_luigi.contracts import files
from fitsense_luigi.dataset.filters import REASONS
from fitsense_luigi.quality import bias
from fitsense_luigi.quality.bias.significance import cramers_v, epsilon_squared, kruskal_groups
from fitsense_luigi.quality.publish import charts, figures, html_report
from fitsense_luigi.quality.publish.html_report import Filters

SVG = "{http://www.w3.org/2000/svg}"


def texts(svg: bytes) -> list[str]:
    """Every text an SVG chart shows (matplotlib keeps text as text: svg.fonttype none)."""
    return ["".join(node.itertext()).strip() for node in ET.fromstring(svg).iter(f"{SVG}text")]


# ---------------------------------------------------------------- effect sizes


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_epsilon_squared_is_the_between_slice_share_of_the_ranks_variance(seed):
    """Tomczak & Tomczak (2014): epsilon-squared = H / (n - 1), which is eta-squared of a one-way ANOVA of the
    (mid)ranks: the between-group sum of squares over the total. Computed here from the ranks directly."""
    rng = np.random.default_rng(seed)
    groups = [np.round(rng.normal(loc, 1.0, size), 1) for loc, size in ((0, 40), (0.3, 55), (0.8, 35), (0.1, 70))]
    h, _ = kruskal_groups(groups)
    ranks = stats.rankdata(np.concatenate(groups))  # midranks: ties (values rounded to 0.1) included
    parts = np.split(ranks, np.cumsum([g.size for g in groups])[:-1])
    between = sum(p.size * (p.mean() - ranks.mean()) ** 2 for p in parts)
    total = ((ranks - ranks.mean()) ** 2).sum()
    assert epsilon_squared(h, ranks.size) == pytest.approx(between / total, rel=1e-9)


@pytest.mark.parametrize(
    "table", [[[30, 70], [45, 55]], [[12, 88], [10, 90], [25, 75]], [[5, 10, 15], [20, 10, 5]], [[0, 50], [3, 47]]]
)
def test_cramers_v_agrees_with_scipy(table):
    """Cramer's V from the uncorrected chi-square, as scipy's contingency.association computes it."""
    assert cramers_v(np.array(table)) == pytest.approx(contingency.association(np.array(table), method="cramer"))


def test_no_events_anywhere_is_no_effect():
    assert cramers_v(np.array([[0, 40], [0, 60]])) == 0.0
    assert epsilon_squared(0.0, 1) == 0.0


def test_the_table_of_significant_differences_shows_effect_sizes_beside_p_and_q():
    """A crafted population whose women get shorter answers and who reject more often with a condition: both
    kinds of omnibus test are significant, and each row shows its effect size, cited, beside p and q."""
    queries, responses, records = population(
        length_factor=lambda t: 0.6 if t["sex"] == "female" else 1.0,
        reject=lambda t: 0.3 if t["condition_flag"] == "with_condition" else 0.02,
    )
    report = bias.slice_report(load_config(), queries, responses, records)
    html = html_report._bias(report, {"bias_slice_gaps.svg": ("", charts.bias_gaps(report))})
    table = html.split("Dimensions whose slices differ", 1)[1].split("</table>", 1)[0]
    assert "<th>effect size</th><th>p</th><th>q</th>" in table
    tested = [d for d in report["dimension_tests"] if d["significant"]]
    assert {d["effect_measure"] for d in tested} == {"epsilon-squared", "cramers-v"}
    for test in tested:
        name = {"epsilon-squared": "\u03b5\u00b2", "cramers-v": "V"}[test["effect_measure"]]
        assert f"{name} = {test['effect_size']:.3f}" in table
        assert 0.0 <= test["effect_size"] <= 1.0
    sex = next(d for d in tested if d["dimension"] == "sex" and d["metric"] == "response_chars")
    assert sex["effect_size"] > 0.3  # 40% shorter answers for half the users: a large share of the ranks' variance
    assert "Tomczak" in html and "Cram\u00e9r 1946" in html  # the measures are cited where they are shown


# ---------------------------------------------------------------- realism labels


def test_realism_labels_have_units_rounding_and_name_the_published_figure(built_run):
    validation = built_run.files.document(files.VALIDATION_REPORT)
    checks = [c for c in validation["checks"] if c["category"] == "realism"]
    labels = [figures.realism_label(c) for c in checks]
    assert all(re.fullmatch(r".+ \((published|derived from published|assumed): .+\)", label) for label in labels)
    assert not [label for label in labels if re.search(r"\d\.\d{4}", label)], "no raw floats: rounded for reading"
    assert not [label for label in labels if "users" in label.split("(")[0] and "kg/m" in label]  # shares, not BMI
    by_name = dict(zip((c["check"].removeprefix("realism: ") for c in checks), labels, strict=True))
    # units as the marginal's name gives them: years, cm, per cent for shares and prevalences, minutes
    assert re.fullmatch(r"\d\d\.\d years \(published: 37\.0 years\)", by_name["mean age of app users (years)"])
    assert re.fullmatch(r"1\d\d\.\d cm \(published: 161\.7 cm\)", by_name["mean height of women (cm)"])
    assert re.fullmatch(r"\d+\.\d% \(published: 50\.0%\)", by_name["share of women"])
    assert re.fullmatch(r"\d+ min \(assumed: 45 to 75 min\)", by_name["session duration (minutes), median"])
    svg = built_run.files.path(files.chart("realism.svg")).read_bytes()
    assert set(labels) <= set(texts(svg))


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("weekly weight change of weight-loss users (% of body weight), median", -0.3631, "-0.36%"),
        ("beta-blocker users without hypertension (count)", 0.0, "0"),
        ("mean BMI of men, age-standardised", 28.5209, "28.5 kg/m\u00b2"),
        (
            "bench press e1RM (Epley on reps + RIR, weeks 1-3) / body weight, men 20-29, median",
            0.9702,
            "0.97 \u00d7 body weight",
        ),
        ("weekend / Mon-Thu logged intake, median", 1.1343, "1.13"),
        ("hypertension prevalence, age 60+", 0.75, "75.0%"),
        ("mean logged sleep (h)", 7.2653, "7.3 h"),
        ("users below BMI 20 with weight loss as their first goal", 0.0, "0.0%"),
        ("underweight (BMI < 18.5), age-standardised", 0.0123, "1.2%"),
        ("sessions a week in the last 28 days of users who state 'sedentary', mean", 0.192, "0.2 sessions/week"),
    ],
)
def test_figures_read_as_people_write_them(name, value, shown):
    assert figures.number(value, figures.unit_of(name)) == shown


# ---------------------------------------------------------------- charts


def test_the_box_plot_says_what_its_triangle_and_lines_are(built_run):
    shown = texts(built_run.files.path(files.chart("response_lengths.svg")).read_bytes())
    assert {"mean", "median", "5th-95th percentile", "shortest / longest"} <= set(shown)


def test_explained_slices_have_their_own_marker_and_a_legend(built_run):
    report = built_run.files.document(files.BIAS_REPORT)
    explained = [(s, name) for s in report["slices"] for name, m in s["metrics"].items() if m.get("alerting") is False]
    assert explained, "the shipped explained_by makes some slices explained"
    shown = " ".join(texts(charts.bias_gaps(report)))
    assert "explained: its dimension drives the metric (quality.bias.explained_by)" in shown
    assert "explained, and beyond the band" in shown
    # an explained slice beyond the band is drawn as a diamond: one more diamond than when it sits inside
    row, name = next((s, n) for s, n in explained if " x " not in s["dimension"] and s["metrics"][n]["tested"])

    def drawn_at(ratio: float) -> bytes:
        changed = copy.deepcopy(report)
        same = next(s for s in changed["slices"] if (s["dimension"], s["slice"]) == (row["dimension"], row["slice"]))
        same["metrics"][name].update(disparity_ratio=ratio, disparity_ci=[ratio - 0.05, ratio + 0.05])
        return charts.bias_gaps(changed)

    assert _diamonds(drawn_at(1.6)) == _diamonds(drawn_at(1.0)) + 1


def _diamonds(svg: bytes) -> int:
    """Markers drawn with the diamond path matplotlib defines once and uses per point."""
    root = ET.fromstring(svg)
    defs = {p.get("id"): p.get("d") for p in root.iter(f"{SVG}path") if p.get("id")}
    diamond_ids = {i for i, d in defs.items() if d and d.count("L") == 3 and "z" in d and "C" not in d}
    uses = [u for u in root.iter(f"{SVG}use") if u.get("{http://www.w3.org/1999/xlink}href", "")[1:] in diamond_ids]
    return len(uses)


def test_a_rate_that_is_zero_for_everyone_says_so_instead_of_a_flat_column(built_run):
    report = built_run.files.document(files.BIAS_REPORT)
    assert report["overall"]["rejection_rate"]["value"] == 0  # the shipped mock teacher's flaw_rate is 0
    shown = " ".join(texts(charts.bias_gaps(report)))
    assert "rejection rate is 0 for every user in this run: nothing to compare" in " ".join(shown.split())
    some = copy.deepcopy(report)
    some["overall"]["rejection_rate"]["value"] = 0.05
    assert "rejection rate is 0" not in " ".join(texts(charts.bias_gaps(some)))


# ---------------------------------------------------------------- cards and filters


def test_the_drift_card_says_no_drift_or_how_many_of_how_many():
    features = [{"drifted": False}] * 90 + [{"drifted": True}] * 2
    baseline = {"run_id": "2026-02-16"}
    quiet = html_report._drift_card({"baseline": baseline, "features": features[:90], "drifted": 0})
    loud = html_report._drift_card({"baseline": baseline, "features": features, "drifted": 2})
    assert "<b class='ok'>no drift</b>0 of 90 features beyond threshold vs run 2026-02-16" in quiet
    assert "<b class='bad'>2 of 92 drifted</b>2 of 92 features beyond threshold vs run 2026-02-16" in loud
    first = html_report._drift_card({"baseline": None, "features": [], "drifted": 0})
    assert "no baseline" in first and "first good run here" in first


def test_every_filter_is_shown_at_work_on_a_first_run_that_dropped_nothing(built_run):
    run = built_run.files
    html = run.path(files.REPORT_HTML).read_text()
    section = html.split("<h3>Filters at work</h3>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(
        r"<tr><td><code>(\w+)</code></td><td>.*?</td><td class='num'>([\d,]+)</td>"
        r"<td class='num'>(?:<span class='bad'>)?([\d,]+)",
        section,
    )
    queries = len(run.rows(files.QUERIES))
    assert [reason for reason, _, _ in rows] == list(REASONS)  # every filter, in the order they run
    assert all(int(checked.replace(",", "")) == queries and dropped == "0" for _, checked, dropped in rows)
    lengths = [len(r["response"]) for r in run.records()]
    assert f"shortest kept: {min(lengths):,} chars" in section and f"longest kept: {max(lengths):,} chars" in section
    assert "<code>dataset.response_chars.min</code> (200)" in section  # the limit the filter used in this run
    assert "FITSENSE__TEACHER__MOCK__FLAW_RATE" in html  # how to watch them drop flawed answers


def test_filters_count_down_as_they_drop():
    dropped = {"failed_response": 5, "schema_invalid": 3}
    counts = {"input_queries": 100, "rejected_by_reason": {r: dropped.get(r, 0) for r in REASONS}}
    stats = {"splits": {"all_records": {"features": {"response": {"length": {"min": 1500, "max": 6000}}}}}}
    html = html_report._filters(Filters(counts, {r: r for r in REASONS}), stats)
    checked = [int(c) for c in re.findall(r"<td class='num'>(\d+)</td><td class='num'>", html)]
    # each filter sees what the ones before it (in the dataset's order) let through: 100 until failed_response
    # drops 5, 95 until schema_invalid drops 3, then 92
    first, second = REASONS.index("failed_response"), REASONS.index("schema_invalid")
    assert checked == [100] * (first + 1) + [95] * (second - first) + [92] * (len(REASONS) - second - 1)
    assert "92 answers kept." in html
    assert "FLAW_RATE" not in html  # the hint is only for a run that dropped nothing
