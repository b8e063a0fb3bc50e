"""The dataset's split names, and the files of the dataset stage that hold records.

A user's records are all in one split (see :mod:`fitsense_luigi.dataset.split`);
``all_records`` holds every kept record, ``rejected`` every dropped query.
"""

from __future__ import annotations

SPLITS = ("train", "val", "test")
ALL_RECORDS = "all_records"
REJECTED = "rejected"
RECORD_FILES = (ALL_RECORDS, *SPLITS)  # the files whose rows are distillation records
DATASET_FILES = (*RECORD_FILES, REJECTED)  # every JSONL file of the dataset stage
