"""A teacher that refuses (almost) everyone: 0, 1 or 2 records still make valid files, typed like a full dataset.

The pyarrow failure this guards against: a context_summary key that holds only
``{}`` among the survivors (``condition_severity`` for users without a
condition) is inferred as a struct without fields, which Parquet cannot write.
"""

from __future__ import annotations

import io

import pyarrow.parquet as pq
import pytest
from dataset_fakes import PROVENANCE, answer, make_query

from fitsense_luigi.dataset.build import build_dataset
from fitsense_luigi.dataset.split import SPLITS
from tests.support import params as test_params

CONFIG = test_params.config()
REFUSAL = "I'm sorry, but I can't provide medical advice. Please consult your doctor."


def _queries() -> list[dict]:
    queries = [make_query(n, conditions=("hypertension",) if n % 2 else ()) for n in range(40)]
    for q in queries:  # the shape that broke pyarrow: an object that is empty for users without a condition
        q["context_summary"]["condition_severity"] = (
            {"hypertension": "mild"} if q["context_summary"]["conditions"] else {}
        )
    return queries


@pytest.mark.parametrize("survivors", [0, 1, 2])
def test_few_survivors_write_valid_parquet_with_the_full_datasets_types(survivors):
    queries = _queries()
    full = build_dataset(CONFIG, queries, [answer(q) for q in queries], PROVENANCE)
    keep = [q["query_id"] for q in queries if not q["context_summary"]["conditions"]][:survivors]
    responses = [answer(q) if q["query_id"] in keep else answer(q, REFUSAL) for q in queries]
    result = build_dataset(CONFIG, queries, responses, PROVENANCE)
    assert len(result.records) == survivors
    assert {r["reason"] for r in result.rejected} == {"refused"}
    assert result.schema == full.schema, "the declared types do not depend on which answers survived"
    for split in SPLITS:
        buffer = io.BytesIO()
        pq.write_table(result.table(split), buffer)
        back = pq.read_table(io.BytesIO(buffer.getvalue()))
        assert back.num_rows == len(result.splits[split]) and back.schema.equals(result.schema, check_metadata=False)
    assert result.summary["rejected_by_reason"]["refused"] == len(queries) - survivors
