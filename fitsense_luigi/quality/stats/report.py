"""The statistics report: the world's tables (out of core), each split of the records, the rejections."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pyarrow.compute as pc

from fitsense_luigi.contracts.splits import ALL_RECORDS, RECORD_FILES, REJECTED
from fitsense_luigi.contracts.world import World
from fitsense_luigi.contracts.world_sql import Limits
from fitsense_luigi.quality.stats.feature_stats import split_stats
from fitsense_luigi.quality.stats.features import record_table_and_schema
from fitsense_luigi.quality.stats.world_stats import table_stats

SPLITS = RECORD_FILES  # all_records, then the splits


def compute_stats(
    world: World, dataset: dict[str, list[dict[str, Any]]], as_of: dt.date, limits: Limits | None = None
) -> dict[str, Any]:
    tables, table_schemas = table_stats(world, as_of, limits)
    # the splits together (each record once: checked by ValidateData), read once for the features and the schema
    records, schema = record_table_and_schema(dataset[ALL_RECORDS])
    rejected = dataset[REJECTED]
    return {
        "as_of_date": as_of.isoformat(),
        "tables": tables,
        "splits": {
            name: split_stats(
                records if name == ALL_RECORDS else records.filter(pc.equal(records["split"], name)), as_of
            )
            for name in SPLITS
        },
        "rejected": {
            "count": len(rejected),
            "by_reason": dict(sorted(Counter(r.get("reason", "?") for r in rejected).items())),
            "by_prompt_type": dict(sorted(Counter(r.get("prompt_type", "?") for r in rejected).items())),
        },
        "schema": {"tables": table_schemas, "records": schema},
    }
