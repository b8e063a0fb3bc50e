"""The dataset's split names, and the files of the dataset stage that hold records.

A user's records are all in one split (see :mod:`fitsense_luigi.dataset.split`);
``all_records`` holds every kept record, ``rejected`` every dropped query.
"""

from __future__ import annotations

SPLITS = ("train", "validation", "test")  # Hugging Face's names: file names, the `split` column and config keys
ALL_RECORDS = "all_records"
REJECTED = "rejected"
RECORD_FILES = (ALL_RECORDS, *SPLITS)  # the files whose rows are distillation records
DATASET_FILES = (*RECORD_FILES, REJECTED)  # every JSONL file of the dataset stage holding records or rejections
# The same records in TRL's prompt/completion form, each in a directory of split files: with the student's system
# turn, and with it folded into the user turn for chat templates without a system role (Gemma 2).
PROMPT_COMPLETION = "prompt_completion"
NO_SYSTEM = "no_system"
FORMS = (PROMPT_COMPLETION, NO_SYSTEM)
PREFERENCE = "preference"  # DPO pairs (prompt, chosen, rejected), per split
