"""The dataset written a chunk at a time is the dataset written whole: same rows, tables, sizes and summary."""

from __future__ import annotations

from dataset_fakes import PROVENANCE, answer, make_query

from fitsense_luigi.dataset import build, records
from tests.support import params as test_params

CONFIG = test_params.config()


def dataset(queries):
    return build.build_dataset(CONFIG, queries, [answer(q) for q in queries], PROVENANCE)


def test_chunks_change_no_row_no_table_and_no_figure(monkeypatch):
    queries = [make_query(k) for k in range(40)]
    queries[7]["context_summary"]["sessions_last_window"] = 3.5  # a float among ints, in one chunk only
    queries[31]["context_summary"].pop("weight_change_kg")  # a key missing in another chunk
    whole = dataset(queries)
    monkeypatch.setattr(build, "CHUNK_RECORDS", 3)  # every split written in many chunks
    monkeypatch.setattr(records.SummaryType, "CHUNK", 4)  # chunk types disagree: inferred again over all
    chunked = dataset(queries)
    assert chunked.records == whole.records and len(whole.records) > 20
    for file, rows in whole.row_files():
        assert dict(chunked.row_files())[file] == rows, file.name
    assert chunked.schema == whole.schema
    for split in ("train", "validation", "test"):
        assert chunked.table(split).equals(whole.table(split))
        assert chunked.table(split).column("context").combine_chunks().to_pylist() == [
            r["context"] for r in whole.splits[split]
        ]
    assert chunked.summary == whole.summary and chunked.split_report == whole.split_report
    sizes, chunked_sizes = whole.sizes({}), chunked.sizes({})
    assert {k: v["num_examples"] for k, v in chunked_sizes.items()} == {k: v["num_examples"] for k, v in sizes.items()}
    for key, size in sizes.items():  # Arrow bytes summed per chunk: each chunk repeats an offset or so per column
        assert abs(chunked_sizes[key]["num_bytes"] - size["num_bytes"]) <= 0.02 * size["num_bytes"] + 64, key
