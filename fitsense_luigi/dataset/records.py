"""One distillation record per kept answer: the student's conversation for training, context and metadata to audit.

The conversation is the one the student will have in the app (:mod:`...queries.student`):
a short system prompt, the user's request with compact facts, and the
teacher's answer as canonical JSON. The teacher's own long prompt stays in
the teacher stage. Records have the same keys with the same types on every
row (checked against one Arrow schema for the whole dataset and against
``config/schemas/distillation_record.schema.json``), so that Hugging Face
``datasets`` and TRL load every file without an Arrow type error and
``messages`` is ready for a chat template. ``metadata.quality`` carries what
the post-checks found in the answer, ``metadata.tokens`` its cost in tokens.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from fitsense_luigi.config import load_schema
from fitsense_luigi.contracts import files
from fitsense_luigi.contracts.rows import (
    SLICE_KEYS,
    SOURCE_STAGES,
    USAGE_KEYS,
    DistillationRecord,
    Message,
    Query,
    RecordQuality,
    RecordTokens,
    TeacherResponse,
)
from fitsense_luigi.errors import MalformedInputError
from fitsense_luigi.queries import student

RECORD_NAMESPACE = uuid.UUID("c9a1d6e4-1b7f-4e0e-b1d5-8f0d2b6e9a33")
RECORD_SCHEMA = "distillation_record.schema.json"
# The keys every input row must have: the producers' declared shapes (contracts.rows), checked on reading.
QUERY_KEYS = tuple(Query.__annotations__)
RESPONSE_KEYS = tuple(TeacherResponse.__annotations__)


@dataclass(frozen=True)
class Provenance:
    """Where a dataset comes from: written into every record's metadata and into the card."""

    run_id: str
    source_run_ids: Mapping[str, str] = field(default_factory=dict)  # stage name -> run id of its manifest
    config_fingerprint: str = ""
    package_version: str = ""

    def stage_run_ids(self) -> dict[str, str]:
        return {stage: self.source_run_ids.get(stage, self.run_id) for stage in SOURCE_STAGES}


def record_id(query_id: str) -> str:
    """Stable across runs: the same query always gives the same record id."""
    return str(uuid.uuid5(RECORD_NAMESPACE, query_id))


def check_row(row: Mapping[str, Any], keys: tuple[str, ...], source: str, line: int) -> None:
    """Fail with one line naming the file, row and key when an upstream row breaks its contract."""
    missing = [k for k in keys if k not in row]
    if missing:
        name = row.get("query_id", f"row {line}")
        raise MalformedInputError(f"{source}:{line}: query {name}: missing key {missing[0]!r}")


def student_prompt(query: Query, system_prompt: str) -> list[Message]:
    """The system and user turns the student gets for ``query`` (what the app sends at inference)."""
    return student.messages(  # type: ignore[return-value]
        system_prompt,
        query["user_request"],
        query["context_summary"],
        [str(c) for c in query["expected_safety_constraints"]],
        query["prompt_type"],
    )


def conversation(prompt: list[Message], answer: str) -> list[Message]:
    return [*prompt, {"role": "assistant", "content": answer}]


def without_system(messages: list[Message]) -> list[Message]:
    """The conversation for templates without a system role: the system text opens the first user turn.

    Gemma 3's own template does exactly this (system text, a blank line, the user text), so a Gemma 2 student
    trained on this form sees what a Gemma 3 student sees.
    """
    if not messages or messages[0]["role"] != "system":
        return list(messages)
    system, first, *rest = messages
    return [{"role": "user", "content": f"{system['content']}\n\n{first['content']}"}, *rest]


def quality(response: Mapping[str, Any], samples: int, rejected_answers: int) -> RecordQuality:
    """What the checks found in the kept answer, from its response row's ``post_validation``."""
    checks = response["post_validation"]
    return {
        "response_format": response.get("response_format"),
        "extracted": checks.get("extracted"),
        "reasoning": checks.get("reasoning"),
        "repairs": [str(r) for r in checks.get("repairs") or []],
        "reasks": int(checks.get("reasks") or 0),
        "reask_errors": [str(e) for e in checks.get("reask_errors") or []],
        "constraints_addressed": [str(c) for c in checks.get("constraints_addressed") or []],
        "unknown_exercises": [str(e) for e in checks.get("unknown_exercises") or []],
        "samples": samples,
        "sample": int(response.get("sample") or 0),
        "rejected_answers": rejected_answers,
    }


def build_record(
    query: Query,
    response: Mapping[str, Any],
    split: str,
    provenance: Provenance,
    prompt: list[Message],
    tokens: RecordTokens,
    checks: RecordQuality,
) -> DistillationRecord:
    """One record; ``prompt`` from :func:`student_prompt`, ``tokens`` counted on it, ``checks`` from :func:`quality`."""
    _check_teacher_prompt(query)
    text = training_text(response)
    usage = response["usage"] or {}
    return {
        "record_id": record_id(query["query_id"]),
        "user_id": query["user_id"],
        "request": query["user_request"],
        "instruction": prompt[-1]["content"],
        "context": {
            "prompt_type": query["prompt_type"],
            "slice_tags": {k: str(query["slice_tags"][k]) for k in SLICE_KEYS},
            "expected_safety_constraints": [str(c) for c in query["expected_safety_constraints"]],
            "context_summary": query["context_summary"],
        },
        "response": text,
        "messages": conversation(prompt, text),
        "split": split,
        "metadata": {
            "provider": str(response["provider"]),
            "model_name": str(response["model_name"]),
            "latency_ms": int(response["latency_ms"]),
            "attempt_count": int(response["attempt_count"]),
            "usage": {k: int(usage.get(k) or 0) for k in USAGE_KEYS},
            "cache_hit": bool(response["cache_hit"]),
            "query_id": query["query_id"],
            "scenario_id": query["scenario_id"],
            "source_run_id": provenance.run_id,
            "source_run_ids": provenance.stage_run_ids(),
            "template_version": str(query["template_version"]),
            "quality": checks,
            "tokens": tokens,
        },
    }


def training_text(response: Mapping[str, Any]) -> str:
    """What the student learns from an answer: the extracted, repaired plan as canonical JSON.

    Never the raw text (reasoning, fences, preambles and the like stay in responses.jsonl).
    """
    return response["normalized_text"]


def _check_teacher_prompt(query: Query) -> None:
    """The teacher was asked with a system and a user turn; a query without them broke its contract upstream."""
    by_role = {m.get("role"): m.get("content") for m in query["messages"]}
    if not by_role.get("system") or not by_role.get("user"):
        raise MalformedInputError(
            f"{files.QUERIES.name}: query {query['query_id']}: messages need a system and a user turn"
        )


def arrow_schema(context_summary: pa.DataType) -> pa.Schema:
    """The record schema in Arrow terms; ``context_summary``'s type is inferred from the data."""
    text = pa.string()
    return pa.schema(
        [
            ("record_id", text),
            ("user_id", text),
            ("request", text),
            ("instruction", text),
            (
                "context",
                pa.struct(
                    [
                        ("prompt_type", text),
                        ("slice_tags", pa.struct([(k, text) for k in SLICE_KEYS])),
                        ("expected_safety_constraints", pa.list_(text)),
                        ("context_summary", context_summary),
                    ]
                ),
            ),
            ("response", text),
            ("messages", pa.list_(pa.struct([("role", text), ("content", text)]))),
            ("split", text),
            (
                "metadata",
                pa.struct(
                    [
                        ("provider", text),
                        ("model_name", text),
                        ("latency_ms", pa.int64()),
                        ("attempt_count", pa.int64()),
                        ("usage", pa.struct([(k, pa.int64()) for k in USAGE_KEYS])),
                        ("cache_hit", pa.bool_()),
                        ("query_id", text),
                        ("scenario_id", text),
                        ("source_run_id", text),
                        ("source_run_ids", pa.struct([(k, text) for k in SOURCE_STAGES])),
                        ("template_version", text),
                        (
                            "quality",
                            pa.struct(
                                [
                                    ("response_format", text),
                                    ("extracted", text),
                                    ("reasoning", text),
                                    ("repairs", pa.list_(text)),
                                    ("reasks", pa.int64()),
                                    ("reask_errors", pa.list_(text)),
                                    ("constraints_addressed", pa.list_(text)),
                                    ("unknown_exercises", pa.list_(text)),
                                    ("samples", pa.int64()),
                                    ("sample", pa.int64()),
                                    ("rejected_answers", pa.int64()),
                                ]
                            ),
                        ),
                        ("tokens", pa.struct([(k, pa.int64()) for k in RecordTokens.__annotations__])),
                    ]
                ),
            ),
        ]
    )


class SummaryType:
    """The one Arrow type every record's ``context_summary`` gets, inferred from every query of the run.

    From every query, so that the type does not depend on which answers survived the filters: a dataset of
    0, 1 or 2 records gets the type a full one does. Arrow infers it: ints widen to floats where a key holds
    both, missing keys become null. A key that only ever holds ``{}`` would be a struct without fields, which
    Parquet cannot store, so it is typed null. Summaries are :meth:`add`-ed one by one and inferred a chunk at
    a time; when the chunks disagree (a key null in one, an int in another) the type is inferred again over
    every summary at once (:meth:`declared`'s ``every``), so it is always the one Arrow infers for the whole
    column, while memory holds one chunk in the usual case.
    """

    CHUNK = 5000

    def __init__(self) -> None:
        self.chunk: list[Any] = []
        self.kinds: list[pa.DataType] = []

    def add(self, summary: Any) -> None:
        self.chunk.append(summary)
        if len(self.chunk) >= self.CHUNK:
            self._infer()

    def _infer(self) -> None:
        if self.chunk:
            self.kinds.append(pa.array(self.chunk).type)
            self.chunk = []

    def declared(self, every: Callable[[], Iterable[Any]]) -> pa.DataType:
        """The type; ``every`` gives every summary again, should the chunks disagree."""
        self._infer()
        if not self.kinds:
            return pa.null()
        first = self.kinds[0]
        inferred = first if all(kind == first for kind in self.kinds) else pa.array(list(every())).type
        if not pa.types.is_struct(inferred):
            raise MalformedInputError(
                f"{files.QUERIES.name}: context_summary must be an object, got Arrow type {inferred}"
            )
        return _storable(inferred)


def unify_context_summaries(records: list[dict[str, Any]], declared: pa.DataType) -> None:
    """Write every record's ``context_summary`` back from an array of the ``declared`` type (missing keys null,
    ints as floats where the type says so), so that the JSON rows agree with the Parquet files."""
    column = pa.array([r["context"]["context_summary"] for r in records], type=declared)
    for record, value in zip(records, column.to_pylist(), strict=True):
        record["context"]["context_summary"] = value


def _storable(kind: pa.DataType) -> pa.DataType:
    """``kind`` with every struct that has no fields (Parquet cannot write one) replaced by null."""
    if pa.types.is_struct(kind):
        if kind.num_fields == 0:
            return pa.null()
        return pa.struct([pa.field(f.name, _storable(f.type)) for f in kind])
    if pa.types.is_list(kind):
        return pa.list_(_storable(kind.value_type))
    return kind


def to_table(records: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Records as one typed table; a value that does not fit its column fails here, not in a user's loader."""
    return pa.Table.from_pylist(records, schema=schema)


class RecordValidator:
    """Checks each record against distillation_record.schema.json and names the first problem.

    Uses ``jsonschema-rs`` (a compiled Draft 2020-12 validator, about 70 times
    faster than the pure-Python one per record), so that validating every one
    of 100k records costs well under a second instead of a quarter of a minute.
    """

    def __init__(self) -> None:
        import jsonschema_rs

        self._validator = jsonschema_rs.Draft202012Validator(load_schema(RECORD_SCHEMA))

    def check(self, record: Mapping[str, Any]) -> None:
        if self._validator.is_valid(record):
            return
        error = next(iter(self._validator.iter_errors(record)))
        where = "/".join(str(p) for p in error.instance_path) or "(record)"
        query = record.get("metadata", {}).get("query_id", record.get("record_id"))
        raise MalformedInputError(f"query {query}: its record breaks {RECORD_SCHEMA} at {where}: {error.message[:200]}")
