"""Safety rules (``data/safety_rules.csv``): which person may not be given what, each rule with its source.

A rule ties a person-level risk factor (age, BMI, training experience, a
condition, a drug class, a recent injury) to what a plan must then leave out
(exercises by attribute: a contraindication tag, plyometric, a skill level)
and what it must stay within (limits: training days a week, non-consecutive
days, effort by RPE instead of heart-rate zones, rep and reps-in-reserve
floors). The rule's id is the safety constraint a query carries, its text is
what a teacher reads, and a plan addresses it by obeying it and saying how in a
safety note with that id.

One place for every stage: queries derive a user's rules from their facts
(:func:`constraints_for`), the mock coach plans by the rules its message lists,
the post-checks judge any teacher's plan by the same rules
(:func:`excluded_by`, :class:`Limits`), and the synthetic world's plans avoid
what the conditions and medications rule out (:func:`avoided_tags`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fitsense_luigi.reference.catalogue import EXERCISES, LEVELS, Exercise
from fitsense_luigi.reference.conditions import CONDITIONS
from fitsense_luigi.reference.loading import LIST_SEPARATOR, Column, read_table, text
from fitsense_luigi.reference.medications import DRUG_CLASS
from fitsense_luigi.reference.tags import ALL_TAGS

EXPERIENCE = ("novice", "intermediate", "advanced")
# Body parts an injury note can name, with the words that name them ("L5-S1 disc bulge" is the back).
INJURY_REGIONS: dict[str, tuple[str, ...]] = {
    "knee": ("knee",),
    "back": ("back", "lumbar", "l5-s1", "l4-l5", "disc", "sciatica", "spine"),
    "ankle": ("ankle",),
    "shoulder": ("shoulder",),
}
RECENT_INJURY_YEARS = 1  # a dated injury counts when it is from the as-of year or the year before
_YEAR = re.compile(r"\b(19|20)\d{2}\b")
_FIELDS = ("age", "bmi", "experience", "condition", "drug_class", "injury")
_NUMERIC = ("age", "bmi")


@dataclass(frozen=True)
class RiskFactor:
    """One clause of ``applies_when``: ``age>=65``, ``condition=asthma`` ..."""

    field: str  # one of _FIELDS
    value: str | float

    def holds(self, person: Person) -> bool:
        if self.field == "age":
            return person.age is not None and person.age >= float(self.value)
        if self.field == "bmi":
            return person.bmi is not None and person.bmi >= float(self.value)
        if self.field == "experience":
            return person.experience == self.value
        found = {"condition": person.conditions, "drug_class": person.drug_classes, "injury": person.injuries}
        return self.value in found[self.field]

    def __str__(self) -> str:
        return f"{self.field}>={self.value:g}" if isinstance(self.value, float) else f"{self.field}={self.value}"


@dataclass(frozen=True)
class Limits:
    """What a plan must stay within under a rule (None / False: no limit)."""

    max_days: int | None = None  # training days a week
    nonconsecutive_days: bool = False  # never two training days in a row (Sunday to Monday included)
    effort_by_rpe: bool = False  # effort by RPE/RIR, no heart-rate zones in prescriptions
    min_reps: int | None = None  # rep work: no set below this many reps
    min_rir: int | None = None  # rep work: no set closer to failure than this

    def merged(self, other: Limits) -> Limits:
        """Both sets of limits at once: the stricter of each."""

        def low(a: int | None, b: int | None) -> int | None:
            return b if a is None else a if b is None else min(a, b)

        def high(a: int | None, b: int | None) -> int | None:
            return b if a is None else a if b is None else max(a, b)

        return Limits(
            max_days=low(self.max_days, other.max_days),
            nonconsecutive_days=self.nonconsecutive_days or other.nonconsecutive_days,
            effort_by_rpe=self.effort_by_rpe or other.effort_by_rpe,
            min_reps=high(self.min_reps, other.min_reps),
            min_rir=high(self.min_rir, other.min_rir),
        )


@dataclass(frozen=True)
class SafetyRule:
    rule_id: str
    applies_when: tuple[RiskFactor, ...]  # any of them
    rules_out: tuple[tuple[str, str], ...]  # (attribute, value): ("tag", "high_impact"), ("plyometric", "yes") ...
    limits: Limits
    text: str  # what the teacher reads
    source: str

    def reason_out(self, exercise: Exercise) -> str | None:
        """Why the rule leaves ``exercise`` out (``tag high_impact``, ``plyometric``, ``level advanced``) or None."""
        for attribute, value in self.rules_out:
            if attribute == "tag" and value in exercise.tags:
                return f"tag {value}"
            if attribute == "plyometric" and exercise.plyometric:
                return "plyometric"
            if attribute == "level" and LEVELS.index(exercise.level) >= LEVELS.index(value):
                return f"level {exercise.level}"
        return None

    @property
    def tags(self) -> frozenset[str]:
        return frozenset(value for attribute, value in self.rules_out if attribute == "tag")

    @property
    def excluded(self) -> tuple[str, ...]:
        """Catalogue names this rule leaves out, in catalogue order."""
        return tuple(e.name for e in EXERCISES if self.reason_out(e))


@dataclass(frozen=True)
class Person:
    """The risk factors of one user, as their facts give them."""

    age: int | None = None
    bmi: float | None = None
    experience: str | None = None
    conditions: frozenset[str] = frozenset()
    drug_classes: frozenset[str] = frozenset()
    injuries: frozenset[str] = field(default=frozenset())  # body parts of recent injuries (INJURY_REGIONS)

    @classmethod
    def of(cls, facts: Mapping[str, Any], as_of: dt.date | None = None) -> Person:
        """From a context summary (``contracts.rows.ContextSummary``) on the as-of date."""
        return cls(
            age=facts.get("age"),
            bmi=facts.get("bmi"),
            experience=facts.get("experience"),
            conditions=frozenset(facts.get("conditions") or ()),
            drug_classes=frozenset(DRUG_CLASS[m] for m in facts.get("medications") or () if m in DRUG_CLASS),
            injuries=recent_injuries(facts.get("injury_details"), as_of),
        )


def recent_injuries(details: str | None, as_of: dt.date | None) -> frozenset[str]:
    """Body parts named by the injuries in an injury note ("Recurring left knee pain; Sprained ankle (right,
    2015)") that are current: undated (an ongoing complaint) or dated within RECENT_INJURY_YEARS of ``as_of``.
    Without an as-of date only undated injuries count."""
    found: set[str] = set()
    for injury in (details or "").split(";"):
        words = injury.lower()
        year = _YEAR.search(words)
        if year and (as_of is None or int(year.group(0)) < as_of.year - RECENT_INJURY_YEARS):
            continue
        found |= {region for region, names in INJURY_REGIONS.items() if any(n in words for n in names)}
    return frozenset(found)


# ---------------------------------------------------------------- reading the file


def _risk_factors(value: str) -> tuple[RiskFactor, ...]:
    factors = []
    for clause in value.split(LIST_SEPARATOR) if value else ():
        m = re.fullmatch(r"([a-z_]+)(>=|=)(.+)", clause)
        if not m or m.group(1) not in _FIELDS:
            raise ValueError(f"{clause!r} is not <{'|'.join(_FIELDS)}>=value")
        name, op, raw = m.groups()
        if (op == ">=") != (name in _NUMERIC):
            raise ValueError(f"{clause!r}: use >= for age and bmi, = for the others")
        choices = {
            "experience": EXPERIENCE,
            "condition": tuple(CONDITIONS),
            "drug_class": tuple(sorted(set(DRUG_CLASS.values()))),
            "injury": tuple(INJURY_REGIONS),
        }.get(name)
        if choices is not None and raw not in choices:
            raise ValueError(f"{clause!r}: {raw!r} is not one of {', '.join(choices)}")
        try:
            factors.append(RiskFactor(name, float(raw) if name in _NUMERIC else raw))
        except ValueError:
            raise ValueError(f"{clause!r}: {raw!r} is not a number") from None
    if not factors:
        raise ValueError("is empty")
    return tuple(factors)


_RULES_OUT = {"tag": ALL_TAGS, "plyometric": ("yes",), "level": LEVELS}


def _rules_out(value: str) -> tuple[tuple[str, str], ...]:
    out = []
    for item in value.split(LIST_SEPARATOR) if value else ():
        attribute, _, wanted = item.partition("=")
        if attribute not in _RULES_OUT or wanted not in _RULES_OUT[attribute]:
            raise ValueError(
                f"{item!r} is not one of " + ", ".join(f"{a}=<{'|'.join(v)}>" for a, v in _RULES_OUT.items())
            )
        out.append((attribute, wanted))
    return tuple(out)


def _limits(value: str) -> Limits:
    found: dict[str, Any] = {}
    for item in value.split(LIST_SEPARATOR) if value else ():
        name, _, number = item.partition("=")
        if name in ("nonconsecutive_days", "effort_by_rpe") and not number:
            found[name] = True
        elif name in ("max_days", "min_reps", "min_rir") and number.isdigit():
            found[name] = int(number)
        else:
            raise ValueError(f"{item!r} is not max_days=N, min_reps=N, min_rir=N, nonconsecutive_days or effort_by_rpe")
    return Limits(**found)


_ROWS = read_table(
    "safety_rules.csv",
    (
        Column("rule_id", text),
        Column("applies_when", _risk_factors),
        Column("rules_out", _rules_out),
        Column("limits", _limits),
        Column("text", text),
        Column("source", text),
    ),
)

RULES: dict[str, SafetyRule] = {
    row["rule_id"]: SafetyRule(
        row["rule_id"], row["applies_when"], row["rules_out"], row["limits"], row["text"], row["source"]
    )
    for row in _ROWS
}
SOURCES: dict[str, str] = {rule_id: rule.source for rule_id, rule in RULES.items()}


# ---------------------------------------------------------------- using the rules


def rules_for(person: Person) -> list[SafetyRule]:
    """The rules that apply to ``person``, in the file's order."""
    return [rule for rule in RULES.values() if any(f.holds(person) for f in rule.applies_when)]


def constraints_for(facts: Mapping[str, Any], as_of: dt.date | None = None) -> list[str]:
    """The safety constraints (rule ids) a query for this user carries, in the file's order."""
    return [rule.rule_id for rule in rules_for(Person.of(facts, as_of))]


def known(rule_ids: Iterable[str]) -> list[SafetyRule]:
    """The rules of ``rule_ids`` the rule base knows (an id from an older query is ignored), in the given order."""
    return [RULES[r] for r in rule_ids if r in RULES]


def excluded_by(exercise: Exercise, rule_ids: Iterable[str]) -> list[tuple[str, str]]:
    """(rule id, reason) for each of the rules that leaves ``exercise`` out."""
    return [(rule.rule_id, why) for rule in known(rule_ids) if (why := rule.reason_out(exercise))]


def limits_of(rule_ids: Iterable[str]) -> Limits:
    limits = Limits()
    for rule in known(rule_ids):
        limits = limits.merged(rule.limits)
    return limits


def _avoids(field_name: str, value: str) -> frozenset[str]:
    return frozenset(
        tag
        for rule in RULES.values()
        if any(f.field == field_name and f.value == value for f in rule.applies_when)
        for tag in rule.tags
    )


# Contraindication tags by condition and by medication: what the synthetic world's plans leave out.
CONDITION_AVOIDS: dict[str, frozenset[str]] = {name: _avoids("condition", name) for name in CONDITIONS}
MEDICATION_AVOIDS: dict[str, frozenset[str]] = {name: _avoids("drug_class", kind) for name, kind in DRUG_CLASS.items()}
# Medications whose class some rule names: taking one makes a user relevant to safety questions.
MEDICATIONS_WITH_RULES = frozenset(
    name
    for name, kind in DRUG_CLASS.items()
    if any(f.field == "drug_class" and f.value == kind for rule in RULES.values() for f in rule.applies_when)
)


def avoided_tags(conditions: Sequence[str], medications: Sequence[str]) -> frozenset[str]:
    """Contraindication tags the user's conditions and medications rule out (not their age, BMI or experience)."""
    tags: set[str] = set()
    for condition in conditions:
        tags |= CONDITION_AVOIDS.get(condition, frozenset())
    for name in medications:
        tags |= MEDICATION_AVOIDS.get(name, frozenset())
    return frozenset(tags)
