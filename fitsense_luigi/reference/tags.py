"""Contraindication tags: what about an exercise a condition, a medication or an injury can rule out.

The tags are the vocabulary the data files share: ``exercises.csv`` marks each
exercise with them, ``conditions.csv`` and ``medications.csv`` say which ones a
user must avoid, and the coach and post-checks compare the two.
"""

from __future__ import annotations

HIGH_IMPACT = "high_impact"
DEEP_LOADED_KNEE_FLEXION = "deep_loaded_knee_flexion"
HEAVY_SPINAL_LOADING = "heavy_spinal_loading"
LOADED_SPINAL_FLEXION = "loaded_spinal_flexion"
MAXIMAL_VALSALVA = "maximal_valsalva"
HEART_RATE_ZONES = "heart_rate_zone_prescription"

ALL_TAGS: tuple[str, ...] = (
    HIGH_IMPACT,
    DEEP_LOADED_KNEE_FLEXION,
    HEAVY_SPINAL_LOADING,
    LOADED_SPINAL_FLEXION,
    MAXIMAL_VALSALVA,
    HEART_RATE_ZONES,
)
