"""BiasSlicing: the statistics against scipy, a fair crafted population raises nothing, a biased one is named."""

from __future__ import annotations

import json
from dataclasses import replace
from types import MappingProxyType

import numpy as np
import pytest
from scipy import stats

from fitsense_luigi.config import Config, load_config
from fitsense_luigi.quality import bias
from fitsense_luigi.quality.bias.significance import (
    RankedSample,
    benjamini_hochberg,
    bootstrap_mean_interval,
    bootstrap_rate_interval,
    chi_square,
)

TAGS = {
    "age_band": ("18-29", "30-39", "40-49", "50-59", "60+"),
    "sex": ("female", "male"),
    "goal_type": ("strength", "muscle_gain", "weight_loss", "endurance", "general_fitness"),
    "activity_level": ("sedentary", "lightly_active", "moderately_active", "very_active"),
    "condition_flag": ("no_condition", "with_condition"),
}


def population(n=900, seed=5, length_factor=None, reject=None, intensity_factor=None):
    """Queries, responses and records of a crafted population; the factor functions bend one slice."""
    rng = np.random.default_rng(seed)
    queries, responses, records = [], [], []
    for i in range(n):
        tags = {k: str(rng.choice(v)) for k, v in TAGS.items()}
        qid = f"q{i:05d}"
        queries.append({"query_id": qid, "slice_tags": tags})
        responses.append({"query_id": qid, "safety_flags": [], "status": "ok"})
        if reject and rng.random() < reject(tags):
            continue
        one_rm = 100.0
        intensity = rng.normal(0.72, 0.04) * (intensity_factor(tags) if intensity_factor else 1.0)
        plan = {
            "summary": "",
            "days_per_week": 3,
            "days": [
                {
                    "day": "Monday",
                    "focus": "Full body",
                    "exercises": [
                        {
                            "name": "Goblet Squat",
                            "sets": 3,
                            "reps": 8,
                            "rir": 2,
                            "rest_seconds": 90,
                            "load_kg": round(one_rm * intensity, 1),
                            "notes": "",
                        }
                    ],
                }
            ],
        }
        target = int(rng.normal(3000, 250) * (length_factor(tags) if length_factor else 1.0))
        plan["summary"] = "x" * max(1, target - len(json.dumps(plan)))
        summary = {
            "sessions_last_window": int(rng.integers(6, 13)),
            "window_days": 28,
            "top_lifts": [{"exercise": "Goblet Squat", "estimated_1rm_kg": one_rm}],
        }
        records.append(
            {
                "metadata": {"query_id": qid},
                "response": json.dumps(plan),
                "context": {"slice_tags": tags, "context_summary": summary},
            }
        )
    return queries, responses, records


@pytest.fixture(scope="module")
def default_config() -> Config:
    """The default quality settings (min slice size 30, four-fifths rule, alpha 0.05, 1000 resamples)."""
    return load_config()


# ------------------------------------------------------------------ the statistics


def test_slice_vs_rest_kruskal_matches_scipy():
    rng = np.random.default_rng(1)
    values = np.round(rng.normal(10, 3, 500))  # many ties
    mask = rng.random(500) < 0.3
    h, p = RankedSample(values).slice_vs_rest(mask)
    reference = stats.kruskal(values[mask], values[~mask])
    assert h == pytest.approx(reference.statistic) and p == pytest.approx(reference.pvalue)


def test_chi_square_and_benjamini_hochberg():
    statistic, p = chi_square(np.array([[30, 70], [60, 40]]))
    reference = stats.chi2_contingency([[30, 70], [60, 40]])
    assert statistic == pytest.approx(reference.statistic) and p == pytest.approx(reference.pvalue)
    assert chi_square(np.array([[0, 50], [0, 70]])) == (0.0, 1.0)  # no events at all: no evidence
    q = benjamini_hochberg([0.01, 0.04, 0.03, 0.5])
    assert q.tolist() == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.5])  # worked by hand: p * m / rank, monotone


def test_bootstrap_intervals_cover_the_estimate_and_are_reproducible():
    values = np.random.default_rng(2).normal(50, 10, 400)
    a = bootstrap_mean_interval(values, np.random.default_rng(7), 1000, 0.95)
    b = bootstrap_mean_interval(values, np.random.default_rng(7), 1000, 0.95)
    assert a == b and a[0] < values.mean() < a[1]
    assert a[1] - a[0] == pytest.approx(2 * 1.96 * values.std() / np.sqrt(400), rel=0.15)
    discrete = np.random.default_rng(3).integers(1, 6, 2000).astype(float)  # multinomial path
    low, high = bootstrap_mean_interval(discrete, np.random.default_rng(7), 1000, 0.95)
    assert low < discrete.mean() < high
    low, high = bootstrap_rate_interval(30, 200, np.random.default_rng(7), 1000, 0.95)
    assert low < 0.15 < high


# ------------------------------------------------------------------ slicing


def test_fair_population_raises_no_alert(default_config):
    report = bias.slice_report(default_config, *population())
    assert report["bias_alert"] is False and report["reasons"] == []
    tested = [s for s in report["slices"] if s["metrics"]["response_chars"]["tested"]]
    assert any(" x " in s["dimension"] for s in tested)  # pairwise intersections are tested too
    assert all(m["q_value"] >= m["p_value"] for s in tested for m in s["metrics"].values() if m["tested"])


def test_shorter_answers_for_women_are_named(default_config):
    report = bias.slice_report(default_config, *population(length_factor=lambda t: 0.6 if t["sex"] == "female" else 1))
    assert report["bias_alert"] is True
    first = report["alerts"][0]
    assert (first["dimension"], first["slice"], first["metric"]) == ("sex", "female", "response_chars")
    assert first["disparity_ratio"] < 0.8 and first["q_value"] < 0.05
    assert first["ci"][0] < first["value"] < first["ci"][1]
    assert "female (sex): response length" in report["reasons"][0]
    assert {a["metric"] for a in report["alerts"]} == {"response_chars"}


def test_older_users_rejected_more_is_named(default_config):
    queries, responses, records = population(reject=lambda t: 0.5 if t["age_band"] == "60+" else 0.02)
    report = bias.slice_report(default_config, queries, responses, records)
    flagged = {(a["dimension"], a["slice"], a["metric"]) for a in report["alerts"]}
    assert ("age_band", "60+", "rejection_rate") in flagged
    row = next(s for s in report["slices"] if s["dimension"] == "age_band" and s["slice"] == "60+")
    assert row["metrics"]["rejection_rate"]["value"] > 0.35
    assert row["metrics"]["rejection_rate"]["disparity_ratio"] < 0.8


def test_heavier_loads_for_a_slice_are_named(default_config):
    factor = lambda t: 1.4 if t["condition_flag"] == "with_condition" else 1  # noqa: E731
    report = bias.slice_report(default_config, *population(intensity_factor=factor))
    flagged = {(a["dimension"], a["slice"], a["metric"]) for a in report["alerts"]}
    assert ("condition_flag", "with_condition", "relative_intensity") in flagged


def test_small_slices_are_reported_not_tested(default_config):
    queries, responses, records = population(n=200)
    report = bias.slice_report(default_config, queries, responses, records)
    small = {(b["dimension"], b["slice"]) for b in report["below_min_size"]}
    assert small and all(n < 30 for n in (b["queries"] for b in report["below_min_size"]))
    row = next(s for s in report["slices"] if (s["dimension"], s["slice"]) in small)
    assert all(not m["tested"] and m["reason"] == "below minimum size" for m in row["metrics"].values())


def test_prescription_relative_to_capacity():
    record = {
        "response": json.dumps(
            {
                "days_per_week": 4,
                "days": [
                    {
                        "exercises": [
                            {"name": "Goblet Squat", "load_kg": 40.0},
                            {"name": "Plank", "load_kg": None},
                            {"name": "Barbell Bench Press", "load_kg": 60.0},
                        ]
                    }
                ],
            }
        ),
        "context": {
            "context_summary": {
                "sessions_last_window": 8,
                "window_days": 28,
                "top_lifts": [
                    {"exercise": "Goblet Squat", "estimated_1rm_kg": 50.0},
                    {"exercise": "Barbell Bench Press", "estimated_1rm_kg": 100.0},
                ],
            }
        },
    }
    volume, intensity = bias.prescription(record)
    assert volume == pytest.approx(2.0) and intensity == pytest.approx((0.8 + 0.6) / 2)  # 4 days after 2 a week
    summary = record["context"]["context_summary"]
    # Below the guideline minimum of 2 days a week (ACSM/AHA 2007, WHO 2020) a plan is measured against those 2 days:
    # 4 days after 0.5 a week is twice the minimum, not 8 times "what they did"; after nothing logged, the same.
    for sessions in (2, 0):
        summary["sessions_last_window"] = sessions
        assert bias.prescription(record)[0] == pytest.approx(4 / 2)
    del summary["window_days"]
    assert np.isnan(bias.prescription(record)[0])  # no look-back window: no baseline


def test_a_reply_without_a_plan_has_no_volume():
    """A yes/no question answered without a plan (days_per_week 0) prescribes nothing: not a volume of zero."""
    record = {
        "response": json.dumps({"days_per_week": 0, "days": []}),
        "context": {"context_summary": {"sessions_last_window": 24, "window_days": 84, "top_lifts": []}},
    }
    assert np.isnan(bias.prescription(record)[0])


def test_expected_differences_are_reported_not_alerted(default_config):
    """Very active users get longer plans (more days): that is the plan doing its job, not bias."""
    factor = lambda t: 1.4 if t["activity_level"] == "very_active" else 1  # noqa: E731
    report = bias.slice_report(default_config, *population(length_factor=factor))
    row = next(s for s in report["slices"] if s["dimension"] == "activity_level" and s["slice"] == "very_active")
    length = row["metrics"]["response_chars"]
    assert length["disparate"] and length["significant"] and not length["alerting"]
    assert not any(a["metric"] == "response_chars" for a in report["alerts"])
    # the intersection with sex is compared with the other very active users, so the activity effect cancels
    mixed = next(s for s in report["slices"] if s["slice"] == "female & very_active")
    assert mixed["metrics"]["response_chars"]["reference"] == "others with activity_level=very_active"
    assert not mixed["metrics"]["response_chars"]["disparate"]


def test_a_protected_gap_inside_one_context_is_named(default_config):
    """Women who are very active get shorter answers than very active men: named, against that context."""
    factor = lambda t: 0.6 if (t["sex"], t["activity_level"]) == ("female", "very_active") else 1  # noqa: E731
    report = bias.slice_report(default_config, *population(length_factor=factor))
    flagged = {(a["slice"], a["metric"]): a for a in report["alerts"]}
    alert = flagged[("female & very_active", "response_chars")]
    assert "others with activity_level=very_active" in alert["reason"]


def _intervals(report: dict) -> dict[tuple[str, str, str], list[float]]:
    return {
        (s["dimension"], s["slice"], name): m["ci"]
        for s in report["slices"]
        for name, m in s["metrics"].items()
        if m["tested"]
    }


def test_adding_or_removing_a_metric_leaves_every_other_interval_unchanged(default_config, monkeypatch):
    """Each bootstrap draws from its own (dimension, slice, metric) stream of the run seed, not a running count."""
    from fitsense_luigi.quality.bias import slicing

    data = population(n=400, seed=11)
    before = _intervals(bias.slice_report(default_config, *data))
    assert len({k[2] for k in before}) == len(slicing.METRICS) and len(before) > 100

    # remove the first metric: with a running count every later interval would move
    monkeypatch.setattr(slicing, "METRICS", slicing.METRICS[1:])
    fewer = _intervals(bias.slice_report(default_config, *data))
    assert fewer == {k: v for k, v in before.items() if k[2] != "response_chars"}

    # add one in front (a copy of an existing metric under a new name): the others stay, the new one has its own
    extra = slicing.Metric("relative_volume_again", "numeric", "relative volume, again", "x")
    monkeypatch.setattr(slicing, "METRICS", (extra, *slicing.METRICS))
    observe = slicing.observations
    monkeypatch.setattr(
        slicing, "observations", lambda *args: (lambda o: o | {extra.name: o["relative_volume"]})(observe(*args))
    )
    settings = default_config.quality.bias
    explained = MappingProxyType({**settings.explained_by, extra.name: ()})
    quality = replace(default_config.quality, bias=replace(settings, explained_by=explained))
    config = replace(default_config, quality=quality)
    more = _intervals(bias.slice_report(config, *data))
    assert {k: v for k, v in more.items() if k[2] != extra.name} == fewer
    copies = {k[:2]: v for k, v in more.items() if k[2] == extra.name}
    originals = {k[:2]: v for k, v in more.items() if k[2] == "relative_volume"}
    assert copies.keys() == originals.keys() and copies != originals  # same data, an independent stream
