"""The dataset's split names, and the files of the dataset stage that hold records.

A user's records are all in one split (see :mod:`fitsense_luigi.dataset.split`);
each split is a file, ``rejected`` holds every dropped query. ``all_records``
names every kept record, the splits together: a view the reports describe
(``RunStore.records``), not a file, so a run does not store its records twice.
"""

from __future__ import annotations

SPLITS = ("train", "validation", "test")  # Hugging Face's names: file names, the `split` column and config keys
ALL_RECORDS = "all_records"  # every kept record: the splits together, in split order (a view, not a file)
REJECTED = "rejected"
RECORD_FILES = (ALL_RECORDS, *SPLITS)  # the sets of distillation records the reports describe: all, then each split
DATASET_FILES = (*SPLITS, REJECTED)  # every JSONL file of the dataset stage holding records or rejections
# The same records in TRL's prompt/completion form, each in a directory of split files: with the student's system
# turn, and with it folded into the user turn for chat templates without a system role (Gemma 2).
PROMPT_COMPLETION = "prompt_completion"
NO_SYSTEM = "no_system"
FORMS = (PROMPT_COMPLETION, NO_SYSTEM)
PREFERENCE = "preference"  # DPO pairs (prompt, chosen, rejected), per split
