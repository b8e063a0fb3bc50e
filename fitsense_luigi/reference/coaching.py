"""Coaching rules (``data/coaching_rules.csv``): what every answer must keep, whoever the user is.

Prescriptions that mean what they say (timed work in seconds, holds of 15 s
or more, reps in reserve only on rep work, notes that fit the exercise, loads
that follow the user's own lifts, equipment at hand, days the user has) and
replies that answer the question asked (yes/no first, a decision on pushing
or backing off, the stalled lift by name, contradictions pointed out, a plan
when asked). The post-checks judge each rule by its id
(``teacher/coaching_checks.py``); the system prompt quotes every text, so a
real teacher is told what it is judged by.
"""

from __future__ import annotations

from dataclasses import dataclass

from fitsense_luigi.reference.loading import Column, one_of, read_table, text

KINDS = ("prescription", "answer")


@dataclass(frozen=True)
class CoachingRule:
    rule_id: str
    kind: str  # prescription | answer
    text: str
    source: str


_ROWS = read_table(
    "coaching_rules.csv",
    (Column("rule_id", text), Column("kind", one_of(KINDS)), Column("text", text), Column("source", text)),
)

COACHING_RULES: dict[str, CoachingRule] = {
    row["rule_id"]: CoachingRule(row["rule_id"], row["kind"], row["text"], row["source"]) for row in _ROWS
}
SOURCES: dict[str, str] = {rule_id: rule.source for rule_id, rule in COACHING_RULES.items()}
