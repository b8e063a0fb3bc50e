"""Why a teacher answer is not fit to train on: one reason per dropped example.

The reasons are checked in the order of ``REASONS`` and the first one that
applies is the one recorded, so every input lands in exactly one bucket and the
counts in the manifest and the card add up to the number of queries. The order
goes from "there is no usable answer" to "the answer is fine but we already
have it": a broken answer is never reported as a duplicate, and dedup only
compares answers that passed every quality check, so a good answer is never
dropped as the copy of a bad one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fitsense_luigi.config import CharRange

# Statuses whose text is worth judging; every other status means the teacher did
# not deliver a complete answer (time-out, HTTP error, truncated, filtered) or refused.
JUDGED_STATUSES = frozenset({"ok", "invalid"})

REASONS: tuple[str, ...] = (
    "failed_response",  # no response row, or the call failed / was truncated / was filtered
    "refused",  # the teacher declined to answer (its text is kept in rejected.jsonl)
    "empty_response",  # the call returned, but with no text
    "schema_invalid",  # no JSON found, or not a plan_response.schema.json document after the safe repairs
    "too_short",  # the training target has fewer characters than dataset.response_chars.min
    "too_long",  # the training target has more characters than dataset.response_chars.max
    "safety_flagged",  # breaks a safety rule of the user (reference/safety_rules.csv) or a coaching rule
    "constraints_not_addressed",  # skips an expected safety constraint
    "too_many_tokens",  # the student's conversation needs more than dataset.tokens.max_total tokens
    "exact_duplicate",  # same text as a kept answer (after Unicode, case and whitespace normalisation)
    "near_duplicate",  # shingled Jaccard >= dataset.near_duplicate_jaccard with a kept answer
)

REASON_DESCRIPTIONS: dict[str, str] = {
    "failed_response": "no response, or status http_error, timeout, length or content_filter",
    "refused": "the teacher refused (`message.refusal`, `finish_reason: refusal`, or an answer that opens like a "
    "refusal and holds no JSON)",
    "empty_response": "response text empty or only whitespace",
    "schema_invalid": "no JSON object found, or fails `plan_response.schema.json` (or its rules) after the safe "
    "repairs",
    "too_short": "training target (the normalised JSON) shorter than `dataset.response_chars.min` characters",
    "too_long": "training target (the normalised JSON) longer than `dataset.response_chars.max` characters",
    "safety_flagged": "breaks one of the user's safety rules or a coaching rule (the flag names the rule id)",
    "constraints_not_addressed": "leaves an expected safety constraint unaddressed",
    "too_many_tokens": "the student's conversation (prompt and answer) needs more than `dataset.tokens.max_total` "
    "tokens",
    "exact_duplicate": "same text as a kept response after NFKC, case and whitespace normalisation",
    "near_duplicate": "word 5-gram Jaccard >= `dataset.near_duplicate_jaccard` with a kept response",
}


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str
    duplicate_of: str | None = None  # query_id of the kept copy (duplicates only)
    similarity: float | None = None  # Jaccard with that copy (near-duplicates only)


def quality_rejection(response: dict[str, Any] | None, chars: CharRange) -> Rejection | None:
    """The first per-answer reason that rejects ``response``, or None if it may be kept.

    Trusts the teacher stage's ``post_validation`` and ``safety_flags`` (the
    responses.jsonl contract) instead of re-parsing every plan.
    """
    if response is None:
        return Rejection("failed_response", "no teacher response for this query")
    status = response["status"]
    if status == "refused":
        text = " ".join((response.get("response_text") or "").split())
        return Rejection("refused", (f"refused: {text}" if text else "refused (no text)")[:300])
    if status not in JUDGED_STATUSES:
        return Rejection("failed_response", f"status {status}: {response.get('error') or 'no error text'}"[:300])
    text = response["response_text"] or ""
    if not text.strip():
        return Rejection("empty_response", f"status {status}, no text")
    validation = response["post_validation"]
    if status == "invalid" or not validation.get("valid") or not validation.get("schema_valid"):
        return Rejection("schema_invalid", _schema_detail(validation, text))
    target = response.get("normalized_text") or ""
    if len(target) < chars.min:
        return Rejection("too_short", f"{len(target)} chars < min {chars.min}")
    if len(target) > chars.max:
        return Rejection("too_long", f"{len(target)} chars > max {chars.max}")
    if response["safety_flags"]:
        return Rejection("safety_flagged", ", ".join(response["safety_flags"])[:300])
    missing = validation.get("constraints_missing") or []
    if missing:
        return Rejection("constraints_not_addressed", "missing: " + ", ".join(missing))
    return None


def _schema_detail(validation: dict[str, Any], text: str) -> str:
    errors = validation.get("schema_errors") or []
    opening = " ".join(text.split())[:40]
    if not validation.get("parsed"):
        return f"not JSON ({errors[0] if errors else 'no object found'}); starts with {opening!r}"[:300]
    return "; ".join(errors[:2])[:300] if errors else "does not match plan_response.schema.json"
