"""Teacher responses -> filtered, chat-format distillation records split by user.

Every dropped example is kept in ``rejected`` with the first reason that
dropped it, so the counts in the manifest and the card add up to the input.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from fitsense_luigi.config import Config, load_schema

RECORD_NAMESPACE = uuid.UUID("c9a1d6e4-1b7f-4e0e-b1d5-8f0d2b6e9a33")
SPLITS = ("train", "val", "test")


@dataclass
class DatasetResult:
    records: list[dict[str, Any]]
    splits: dict[str, list[dict[str, Any]]]
    rejected: list[dict[str, Any]]
    summary: dict[str, Any]
    card: str


def rejection_reason(config: Config, response: dict[str, Any], seen_texts: set[str]) -> str | None:
    text = response["response_text"] or ""
    if response["status"] != "ok" or not text.strip():
        return f"failed:{response['status']}" if response["status"] != "ok" else "empty_response"
    if len(text) < config.dataset.response_chars.min:
        return "too_short"
    if len(text) > config.dataset.response_chars.max:
        return "too_long"
    validation = response["post_validation"]
    if not validation.get("schema_valid"):
        return "schema_invalid"
    if response["safety_flags"]:
        return "safety_flagged"
    if validation.get("constraints_missing"):
        return "constraints_not_addressed"
    digest = hashlib.sha256(text.encode()).hexdigest()
    if digest in seen_texts:
        return "exact_duplicate"
    seen_texts.add(digest)
    return None


def split_of(user_id: str, ratios: dict[str, float]) -> str:
    """Hash of the user id -> split: a user's examples stay together, and adding users moves nobody."""
    point = int(hashlib.sha256(user_id.encode()).hexdigest()[:12], 16) / float(16**12)
    edge = 0.0
    for name in SPLITS:
        edge += ratios[name]
        if point < edge:
            return name
    return SPLITS[-1]


def build_record(query: dict[str, Any], response: dict[str, Any], split: str, run_id: str) -> dict[str, Any]:
    system, user = query["messages"][0]["content"], query["messages"][1]["content"]
    return {
        "record_id": str(uuid.uuid5(RECORD_NAMESPACE, query["query_id"])),
        "user_id": query["user_id"],
        "instruction": user,
        "context": {
            "prompt_type": query["prompt_type"],
            "slice_tags": query["slice_tags"],
            "expected_safety_constraints": query["expected_safety_constraints"],
            "context_summary": query["context_summary"],
        },
        "response": response["response_text"],
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
            {"role": "assistant", "content": response["response_text"]},
        ],
        "split": split,
        "metadata": {
            "provider": response["provider"],
            "model_name": response["model_name"],
            "latency_ms": int(response["latency_ms"]),
            "attempt_count": int(response["attempt_count"]),
            "usage": response["usage"],
            "cache_hit": bool(response["cache_hit"]),
            "query_id": query["query_id"],
            "scenario_id": query["scenario_id"],
            "source_run_id": run_id,
            "template_version": query["template_version"],
        },
    }


def build_dataset(
    config: Config, queries: list[dict[str, Any]], responses: list[dict[str, Any]], run_id: str
) -> DatasetResult:
    by_query = {r["query_id"]: r for r in responses}
    validator = Draft202012Validator(load_schema("distillation_record.schema.json"))
    ratios = config.dataset.split.as_dict()
    seen: set[str] = set()
    records, rejected = [], []
    for query in queries:
        response = by_query.get(query["query_id"])
        reason = "missing_response" if response is None else rejection_reason(config, response, seen)
        if reason:
            rejected.append(
                {
                    "query_id": query["query_id"],
                    "user_id": query["user_id"],
                    "prompt_type": query["prompt_type"],
                    "slice_tags": query["slice_tags"],
                    "reason": reason,
                    "response_text": (response or {}).get("response_text", ""),
                }
            )
            continue
        record = build_record(query, response, split_of(query["user_id"], ratios), run_id)
        errors = list(validator.iter_errors(record))
        if errors:
            raise ValueError(f"record {record['record_id']} breaks its schema: {errors[0].message}")
        records.append(record)
    splits = {name: [r for r in records if r["split"] == name] for name in SPLITS}
    reasons = Counter(r["reason"] for r in rejected)
    summary = {
        "input_responses": len(queries),
        "records": len(records),
        "rejected": len(rejected),
        "rejected_by_reason": dict(sorted(reasons.items())),
        "split_sizes": {name: len(rows) for name, rows in splits.items()},
    }
    return DatasetResult(records, splits, rejected, summary, dataset_card(config, summary, run_id))


def dataset_card(config: Config, summary: dict[str, Any], run_id: str) -> str:
    sizes = summary["split_sizes"]
    reasons = "\n".join(f"| {k} | {v} |" for k, v in summary["rejected_by_reason"].items()) or "| (none) | 0 |"
    return f"""---
configs:
- config_name: default
  data_files:
  - split: train
    path: train.jsonl
  - split: validation
    path: val.jsonl
  - split: test
    path: test.jsonl
language:
- en
license: other
task_categories:
- text-generation
tags:
- synthetic
- fitness
- distillation
---

# FitSense distillation dataset (run `{run_id}`)

Synthetic coaching conversations for fine-tuning a small student model by distillation.
**Every user in this dataset is synthetic**: no real person's data was used.

## Size

| split | records |
|---|---|
| train | {sizes["train"]} |
| validation | {sizes["val"]} |
| test | {sizes["test"]} |

{summary["records"]} records kept out of {summary["input_responses"]} teacher responses.

## Teacher

Provider `{config.teacher.provider}`, model `{config.teacher.model}`.

## Filters

| reason | dropped |
|---|---|
{reasons}
"""
