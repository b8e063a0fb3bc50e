"""Figures as a reader takes them: rounded, with their unit, and the number they are compared with named.

The realism checks carry raw floats (``38.5971`` against ``37.0``); the report
shows ``38.6 years (published: 37 years)``. The unit is read off the
marginal's name, the way ``synth.realism`` writes it: an explicit unit in
parentheses (years, cm, h, minutes, %, count), sessions a week, BMI in kg/m², loads per body
weight, shares and prevalences as percentages, other ratios as plain numbers.
A name that fits none of these shows three significant digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# the words that make a marginal a share of people, sessions or loads (shown as a percentage)
_SHARE_WORDS = (
    "share",
    " users ",  # "users without a workout in the last 28 days": a share of the users
    "underweight",
    "prevalence",
    "obesity",
    "bmi >= 40",
    "allergy",
    "label",
    "treated",
    " among ",
    "adherence",
    " cv ",
    "load increase",
)
_UNITS = {"years": " years", "cm": " cm", "h": " h", "minutes": " min"}
_BASIS_WORDS = {"published": "published", "derived": "derived from published", "assumption": "assumed"}


@dataclass(frozen=True)
class Unit:
    suffix: str = ""  # after the number: " cm", "%", " × body weight"
    scale: float = 1.0  # shares are stored as 0-1 and shown per cent
    decimals: int | None = None  # None: three significant digits


def unit_of(name: str) -> Unit:
    """How the marginal called ``name`` is best read."""
    text = f" {name.lower()} "
    explicit = re.search(r"\((years|cm|h|minutes|%|% of body weight|count|share)\)", text)
    if explicit:
        kind = explicit[1]
        if kind in _UNITS:
            return Unit(_UNITS[kind], decimals=0 if kind == "minutes" else 1)
        if kind.startswith("%"):
            return Unit("%", decimals=2)
        if kind == "count":
            return Unit(decimals=0)
        return Unit("%", 100.0, 1)
    if "/ body weight" in text:
        return Unit(" × body weight", decimals=2)
    if "sessions a week" in text:
        return Unit(" sessions/week", decimals=1)
    if any(word in text for word in _SHARE_WORDS):
        return Unit("%", 100.0, 1)
    if "bmi" in text:
        return Unit(" kg/m²", decimals=1)
    if " / " in text:
        return Unit(decimals=2)  # a ratio of like quantities
    return Unit()


def number(value: Any, unit: Unit, *, with_suffix: bool = True) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    scaled = value * unit.scale
    text = f"{scaled:.3g}" if unit.decimals is None else f"{scaled:,.{unit.decimals}f}"
    if text.startswith("-") and float(text.replace(",", "")) == 0:
        text = text[1:]
    return text + (unit.suffix if with_suffix else "")


def expected(value: Any, unit: Unit) -> str:
    """A published figure or range: ``37 years``, ``45-75 min``."""
    if isinstance(value, list | tuple) and len(value) == 2:
        low, high = sorted(value)
        return f"{number(low, unit, with_suffix=False)} to {number(high, unit)}"
    return number(value, unit)


def realism_label(check: dict[str, Any]) -> str:
    """``38.6 years (published: 37 years)`` for one realism check of the validation report."""
    unit = unit_of(check.get("check", "").removeprefix("realism: "))
    basis = _BASIS_WORDS.get(str(check.get("basis")), "published")
    return f"{number(check['observed'], unit)} ({basis}: {expected(check['expected'], unit)})"


def tolerance(check: dict[str, Any]) -> str:
    unit = unit_of(check.get("check", "").removeprefix("realism: "))
    value = check.get("tolerance")
    return f"± {number(value, unit)}" if isinstance(value, int | float) else ""
