"""Is this answer a refusal? Then it is named as one, whatever the server called it.

A teacher refuses in three ways (``shared/reference/teacher_api.md``): OpenAI's
``message.refusal`` with ``content: null``, a ``finish_reason`` of
``refusal`` (Anthropic models behind a proxy), or plain prose: a short "I
can't provide medical advice" or a long apology. The first two are read from
the completion (``http_policy.parse_completion``); prose is recognised here,
and only for an answer that holds no JSON object at all, so a plan whose notes
say "check with your doctor" is never taken for one.
"""

from __future__ import annotations

import re

# How refusals open; looked for in the first sentences only (a refusal leads with it).
_OPENINGS = re.compile(
    r"\b(?:i'?m sorry|i am sorry|sorry,|i apologi[sz]e|unfortunately,? i|as an ai\b|"
    r"i (?:can(?:no|')?t|cannot|am (?:not able|unable)|won'?t|must decline|'m (?:not able|unable))"
    r"(?: to)? (?:help|assist|provide|give|create|offer|recommend|design|make|do|comply|answer|prescribe)|"
    r"(?:not able|unable) to (?:provide|give|create|offer|help|assist|prescribe)|"
    r"(?:please )?(?:consult|speak (?:with|to)|talk to|see) (?:a |your )?(?:doctor|physician|healthcare|"
    r"medical|gp\b|cardiologist|specialist))",
    re.IGNORECASE,
)
LEAD_CHARS = 300


def looks_like_refusal(prose: str) -> bool:
    """True for prose (no JSON object in it) that opens the way refusals do."""
    lead = " ".join(prose.split())[:LEAD_CHARS]
    return bool(lead) and _OPENINGS.search(lead) is not None
