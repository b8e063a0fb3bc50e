"""Seeded random generators, one per (seed, stage, chunk).

No module-level or global random state exists anywhere in the pipeline: a
generator is derived from the run seed, the name of the stage that draws and
the index of the user chunk, so chunk sizes and worker counts never change the
numbers drawn.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np


@functools.lru_cache(maxsize=4096)  # a stage draws many generators (one per query of a type): hash its name once
def stage_key(stage: str) -> int:
    return int.from_bytes(hashlib.sha256(stage.encode()).digest()[:8], "little")


def stage_rng(seed: int, stage: str, chunk: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, stage_key(stage), chunk]))
