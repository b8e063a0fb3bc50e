"""Records: stable ids, one type per field, a validator that agrees with the reference one, clear bad-input errors."""

from __future__ import annotations

import copy
import io
import json
import uuid

import pyarrow.parquet as pq
import pytest
from dataset_fakes import PROVENANCE, answer, make_query
from jsonschema import Draft202012Validator

from fitsense_luigi.config import load_schema
from fitsense_luigi.dataset import records
from fitsense_luigi.dataset.build import build_dataset
from fitsense_luigi.errors import FitSenseError, MalformedInputError
from tests.support import params as test_params

CONFIG = test_params.config()


def built(n: int = 12):
    queries = [make_query(k) for k in range(n)]
    return build_dataset(CONFIG, queries, [answer(q) for q in queries], PROVENANCE)


def test_record_ids_are_stable_and_follow_the_query():
    first, second = built(), built()
    assert [r["record_id"] for r in first.records] == [r["record_id"] for r in second.records]
    for r in first.records:
        assert r["record_id"] == records.record_id(r["metadata"]["query_id"])
    assert len({r["record_id"] for r in first.records}) == len(first.records)
    # pinned: a record keeps its id across releases (a trainer's earlier runs refer to it), a UUID v5 of its query
    pinned = uuid.UUID(records.record_id("0b4273d0-be12-55b7-b519-2a2a50504717"))
    assert str(pinned) == "3093542f-a821-5bb7-9060-9f5968c6bcfb" and pinned.version == 5


def test_context_summaries_get_one_type_per_field():
    queries = [make_query(k) for k in range(6)]
    queries[0]["context_summary"]["sessions_last_window"] = 3.5  # a float among ints: the column widens
    queries[1]["context_summary"].pop("weight_change_kg")  # a missing key becomes null
    result = build_dataset(CONFIG, queries, [answer(q) for q in queries], PROVENANCE)
    summaries = [r["context"]["context_summary"] for r in result.records]
    assert {type(s["sessions_last_window"]) for s in summaries} == {float}
    assert all(list(s) == list(summaries[0]) for s in summaries)
    by_query = {r["metadata"]["query_id"]: r["context"]["context_summary"] for r in result.records}
    assert by_query[queries[1]["query_id"]]["weight_change_kg"] is None
    table = result.table("train")
    assert table.schema.field("context").type.field("context_summary").type.num_fields == len(summaries[0])


def test_the_fast_validator_agrees_with_the_reference_validator():
    reference = Draft202012Validator(load_schema(records.RECORD_SCHEMA))
    fast = records.RecordValidator()
    good = built(1).records[0]
    mutations = {
        "record_id": lambda r: r.update(record_id="not-a-uuid"),
        "messages order": lambda r: r["messages"].reverse(),
        "two messages": lambda r: r["messages"].pop(),
        "split": lambda r: r.update(split="dev"),
        "latency": lambda r: r["metadata"].update(latency_ms=-1),
        "attempts": lambda r: r["metadata"].update(attempt_count=0),
        "usage type": lambda r: r["metadata"]["usage"].update(total_tokens="12"),
        "source runs": lambda r: r["metadata"]["source_run_ids"].pop("teacher"),
        "extra key": lambda r: r.update(prompt="x"),
        "prompt type": lambda r: r["context"].update(prompt_type="chit_chat"),
        "empty response": lambda r: r.update(response=""),
    }
    assert not list(reference.iter_errors(good))
    fast.check(good)
    for name, mutate in mutations.items():
        bad = copy.deepcopy(good)
        mutate(bad)
        assert list(reference.iter_errors(bad)), name
        with pytest.raises(MalformedInputError, match=r"breaks distillation_record\.schema\.json at"):
            fast.check(bad)


def test_an_upstream_row_without_a_key_is_one_clear_error():
    queries = [make_query(k) for k in range(3)]
    responses = [answer(q) for q in queries]
    del responses[1]["post_validation"]
    with pytest.raises(FitSenseError, match=r"^responses\.jsonl:2: query .*: missing key 'post_validation'$"):
        build_dataset(CONFIG, queries, responses, PROVENANCE)
    del queries[2]["messages"]
    with pytest.raises(FitSenseError, match=r"^queries\.jsonl:3: query .*: missing key 'messages'$"):
        build_dataset(CONFIG, queries, [answer(q) for q in queries[:2]], PROVENANCE)


def test_a_dataset_where_everything_is_rejected_still_writes_valid_outputs():
    queries = [make_query(k) for k in range(4)]
    responses = [answer(q, status="timeout", finish_reason=None, error="timeout") for q in queries]
    result = build_dataset(CONFIG, queries, responses, PROVENANCE)
    assert result.records == [] and len(result.rejected) == 4
    assert result.summary["split_sizes"] == {"train": 0, "validation": 0, "test": 0}
    for split in ("train", "validation", "test"):
        pq.write_table(result.table(split), io.BytesIO())
    assert "0 records kept out of 4 queries" in result.card(result.sizes({}))
    json.dumps(result.split_report)
