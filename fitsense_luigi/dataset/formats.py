"""The records in the forms trainers take besides ``messages``.

* ``prompt_completion``: TRL's conversational prompt/completion form. TRL then
  computes the loss on the completion only (``completion_only_loss`` defaults
  to on for this form), so the student learns the answers, not the prompts.
* ``no_system``: the same with the system text folded into the user turn, for
  chat templates that refuse a system role (Gemma 2 raises "System role not
  supported"). Gemma 3's template folds it the same way itself.

Each row keeps the ``record_id`` of its record, so metadata joins back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from fitsense_luigi.contracts.rows import DistillationRecord, PromptCompletionRow
from fitsense_luigi.contracts.splits import NO_SYSTEM, PROMPT_COMPLETION
from fitsense_luigi.dataset.records import without_system


def prompt_completion(record: DistillationRecord) -> PromptCompletionRow:
    *prompt, answer = record["messages"]
    return {"record_id": record["record_id"], "prompt": prompt, "completion": [answer]}


def no_system(record: DistillationRecord) -> PromptCompletionRow:
    *prompt, answer = without_system(record["messages"])
    return {"record_id": record["record_id"], "prompt": prompt, "completion": [answer]}


FORMS: dict[str, Callable[[DistillationRecord], PromptCompletionRow]] = {
    PROMPT_COMPLETION: prompt_completion,
    NO_SYSTEM: no_system,
}


def rows(form: str, records: Iterable[DistillationRecord]) -> Iterator[PromptCompletionRow]:
    """The rows of one form, lazily (the writer may stream them)."""
    convert = FORMS[form]
    return (convert(record) for record in records)
