"""JSON Schema validation of every distillation record and of the plan inside it.

The student is trained on ``messages``, so a record that breaks its schema, or
whose assistant turn is not a valid plan, would teach it the wrong shape. Schemas
are compiled once with jsonschema-rs (Rust; about a hundred times faster than the
pure-Python validator), so every record is checked even at 100k records.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema_rs

from fitsense_luigi.config import load_schema
from fitsense_luigi.contracts.rows import Rows
from fitsense_luigi.contracts.splits import ALL_RECORDS
from fitsense_luigi.quality.validate.tablecheck import EXAMPLES, check


def _validator(name: str) -> Any:
    return jsonschema_rs.validator_for(load_schema(name))


def _where(error: Any) -> str:
    return "/".join(str(p) for p in error.instance_path) or "(record)"


def _errors(validator: Any, instance: Any) -> Iterator[str]:
    for error in validator.iter_errors(instance):
        yield f"{_where(error)}: {error.message[:160]}"


def record_checks(dataset: dict[str, Rows]) -> list[dict[str, Any]]:
    records = dataset[ALL_RECORDS]
    record_schema = _validator("distillation_record.schema.json")
    plan_schema = _validator("plan_response.schema.json")
    bad_records: list[dict[str, Any]] = []
    bad_plans: list[dict[str, Any]] = []
    bad_chat: list[dict[str, Any]] = []
    bad_record_count = bad_plan_count = bad_chat_count = 0
    for position, record in enumerate(records):
        ident = record.get("record_id", f"line {position + 1}") if isinstance(record, dict) else f"line {position + 1}"
        if not record_schema.is_valid(record):
            bad_record_count += 1
            if len(bad_records) < EXAMPLES:
                bad_records.append({"record_id": ident, "errors": list(_errors(record_schema, record))[:3]})
            continue
        problem = _plan_problem(plan_schema, record["response"])
        if problem:
            bad_plan_count += 1
            if len(bad_plans) < EXAMPLES:
                bad_plans.append({"record_id": ident, "errors": problem})
        messages = record["messages"]
        if messages[1]["content"] != record["instruction"] or messages[2]["content"] != record["response"]:
            bad_chat_count += 1
            if len(bad_chat) < EXAMPLES:
                bad_chat.append({"record_id": ident})
    total = len(records)
    return [
        check(
            "distillation records match distillation_record.schema.json",
            "record schema",
            bad_record_count == 0,
            bad_record_count,
            total,
            bad_records,
        ),
        check(
            "assistant turns are plans matching plan_response.schema.json",
            "record schema",
            bad_plan_count == 0,
            bad_plan_count,
            total - bad_record_count,
            bad_plans,
        ),
        check(
            "chat messages repeat the record's instruction and response",
            "record schema",
            bad_chat_count == 0,
            bad_chat_count,
            total - bad_record_count,
            bad_chat,
        ),
    ]


def _plan_problem(plan_schema: Any, response: str) -> list[str]:
    try:
        plan = json.loads(response)
    except json.JSONDecodeError as exc:
        return [f"(response): not JSON: {exc.msg} at character {exc.pos}"]
    if plan_schema.is_valid(plan):
        return []
    return list(_errors(plan_schema, plan))[:3]
