"""SVG charts of a run's quality, drawn headless from the reports alone.

Uses matplotlib's object API (Figure + SVG canvas, no pyplot), so nothing
needs a display and no global figure state leaks between calls. Output is
byte-stable: a fixed hash salt for element ids, no creation date, text kept as
text (smaller files, searchable labels).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from fitsense_luigi.contracts.splits import RECORD_FILES, SPLITS
from fitsense_luigi.quality.publish import figures

PASS, FAIL, WARN, NEUTRAL, BAND = "#2e7d32", "#c62828", "#ef6c00", "#1565c0", "#e8f5e9"
EXPLAINED = "#6d4c41"  # a slice whose own dimension explains the metric: compared within it, never alerted
STYLE = {
    "svg.hashsalt": "fitsense-quality",
    "svg.fonttype": "none",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _svg(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return buffer.getvalue()


def _draw(draw: Callable[[Figure], None], size: tuple[float, float]) -> bytes:
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=size)
        draw(fig)
        return _svg(fig)


def split_sizes(stats: dict[str, Any]) -> bytes:
    names = [*SPLITS, "rejected"]
    counts = [stats["splits"][s]["count"] for s in SPLITS] + [stats["rejected"]["count"]]
    users = [stats["splits"][s]["users"] for s in SPLITS] + [None]
    total = sum(counts[:3]) or 1

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        bars = ax.bar(names, counts, color=[NEUTRAL, NEUTRAL, NEUTRAL, FAIL])
        for bar, count, who, name in zip(bars, counts, users, names, strict=True):
            label = f"{count}" if name == "rejected" else f"{count} ({count / total:.0%})\n{who} users"
            ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom")
        ax.set_ylabel("records")
        ax.set_title("Split sizes")
        ax.margins(y=0.25)

    return _draw(draw, (5.5, 3.2))


def category_shares(stats: dict[str, Any], feature: str, title: str) -> bytes:
    counts = {s: stats["splits"][s]["features"].get(feature, {}).get("value_counts", {}) for s in SPLITS}
    categories = sorted({c for v in counts.values() for c in v})

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        width = 0.8 / len(SPLITS)
        for k, split in enumerate(SPLITS):
            total = sum(counts[split].values()) or 1
            shares = [counts[split].get(c, 0) / total for c in categories]
            xs = [i + (k - 1) * width for i in range(len(categories))]
            ax.bar(xs, shares, width, label=split, color=("#1565c0", "#64b5f6", "#90a4ae")[k])
        ax.set_xticks(range(len(categories)), categories, rotation=20, ha="right")
        ax.set_ylabel("share of the split's records")
        ax.set_title(title)
        ax.legend(frameon=False)

    return _draw(draw, (6.5, 3.4))


def response_lengths(stats: dict[str, Any]) -> bytes:
    boxes = []
    for split in RECORD_FILES:
        feature = stats["splits"][split]["features"].get("response", {})
        q = feature.get("length", {}).get("quantiles")
        if q:
            boxes.append(
                {
                    "label": f"{split}\n(n={stats['splits'][split]['count']})",
                    "whislo": q["p5"],
                    "q1": q["p25"],
                    "med": q["p50"],
                    "q3": q["p75"],
                    "whishi": q["p95"],
                    "fliers": [q["p0"], q["p100"]],
                    "mean": feature["length"]["mean"],
                }
            )

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        if boxes:
            parts = ax.bxp(boxes, showmeans=True, orientation="horizontal")
            mean, median = parts["means"][0], parts["medians"][0]
            key = [
                Line2D([], [], marker=mean.get_marker(), color=mean.get_markerfacecolor(), ls="", label="mean"),
                Line2D([], [], color=median.get_color(), label="median"),
                Line2D([], [], marker="s", mfc="none", mec="black", ls="", ms=8, label="middle half (quartiles)"),
                Line2D([], [], marker="|", color="black", ls="-", label="5th-95th percentile"),
                Line2D([], [], marker="o", mfc="none", mec="black", ls="", label="shortest / longest"),
            ]
            ax.legend(handles=key, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
        ax.set_xlabel("response length (characters)")
        ax.set_title("Response length by split")

    return _draw(draw, (7.5, 3.0))


def bias_gaps(bias: dict[str, Any]) -> bytes:
    metrics = list(bias["metrics"])
    rows = [
        s for s in bias["slices"] if " x " not in s["dimension"] and any(m["tested"] for m in s["metrics"].values())
    ]
    labels = [f"{s['dimension']}={s['slice']}" for s in rows]
    low, high = bias["settings"]["disparity_ratio"], 1 / bias["settings"]["disparity_ratio"]
    flagged = {(a["dimension"], a["slice"], a["metric"]) for a in bias["alerts"]}
    overall = bias.get("overall", {})

    def draw(fig: Figure) -> None:
        axes = fig.subplots(1, len(metrics), sharey=True)
        for ax, name in zip(axes, metrics, strict=True):
            ax.axvspan(low, high, color=BAND, zorder=0)
            ax.axvline(1.0, color="#9e9e9e", lw=0.8)
            title = bias["metrics"][name]["label"].replace(" (", "\n(")
            ax.set_title(title if bias["metrics"][name]["kind"] == "numeric" else f"{title}\n(favourable-rate ratio)")
            ax.set_xlabel("slice / rest")
            if _no_events(bias["metrics"][name], overall.get(name)):
                # a rate that is 0 for everyone compares nothing: say so instead of a column of dots at 1.0
                note = f"{bias['metrics'][name]['label']} is 0\nfor every user in this run:\nnothing to compare"
                ax.text(1.0, (len(rows) - 1) / 2, note, ha="center", va="center", fontsize=8, color="#616161")
                continue
            for y, row in enumerate(rows):
                m = row["metrics"][name]
                if not m["tested"] or m.get("disparity_ratio") is None:
                    continue
                explained = m.get("alerting") is False
                alerted = (row["dimension"], row["slice"], name) in flagged
                colour = FAIL if alerted else EXPLAINED if explained else NEUTRAL
                ci = m.get("disparity_ci") or [m["disparity_ratio"]] * 2
                ax.plot(ci, [y, y], color=colour, lw=1.5, ls=":" if explained else "-")
                outside = not low <= m["disparity_ratio"] <= high
                marker = "D" if explained and outside else "o"
                face = "none" if explained else colour
                ax.plot([m["disparity_ratio"]], [y], marker, color=colour, mfc=face, ms=5 if marker == "D" else 4)
        axes[0].set_yticks(range(len(rows)), labels)
        axes[0].invert_yaxis()
        fig.suptitle(
            f"Bias slice gaps with {bias['settings']['confidence']:.0%} bootstrap intervals "
            f"(green band: four-fifths rule)"
        )
        fig.legend(
            handles=[
                Line2D([], [], marker="o", color=NEUTRAL, label="slice against the rest of the users"),
                Line2D([], [], marker="o", color=FAIL, label="alert: significant and beyond the band"),
                Line2D(
                    [],
                    [],
                    marker="o",
                    mfc="none",
                    ls=":",
                    color=EXPLAINED,
                    label="explained: its dimension drives"
                    " the metric (quality.bias.explained_by), compared within it, never alerted",
                ),
                Line2D([], [], marker="D", mfc="none", ls="", color=EXPLAINED, label="explained, and beyond the band"),
            ],
            loc="lower center",
            ncol=2,
            frameon=False,
            fontsize=8,
            bbox_to_anchor=(0.5, -0.02),
        )
        fig.subplots_adjust(bottom=0.1 + 0.6 / max(len(rows), 1))

    return _draw(draw, (3.0 * len(metrics), max(3.0, 0.28 * len(rows) + 2.0)))


def _no_events(metric: dict[str, Any], overall: dict[str, Any] | None) -> bool:
    return metric.get("kind") == "rate" and bool(overall) and overall.get("value") == 0


def realism(validation: dict[str, Any]) -> bytes:
    checks = [c for c in validation["checks"] if c["category"] == "realism" and c.get("deviation") is not None]

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        ax.axvspan(-1, 1, color=BAND, zorder=0)
        ax.axvline(0, color="#9e9e9e", lw=0.8)
        for y, c in enumerate(checks):
            scaled = c["deviation"] / c["tolerance"] if c["tolerance"] else 0.0
            colour = PASS if c["passed"] else FAIL if c["severity"] == "error" else WARN
            ax.plot([scaled], [y], "o", color=colour, ms=6)
            ax.annotate(
                figures.realism_label(c),
                (scaled, y),
                xytext=(6, 3),
                textcoords="offset points",
                fontsize=7,
            )
        ax.set_yticks(range(len(checks)), [c["check"].removeprefix("realism: ") for c in checks])
        ax.invert_yaxis()
        ax.set_xlabel("(observed - expected) / tolerance; green band = within tolerance")
        ax.set_title("Realism: generated marginals vs published figures")
        ax.set_xlim(min(-2.0, *(ax.get_xlim()[0],)), max(2.0, ax.get_xlim()[1]))

    return _draw(draw, (7.0, max(2.4, 0.35 * len(checks) + 1.2)))


def render_all(stats: dict[str, Any], validation: dict[str, Any], bias: dict[str, Any]) -> dict[str, tuple[str, bytes]]:
    """{file name: (caption, svg bytes)} for every chart of the report."""
    return {
        "split_sizes.svg": ("Records per split, with users per split and rejected queries", split_sizes(stats)),
        "prompt_types.svg": (
            "Prompt-type distribution per split",
            category_shares(stats, "prompt_type", "Prompt types"),
        ),
        "goal_types.svg": ("Goal-type distribution per split", category_shares(stats, "goal_type", "Goal types")),
        "response_lengths.svg": ("Response length summary per split", response_lengths(stats)),
        "bias_slice_gaps.svg": ("Bias: each slice against the rest, with bootstrap intervals", bias_gaps(bias)),
        "realism.svg": ("Realism: observed vs published marginals", realism(validation)),
    }
