"""Train / validation / test by user: leak-free, stable as users are added, stratified in expectation.

The rule: a user's split is a function of the user id alone. The id is hashed
to a point in [0, 1) and the point falls into train, validation or test by the
configured ratios. So

* every record of a user is in the same split (no user in two splits, even
  when the user asked several prompt types);
* adding users, or new queries for existing users, moves nobody: a user in
  test stays in test in every later run with the same ratios;
* every ``prompt_type|goal_type`` stratum is cut by the same uniform hash, so
  each stratum gets the target ratios in expectation. Forcing exact ratios per
  stratum would mean ranking a stratum's users against each other, and then a
  new user could push an existing one across a boundary: stability wins, and
  the achieved ratio of every stratum is reported (with its user count, since
  a stratum of 8 users cannot show 0.1 / 0.1) instead of assumed.

The hash is the one the pipeline has used from the start (sha256 of the user
id), so earlier runs' users keep their split under this code.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from fitsense_luigi.contracts.splits import SPLITS


def user_point(user_id: str) -> float:
    """The user's fixed place in [0, 1): the first 48 bits of sha256(user_id)."""
    return int(hashlib.sha256(user_id.encode()).hexdigest()[:12], 16) / float(16**12)


def split_for_point(point: float, ratios: Mapping[str, float]) -> str:
    edge = 0.0
    for name in SPLITS:
        edge += ratios[name]
        if point < edge:
            return name
    return SPLITS[-1]


def assign_users(user_ids: Iterable[str], ratios: Mapping[str, float]) -> dict[str, str]:
    """user_id -> split name for every distinct user."""
    return {user: split_for_point(user_point(user), ratios) for user in dict.fromkeys(user_ids)}


def stratum_of(record: Mapping[str, Any]) -> str:
    context = record["context"]
    return f"{context['prompt_type']}|{context['slice_tags']['goal_type']}"


def split_report(records: list[dict[str, Any]], ratios: Mapping[str, float]) -> dict[str, Any]:
    """Achieved record and user ratios, overall and per ``prompt_type|goal_type`` stratum.

    ``z`` is the largest deviation of a stratum's user shares from the target,
    in binomial standard deviations for its number of users: hashing users
    independently puts about 1 stratum in 100 beyond z = 2.6 by chance, so a
    stratum far beyond that points at a fault, not at bad luck.
    """
    per_stratum: dict[str, dict[str, list[str]]] = defaultdict(lambda: {s: [] for s in SPLITS})
    for record in records:
        per_stratum[stratum_of(record)][record["split"]].append(record["user_id"])
    strata = [{"stratum": name, **_ratios_row(per_stratum[name], ratios)} for name in sorted(per_stratum)]
    overall = _ratios_row({s: [r["user_id"] for r in records if r["split"] == s] for s in SPLITS}, ratios)
    incomplete = [row for row in strata if any(row["records"][s] == 0 for s in SPLITS)]
    return {
        "method": "sha256(user_id) -> [0, 1) -> cumulative ratios; the same cut for every stratum",
        "target": {s: ratios[s] for s in SPLITS},
        "overall": overall,
        "strata": strata,
        "max_stratum_deviation": max((row["max_deviation"] for row in strata), default=0.0),
        "max_stratum_z": max((row["z"] for row in strata), default=0.0),
        "strata_missing_a_split": [row["stratum"] for row in incomplete],
        "largest_stratum_missing_a_split": max((sum(row["users"].values()) for row in incomplete), default=0),
    }


def _ratios_row(users_by_split: Mapping[str, list[str]], ratios: Mapping[str, float]) -> dict[str, Any]:
    records = {s: len(users_by_split[s]) for s in SPLITS}
    users = {s: len(set(users_by_split[s])) for s in SPLITS}
    total, people = sum(records.values()), sum(users.values())
    achieved = {s: round(records[s] / total, 4) if total else 0.0 for s in SPLITS}
    z = 0.0
    for s in SPLITS:
        spread = math.sqrt(ratios[s] * (1 - ratios[s]) / people) if people else 0.0
        if spread > 0:
            z = max(z, abs(users[s] / people - ratios[s]) / spread)
    return {
        "records": records,
        "users": users,
        "ratios": achieved,
        "max_deviation": round(max(abs(achieved[s] - ratios[s]) for s in SPLITS), 4) if total else 0.0,
        "z": round(z, 2),
    }
