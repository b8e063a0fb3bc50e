"""What a user's conditions and medications mean for a plan: tags to avoid, constraints to address."""

from __future__ import annotations

from collections.abc import Sequence

from fitsense_luigi.reference.conditions import CONDITION_AVOIDS, CONDITION_CONSTRAINTS
from fitsense_luigi.reference.constraints import SAFETY_CONSTRAINTS
from fitsense_luigi.reference.medications import MEDICATIONS_BY_NAME


def constraints_for(conditions: Sequence[str], medications: Sequence[str]) -> list[str]:
    """Expected safety constraints for a user's conditions and medications, in the constraints file's order."""
    found: list[str] = []
    for condition in conditions:
        found.extend(CONDITION_CONSTRAINTS.get(condition, ()))
    for name in medications:
        med = MEDICATIONS_BY_NAME.get(name)
        if med:
            found.extend(med.constraints)
    order = list(SAFETY_CONSTRAINTS)
    return sorted(set(found), key=order.index)


def avoided_tags(conditions: Sequence[str], medications: Sequence[str]) -> frozenset[str]:
    """Contraindication tags no exercise in the user's plan may carry."""
    tags: set[str] = set()
    for condition in conditions:
        tags |= CONDITION_AVOIDS.get(condition, frozenset())
    for name in medications:
        med = MEDICATIONS_BY_NAME.get(name)
        if med:
            tags |= med.avoids
    return frozenset(tags)
