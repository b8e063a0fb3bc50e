"""Stable ids of reference rows: the same for every seed and run, as the app's fixed catalogue rows are."""

from __future__ import annotations

import uuid

CATALOG_NAMESPACE = uuid.UUID("5b0c7f3e-2f4a-4c1e-9a57-1f1d3c9e7a10")


def catalog_id(kind: str, name: str) -> uuid.UUID:
    """A name-based (v5) UUID of a reference row of ``kind`` (goal, condition, equipment, exercise)."""
    return uuid.uuid5(CATALOG_NAMESPACE, f"{kind}:{name}")
