"""The split: by user, stable as users are added, ratios within tolerance overall and per stratum."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from dataset_fakes import PROVENANCE, answer, make_query, user_id

from fitsense_luigi.config import PROMPT_TYPES
from fitsense_luigi.dataset import split
from fitsense_luigi.dataset.build import build_dataset
from tests.support import params as test_params

RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}
GOALS = ("weight_loss", "muscle_gain", "strength", "endurance", "general_fitness")


def light_records(users: int, seed: int, ratios=RATIOS) -> list[dict]:
    """Many users with 1-3 queries each over every prompt_type|goal_type stratum (records minus the text)."""
    rng = np.random.default_rng(seed)
    ids = [user_id(n) for n in range(users)]
    assigned = split.assign_users(ids, ratios)
    out = []
    for n, uid in enumerate(ids):
        goal = GOALS[n % len(GOALS)]
        for prompt_type in rng.choice(PROMPT_TYPES, size=int(rng.integers(1, 4)), replace=False):
            context = {"prompt_type": str(prompt_type), "slice_tags": {"goal_type": goal}}
            out.append({"user_id": uid, "context": context, "split": assigned[uid]})
    return out


def test_the_hash_rule_is_pinned_so_earlier_runs_keep_their_users_where_they_were():
    pinned = {
        "2b7894df-a0fa-51ad-b260-5051610ad9a7": "test",
        "e9f7230f-ccb4-582f-82d6-c636512ef431": "train",
        "ea1852a9-bc83-5416-b7e8-696be91b5e28": "validation",
    }
    assert split.assign_users(pinned, RATIOS) == pinned
    for uid in (user_id(n) for n in range(200)):
        point = int.from_bytes(hashlib.sha256(uid.encode()).digest()[:6], "big") / 2**48
        expected = "train" if point < 0.8 else "validation" if point < 0.9 else "test"
        assert split.assign_users([uid], RATIOS)[uid] == expected


def test_adding_users_moves_nobody():
    before = split.assign_users((user_id(n) for n in range(2000)), RATIOS)
    after = split.assign_users((user_id(n) for n in range(5000)), RATIOS)
    assert {u: after[u] for u in before} == before


@pytest.mark.parametrize("ratios", [RATIOS, {"train": 0.6, "validation": 0.2, "test": 0.2}])
def test_ratios_are_within_tolerance_overall_and_in_every_stratum(ratios):
    records = light_records(20_000, seed=7, ratios=ratios)
    report = split.split_report(records, ratios)
    for s in split.SPLITS:
        assert report["overall"]["ratios"][s] == pytest.approx(ratios[s], abs=0.015)
        users = report["overall"]["users"]
        assert users[s] / sum(users.values()) == pytest.approx(ratios[s], abs=0.01)
    assert len(report["strata"]) == len(PROMPT_TYPES) * len(GOALS)
    for row in report["strata"]:  # ~1600 users each: hashing keeps every stratum close to the target
        assert row["z"] < 4.0, row
        assert row["max_deviation"] <= 0.05, row
    assert report["strata_missing_a_split"] == []


def test_z_is_the_deviation_in_binomial_standard_deviations():
    ids = [user_id(n) for n in range(100)]
    records = [
        {
            "user_id": u,
            "context": {"prompt_type": "plan_creation", "slice_tags": {"goal_type": "strength"}},
            "split": "train" if k < 90 else "validation",
        }
        for k, u in enumerate(ids)
    ]
    row = split.split_report(records, RATIOS)["strata"][0]
    assert row["records"] == {"train": 90, "validation": 10, "test": 0}
    # test: 0 of 100 users against 0.1 -> 0.1 / sqrt(0.09 / 100) = 3.33
    assert row["z"] == pytest.approx(3.33, abs=0.01)
    assert row["max_deviation"] == pytest.approx(0.1)


def test_no_user_is_in_two_splits_even_with_several_prompt_types():
    config = test_params.config()
    queries = [make_query(n, user=n % 40, prompt_type=PROMPT_TYPES[n // 40]) for n in range(160)]
    result = build_dataset(config, queries, [answer(q) for q in queries], PROVENANCE)
    owners: dict[str, set[str]] = {}
    for name, rows in result.splits.items():
        for r in rows:
            assert r["split"] == name
            owners.setdefault(r["user_id"], set()).add(name)
    assert len(owners) == 40 and all(len(s) == 1 for s in owners.values())
    assert sum(len(rows) for rows in result.splits.values()) == len(result.records)
    # the mock coach answers a user's similar requests alike: only duplicates may go
    assert {r["reason"] for r in result.rejected} <= {"exact_duplicate", "near_duplicate"}
    assert len(result.records) >= 100
