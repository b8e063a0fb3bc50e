"""Which ``response_format`` the endpoint takes, settled once per endpoint by the stage's first answers.

Servers without structured outputs answer ``json_schema`` with HTTP 400 naming
``response_format``, and that error repeats for every request, so it is not an
outage. Nobody waits for a probe: the stage's first wave goes out at once with
the configured format (a probe sent alone cost one whole latency before the
others left: at 256 in flight and 2,000 requests, 9 latencies instead of 8, so
even a perfect client stayed under 0.87 of the bound). The first 400 (or 422)
that names the response format moves down ``json_schema -> json_object ->
none`` for everyone with one warning line naming ``teacher.response_format``,
and every request rejected with the old format is sent again with the new one
(400s are not billed); with ``teacher.response_format_fallback: false`` it
stops the stage at once with a permanent error (exit 30, no retry), and no
request leaves after it. The format of the first answer is noted in the cache
(``notes/``), so later shards, workers and runs start with it and miss no
answer cached under it.

What each server does with ``json_schema`` (see the README): OpenAI enforces
it only with ``strict: true``, which requires every property in ``required``
and ``additionalProperties: false`` on every object and rejects some keywords
(``minLength``, ``maxLength``): :func:`strict_projection` drops those, and the
post-checks still enforce them. vLLM and Ollama (>= 0.5) compile the schema
into a grammar and ignore ``strict``; llama.cpp's ``llama-server`` takes the
OpenAI wrapper in recent builds, while older ones answer 400.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from functools import cache
from typing import Any

from fitsense_luigi.config import load_schema
from fitsense_luigi.errors import TeacherStageError
from fitsense_luigi.teacher.cache import ResponseCache
from fitsense_luigi.teacher.canonical import share_part
from fitsense_luigi.teacher.types import FINAL_STATUSES, TeacherOutcome

log = logging.getLogger("fitsense.teacher")
PLAN_SCHEMA = "plan_response.schema.json"
FORMATS = ("json_schema", "json_object", "none")
# Keywords OpenAI's strict mode does not take; the post-checks enforce them after the answer arrives.
STRICT_UNSUPPORTED = frozenset({"minLength", "maxLength", "$schema", "$id", "title"})
_NAMES_FORMAT = re.compile(r"response_format|json_schema|json_object|structured output|guided|grammar", re.IGNORECASE)


def strict_projection(schema: Any) -> Any:
    """The plan schema as OpenAI's strict mode takes it (same shape; length limits checked afterwards)."""
    if isinstance(schema, dict):
        return {k: strict_projection(v) for k, v in schema.items() if k not in STRICT_UNSUPPORTED}
    if isinstance(schema, list):
        return [strict_projection(v) for v in schema]
    return schema


@cache
def payload(kind: str) -> dict[str, Any] | None:
    """The ``response_format`` body for a format name (None for ``none``); one object per name, never changed
    (every request of the stage carries it: projecting the schema again for each cost CPU per answer)."""
    if kind == "json_object":
        return share_part({"type": "json_object"})
    if kind == "json_schema":
        schema = strict_projection(load_schema(PLAN_SCHEMA))
        return share_part(
            {"type": "json_schema", "json_schema": {"name": "plan_response", "strict": True, "schema": schema}}
        )
    return None


def rejects_format(outcome: TeacherOutcome) -> bool:
    """A client error that names the response format: this endpoint will refuse it every time."""
    return (
        outcome.status == "http_error"
        and outcome.http_status in (400, 422)
        and _NAMES_FORMAT.search(outcome.error or "") is not None
    )


class Negotiation:
    """The format requests carry: the configured one (or the one noted for this endpoint) until it is rejected."""

    def __init__(
        self,
        configured: str,
        fallback: bool,
        store: ResponseCache,
        base_url: str | None,
        model: str,
        stop: threading.Event,
    ) -> None:
        self.configured, self.fallback, self.store, self.base_url, self.stop = (
            configured,
            fallback,
            store,
            base_url,
            stop,
        )
        self.note = "response-format-" + hashlib.sha256(f"{base_url}|{model}|{configured}".encode()).hexdigest()[:24]
        known = store.get_note(self.note)
        accepted = known.get("accepted") if known else None
        self.kind = accepted if accepted in FORMATS else configured
        self._noted = accepted in FORMATS
        self._lock = threading.Lock()

    def settle(self, outcome: TeacherOutcome, sent: str | None = None) -> bool:
        """Judge an answer to a request sent with format ``sent`` (default: the current one); True when that
        request must be sent again with the format now current (the endpoint rejected ``sent``)."""
        sent = self.kind if sent is None else sent
        if rejects_format(outcome):
            with self._lock:
                if sent == self.kind:  # the first rejection of this format: fall back (or stop) once for everyone
                    self._fall_back(outcome)
            return True
        if outcome.status in FINAL_STATUSES and not self._noted:  # the endpoint answered: remember the format
            with self._lock:
                if self._noted or sent != self.kind:
                    return False
                self._noted = True
            self.store.put_note(self.note, {"configured": self.configured, "accepted": sent})
        return False

    def _fall_back(self, outcome: TeacherOutcome) -> None:
        following = FORMATS[FORMATS.index(self.kind) + 1 :]
        if not self.fallback or not following:
            self.stop.set()  # no request leaves after this one
            raise TeacherStageError(
                f"teacher at {self.base_url} does not accept response_format {self.kind} ({outcome.error}): "
                f"set teacher.response_format to {' or '.join(following) or 'json_object or none'} "
                f"(teacher.response_format_fallback is {'false' if not self.fallback else 'true'})"
            )
        log.warning(
            "teacher at %s rejects response_format %s (%s); falling back to %s for this endpoint: set "
            "teacher.response_format: %s to skip the rejected requests",
            self.base_url,
            self.kind,
            outcome.error,
            following[0],
            following[0],
        )
        self.kind = following[0]
