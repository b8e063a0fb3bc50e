"""The re-ask: an invalid answer goes back to the teacher with what was wrong with it (the instructor pattern).

The conversation grows by the teacher's own answer and one user turn listing
the validation errors, so the request (and its cache key) differs from the
first: every attempt is cached under its own key, and a rerun pays for none
of them again.
"""

from __future__ import annotations

import dataclasses

from fitsense_luigi.teacher.types import TeacherRequest

PROMPT = (
    "Your answer could not be used:\n{errors}\n"
    "Correct it and answer again with exactly one JSON object in the format the system prompt describes, "
    "with no prose around it."
)
MAX_ANSWER_CHARS = 20000  # a runaway answer is not sent back whole


def reask_request(request: TeacherRequest, answer: str, errors: list[str]) -> TeacherRequest:
    listed = "\n".join(f"- {e}" for e in errors[:5]) or "- it is not a JSON object"
    messages = [
        *request.messages,
        {"role": "assistant", "content": answer[:MAX_ANSWER_CHARS]},
        {"role": "user", "content": PROMPT.format(errors=listed)},
    ]
    return dataclasses.replace(request, messages=messages)
