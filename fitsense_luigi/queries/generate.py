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
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
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
    """Every query of the run, in order."""
    return [query for _, query in queries_of(config, as_of, plan(config, as_of, world), world)]


PLAN_FACTS = ("age", "sex", "activity_level", "goal", "secondary_goal", "age_band", "safety_relevant")


def plan(config: Config, as_of: dt.date, world: World | Mapping[str, pa.Table]) -> pd.DataFrame:
    """Who asks what: one row per query in the run's order, with the asker's world part and population facts.

    Drawn once from the whole population (the profile tables only), so that the shards that write the
    queries read nothing but their own part of the world.
    """
    seed = config.reproducibility.seed
    people = state.population(as_world(world, state.COLUMNS), as_of)
    picks = {t: pick_users(people, t, config.queries.per_type[t], seed) for t in PROMPT_TYPES}
    slots = pd.DataFrame(
        [(prompt_type, k, user_id) for prompt_type in PROMPT_TYPES for k, user_id in enumerate(picks[prompt_type])],
        columns=["prompt_type", "k", "user_id"],
    )
    facts = people.set_index("user_id")[["part", *PLAN_FACTS]]
    return slots.join(facts, on="user_id").rename_axis("position").reset_index()


def queries_of(
    config: Config, as_of: dt.date, asked: pd.DataFrame, world: World | Mapping[str, pa.Table]
) -> Iterator[tuple[int, Query]]:
    """(place in the run's list, query) for the rows of a :func:`plan` (all, or one world part's), in order.

    The askers' state is read from ``world`` (the whole world, or the askers' part of it), all at once.
    """
    seed = config.reproducibility.seed
    askers = sorted(set(asked["user_id"]))
    if not askers:
        return
    people = asked.drop_duplicates("user_id")[["user_id", *PLAN_FACTS]]
    states = state.user_states(as_world(world, state.COLUMNS), as_of, config.world.lookback_days, people, askers)
    contexts = {
        user_id: state.context_summary(row, config.world.lookback_days)
        for user_id, row in zip(states.index, states.to_dict("records"), strict=True)
    }
    persons = people.set_index("user_id").loc[askers, list(SLICE_FACTS)].to_dict("index")
    rules = {user_id: constraints_for(context, as_of) for user_id, context in contexts.items()}  # per user, once
    for position, prompt_type, k, user_id in asked[["position", "prompt_type", "k", "user_id"]].itertuples(index=False):
        rng = stage_rng(seed, f"queries:{prompt_type}:text", k)
        context, constraints = contexts[user_id], list(rules[user_id])
        yield position, _query(config, prompt_type, k, user_id, context, constraints, persons[user_id], rng)


SLICE_FACTS = ("age_band", "sex", "goal", "activity_level")  # the population's columns a query's slice tags name


def _query(
    config: Config,
    prompt_type: str,
    k: int,
    user_id: str,
    context: ContextSummary,
    constraints: list[str],
    person: Mapping[str, Any],
    rng: np.random.Generator,
) -> Query:
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


SUMMARY_KEYS = ("user_id", "prompt_type", "expected_safety_constraints", "user_request")  # what Summary reads
_DECODER = json.JSONDecoder()


def summary_facts(line: bytes) -> dict[str, Any]:
    """The fields :class:`Summary` reads, decoded from one queries.jsonl line without parsing the rest of it.

    Merging 100,000 queries spent half its time parsing the contexts and system prompts it copies unread. In
    compact JSON a key's quotes are bare and a string's inner quotes escaped, so ``,"user_request":`` occurs
    only where a key of that name is, and no nested object of a query has these keys (``contracts.rows``); a
    line without one of them is parsed whole.
    """
    text = line.decode("utf-8")
    facts = {}
    for key in SUMMARY_KEYS:
        at = text.find(f',"{key}":')
        if at < 0:
            return json.loads(text)
        facts[key], _ = _DECODER.raw_decode(text, at + len(key) + 4)
    return facts


def summarise(queries: Iterable[Query]) -> dict[str, Any]:
    """Counts and variety figures for the manifest (and the lead's eye)."""
    summary = Summary()
    for query in queries:
        summary.add(query)
    return summary.result()


class Summary:
    """:func:`summarise`, one query at a time (the stage streams its queries)."""

    def __init__(self) -> None:
        self.by_type: dict[str, list[str]] = {}
        self.users: set[str] = set()
        self.constraints: Counter[str] = Counter()
        self.with_constraints = 0

    def add(self, query: Mapping[str, Any]) -> None:
        """Count one query (a whole query, or its :func:`summary_facts`)."""
        self.by_type.setdefault(query["prompt_type"], []).append(query["user_request"])
        self.users.add(query["user_id"])
        self.with_constraints += bool(query["expected_safety_constraints"])
        self.constraints.update(query["expected_safety_constraints"])

    def result(self) -> dict[str, Any]:
        requests = [text for texts in self.by_type.values() for text in texts]
        lengths = np.array([len(r) for r in requests] or [0])
        return {
            "queries": len(requests),
            "per_type": {t: len(texts) for t, texts in self.by_type.items()},
            "distinct_request_share": _share(requests),
            "distinct_request_share_per_type": {t: _share(texts) for t, texts in self.by_type.items()},
            "distinct_users": len(self.users),
            "request_chars": {
                "min": int(lengths.min()),
                "median": float(np.median(lengths)),
                "max": int(lengths.max()),
            },
            "with_safety_constraints": self.with_constraints,
            "constraints": dict(sorted(self.constraints.items())),
        }


def _share(texts: list[str]) -> float:
    return round(len(set(texts)) / len(texts), 4) if texts else 0.0
