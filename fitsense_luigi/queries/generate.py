"""Who asks what, and the query rows GenerateQueries writes.

Per prompt type, ``queries.per_type`` users are drawn (without replacement
while the pool allows) from everyone, or, for ``safety_adjustment``, from the
users whose conditions or medications carry a safety constraint. Each query
speaks from that user's state (:mod:`.state`) in words composed by
:mod:`.phrasing`, carries the safety rules that apply to the user
(``reference.safety``, from their facts on the as-of date), what the words ask
and the exact messages the teacher receives.
Every draw comes from ``stage_rng(seed, "queries:<type>...")``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from fitsense_luigi.config import PROMPT_TYPES, Config
from fitsense_luigi.contracts.rows import ContextSummary, Query
from fitsense_luigi.contracts.world import World, as_world
from fitsense_luigi.queries import phrasing, prompts, state
from fitsense_luigi.reference.safety import constraints_for
from fitsense_luigi.rng import stage_rng

QUERY_NAMESPACE = uuid.UUID("0f6f4a52-7d5e-4c4b-8f3e-3b1f3a9d2c61")


def pick_users(people: pd.DataFrame, prompt_type: str, count: int, seed: int) -> list[str]:
    """``count`` user ids for one prompt type, in the order their scenarios are numbered."""
    pool = people
    if prompt_type == "safety_adjustment":
        relevant = people[people["safety_relevant"]]
        pool = relevant if len(relevant) else people
    if count == 0 or pool.empty:
        return []
    rng = stage_rng(seed, f"queries:{prompt_type}:users")
    picks = rng.choice(len(pool), size=count, replace=count > len(pool))
    return pool["user_id"].to_numpy()[picks].tolist()


def build_queries(config: Config, as_of: dt.date, world: World | Mapping[str, pa.Table]) -> list[Query]:
    seed = config.reproducibility.seed
    world = as_world(world, state.COLUMNS)
    people = state.population(world, as_of)
    picks = {t: pick_users(people, t, config.queries.per_type[t], seed) for t in PROMPT_TYPES}
    askers = sorted({u for users in picks.values() for u in users})
    if not askers:
        return []
    states = state.user_states(world, as_of, config.world.lookback_days, people, askers)
    contexts = {
        user_id: state.context_summary(row, config.world.lookback_days)
        for user_id, row in zip(states.index, states.to_dict("records"), strict=True)
    }
    slices = people.set_index("user_id")
    out = []
    for prompt_type in PROMPT_TYPES:
        for k, user_id in enumerate(picks[prompt_type]):
            rng = stage_rng(seed, f"queries:{prompt_type}:text", k)
            out.append(_query(config, as_of, prompt_type, k, user_id, contexts[user_id], slices.loc[user_id], rng))
    return out


def _query(
    config: Config,
    as_of: dt.date,
    prompt_type: str,
    k: int,
    user_id: str,
    context: ContextSummary,
    person: pd.Series,
    rng: np.random.Generator,
) -> Query:
    constraints = constraints_for(context, as_of)
    request = phrasing.compose(prompt_type, context, constraints, rng)
    scenario_id = f"{prompt_type}-{k:05d}"
    return {
        "query_id": str(uuid.uuid5(QUERY_NAMESPACE, f"{config.reproducibility.seed}:{scenario_id}:{user_id}")),
        "user_id": user_id,
        "scenario_id": scenario_id,
        "prompt_type": prompt_type,
        "slice_tags": {
            "age_band": person["age_band"],
            "sex": person["sex"],
            "goal_type": person["goal"],
            "activity_level": person["activity_level"],
            "condition_flag": "with_condition" if context["conditions"] else "no_condition",
        },
        "expected_safety_constraints": constraints,
        "context_summary": context,
        "user_request": request.text,
        "asks": request.asks,
        "messages": prompts.messages(request.text, context, constraints, prompt_type),
        "template_version": config.queries.template_version,
    }


def summarise(queries: list[Query]) -> dict[str, Any]:
    """Counts and variety figures for the manifest (and the lead's eye)."""
    requests = [q["user_request"] for q in queries]
    by_type: dict[str, list[str]] = {}
    for q in queries:
        by_type.setdefault(q["prompt_type"], []).append(q["user_request"])
    lengths = np.array([len(r) for r in requests] or [0])
    return {
        "queries": len(queries),
        "per_type": dict(Counter(q["prompt_type"] for q in queries)),
        "distinct_request_share": _share(requests),
        "distinct_request_share_per_type": {t: _share(texts) for t, texts in by_type.items()},
        "distinct_users": len({q["user_id"] for q in queries}),
        "request_chars": {"min": int(lengths.min()), "median": float(np.median(lengths)), "max": int(lengths.max())},
        "with_safety_constraints": sum(1 for q in queries if q["expected_safety_constraints"]),
        "constraints": dict(sorted(Counter(c for q in queries for c in q["expected_safety_constraints"]).items())),
    }


def _share(texts: list[str]) -> float:
    return round(len(set(texts)) / len(texts), 4) if texts else 0.0
