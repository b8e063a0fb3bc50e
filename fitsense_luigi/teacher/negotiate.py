"""Which ``response_format`` the endpoint takes, settled once per endpoint by the stage's first request.

Servers without structured outputs answer ``json_schema`` with HTTP 400 naming
``response_format``, and that error repeats for every request, so it is not an
outage. The stage's first request is the probe: while it is out, the other
workers wait. A 400 (or 422) that names the response format moves down
``json_schema -> json_object -> none`` with one warning line naming
``teacher.response_format``, or, with ``teacher.response_format_fallback:
false``, stops the stage at once with a permanent error (exit 30, no retry).
The format that worked is noted in the cache (``notes/``), so later shards,
workers and runs neither probe again nor miss answers cached under it.

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
from typing import Any

from fitsense_luigi.config import load_schema
from fitsense_luigi.errors import TeacherStageError
from fitsense_luigi.teacher.cache import ResponseCache
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


def payload(kind: str) -> dict[str, Any] | None:
    """The ``response_format`` body for a format name (None for ``none``)."""
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = strict_projection(load_schema(PLAN_SCHEMA))
        return {"type": "json_schema", "json_schema": {"name": "plan_response", "strict": True, "schema": schema}}
    return None


def rejects_format(outcome: TeacherOutcome) -> bool:
    """A client error that names the response format: this endpoint will refuse it every time."""
    return (
        outcome.status == "http_error"
        and outcome.http_status in (400, 422)
        and _NAMES_FORMAT.search(outcome.error or "") is not None
    )


class Negotiation:
    """The format requests carry; settled by the first request of the stage (the probe)."""

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
        self._settled = threading.Event()
        if known and accepted in FORMATS:
            self._settled.set()
        self._lock = threading.Lock()
        self._prober: int | None = None

    def acquire(self) -> bool:
        """Before a send: True if this thread must probe (send alone, then ``settle``); waits while another probes."""
        while not self._settled.is_set():
            with self._lock:
                if self._prober is None:
                    self._prober = threading.get_ident()
                    return True
                if self._prober == threading.get_ident():
                    return True
            # woken by the settlement itself; the timeout only lets a stopping stage through
            if not self._settled.wait(0.25) and self.stop.is_set():
                return False
        return False

    def settle(self, outcome: TeacherOutcome) -> bool:
        """Judge the probe's answer; True when the same request must be sent again with the next format."""
        if rejects_format(outcome):
            following = FORMATS[FORMATS.index(self.kind) + 1 :]
            if not self.fallback or not following:
                self.stop.set()  # before the waiting workers are let go: none of them sends
                self._release()
                raise TeacherStageError(
                    f"teacher at {self.base_url} does not accept response_format {self.kind} ({outcome.error}): "
                    f"set teacher.response_format to {' or '.join(following) or 'json_object or none'} "
                    f"(teacher.response_format_fallback is {'false' if not self.fallback else 'true'})"
                )
            log.warning(
                "teacher at %s rejects response_format %s (%s); falling back to %s for this endpoint: set "
                "teacher.response_format: %s to skip this probe",
                self.base_url,
                self.kind,
                outcome.error,
                following[0],
                following[0],
            )
            self.kind = following[0]
            return True
        if outcome.status in FINAL_STATUSES:  # the endpoint answered with this format: remember it
            self.store.put_note(self.note, {"configured": self.configured, "accepted": self.kind})
        self._release()
        return False

    def _release(self) -> None:
        self._settled.set()  # wakes every waiting worker
