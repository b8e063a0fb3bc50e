"""Distillation records as a flat feature table: what statistics, drift and anomaly checks look at.

One row per record, one column per feature: the split, the request's kind and
slice tags (categorical), the instruction and response text with their
word-and-punctuation counts, and the teacher's own token counts. Built once for
all records with pyarrow; per-split statistics filter it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from fitsense_luigi.contracts.rows import SLICE_KEYS

RECORD_FEATURES = pa.schema(
    [
        ("user_id", pa.string()),
        ("split", pa.string()),
        ("prompt_type", pa.string()),
        *[(key, pa.string()) for key in SLICE_KEYS],
        ("instruction", pa.string()),
        ("response", pa.string()),
        ("expected_constraints", pa.int32()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("cache_hit", pa.bool_()),
    ]
)
IDENTIFIERS = frozenset({"user_id"})
TEXT = frozenset({"instruction", "response"})
TOKEN = r"\w+|[^\w\s]"  # words and punctuation: a tokenizer-free proxy for token counts


CHUNK = 2000  # records turned into Arrow at a time: the text of 100,000 records is held once, as Arrow


def record_table_and_schema(records: Iterable[dict[str, Any]]) -> tuple[pa.Table, dict[str, str]]:
    """The records' feature table, and every field path of the records with its inferred type (``a.b``, lists as
    ``a[]``: for schema drift), in one pass over the records (a gigabyte of JSON at 100,000 records is read once).

    The schema is inferred chunk by chunk and unified (a field null in one chunk takes its type from the others).
    """
    chunks, schemas = [], []
    for chunk in _chunks(records):
        chunks.append(_record_chunk(chunk))
        schemas.append(_chunk_schema(chunk))
    table = pa.concat_tables(chunks) if chunks else RECORD_FEATURES.empty_table()
    for name in sorted(TEXT):  # counted once here, so per-split statistics only filter
        table = table.append_column(f"{name}_tokens", pc.count_substring_regex(table[name], TOKEN).cast(pa.int64()))
    return table, _schema_paths(schemas)


def _chunks(records: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _record_chunk(records: list[dict[str, Any]]) -> pa.Table:
    columns: dict[str, list[Any]] = {name: [] for name in RECORD_FEATURES.names}
    for record in records:
        context = record.get("context") or {}
        tags = context.get("slice_tags") or {}
        usage = (record.get("metadata") or {}).get("usage") or {}
        columns["user_id"].append(record.get("user_id"))
        columns["split"].append(record.get("split"))
        columns["prompt_type"].append(context.get("prompt_type"))
        for key in SLICE_KEYS:
            columns[key].append(tags.get(key))
        columns["instruction"].append(record.get("instruction"))
        columns["response"].append(record.get("response"))
        columns["expected_constraints"].append(len(context.get("expected_safety_constraints") or []))
        columns["prompt_tokens"].append(usage.get("prompt_tokens"))
        columns["completion_tokens"].append(usage.get("completion_tokens"))
        columns["cache_hit"].append((record.get("metadata") or {}).get("cache_hit"))
    return pa.table(columns, schema=RECORD_FEATURES)


def _chunk_schema(chunk: list[dict[str, Any]]) -> pa.Schema | str:
    """The chunk's inferred schema, or why it has none."""
    try:
        return pa.Table.from_pylist(chunk).schema
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        return str(exc)


def _schema_paths(schemas: list[pa.Schema | str]) -> dict[str, str]:
    failed = next((s for s in schemas if isinstance(s, str)), None)
    try:
        if failed is not None:
            raise pa.ArrowInvalid(failed)
        if not schemas:
            return {}
        schema = schemas[0] if len(schemas) == 1 else pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        return {"(records)": f"inconsistent types: {str(exc).splitlines()[0][:200]}"}
    out: dict[str, str] = {}
    for field in schema:
        _flatten(field.name, field.type, out)
    return dict(sorted(out.items()))


def _flatten(path: str, kind: pa.DataType, out: dict[str, str]) -> None:
    if pa.types.is_struct(kind):
        out[path] = "struct"
        for k in range(kind.num_fields):
            child = kind.field(k)
            _flatten(f"{path}.{child.name}", child.type, out)
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        out[path] = "list"
        _flatten(f"{path}[]", kind.value_type, out)
    else:
        out[path] = str(kind)
