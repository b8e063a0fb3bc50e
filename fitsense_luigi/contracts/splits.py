"""The dataset's split names, and the files of the dataset stage that hold records.

A user's records are all in one split (see :mod:`fitsense_luigi.dataset.split`);
each split is a file, ``rejected`` holds every dropped query. ``all_records``
names every kept record, the splits together: a view the reports describe
(``RunStore.records``), not a file, so a run does not store its records twice.
"""

from __future__ import annotations

SPLITS = ("train", "val", "test")
ALL_RECORDS = "all_records"  # every kept record: the splits together, in split order (a view, not a file)
REJECTED = "rejected"
RECORD_FILES = (ALL_RECORDS, *SPLITS)  # the sets of distillation records the reports describe: all, then each split
DATASET_FILES = (*SPLITS, REJECTED)  # every JSONL file of the dataset stage
