"""Preference pairs for DPO: a kept answer (``chosen``) against one the checks rejected (``rejected``).

A query has more than one answer when the teacher was asked for several
samples (``teacher.samples_per_query`` > 1: the best by the checks is the
record's answer) or when an answer was re-asked (the invalid first attempt,
then the mended one). Every such other answer that a dataset filter rejects
(invalid JSON, unsafe exercise, unaddressed constraint, too short ...) pairs
with the record's answer on the record's prompt: the student form, the same
for both. Answers that pass every check make no pair (both are good), and
answers with no text (a content filter) teach nothing. Pairs inherit the
record's split, so no user crosses splits.

The rejected side is what the teacher wrote, normalised where it could be
(``normalized_text``) and raw otherwise: the student should prefer the clean,
safe plan over exactly the mistakes a model makes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from fitsense_luigi.config import CharRange
from fitsense_luigi.contracts.rows import DistillationRecord, PreferencePair
from fitsense_luigi.dataset.filters import quality_rejection

PAIR_NAMESPACE = uuid.UUID("5b0e8f3a-7c1d-4f2e-9a6b-3d4c5e6f7a81")


def pairs_for(record: DistillationRecord, response: Mapping[str, Any], chars: CharRange) -> list[PreferencePair]:
    """The record's pairs, one per rejected alternative with distinct text, in the order the teacher gave them."""
    *prompt, chosen = record["messages"]
    out: list[PreferencePair] = []
    seen = {chosen["content"]}
    for alternative in response.get("alternatives") or []:
        rejection = quality_rejection(dict(alternative), chars)
        text = alternative["normalized_text"] or alternative["response_text"] or ""
        if rejection is None or not text.strip() or text in seen:
            continue
        seen.add(text)
        key = f"{record['record_id']}:{alternative['source']}:{alternative['sample']}:{len(out)}"
        out.append(
            {
                "pair_id": str(uuid.uuid5(PAIR_NAMESPACE, key)),
                "record_id": record["record_id"],
                "prompt": prompt,
                "chosen": [chosen],
                "rejected": [{"role": "assistant", "content": text}],
                "split": record["split"],
                "rejected_source": alternative["source"],
                "rejected_reason": rejection.reason,
                "rejected_detail": rejection.detail,
            }
        )
    return out
