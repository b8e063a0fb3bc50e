"""The provider interface: one request in, one outcome out, whatever the backend.

The offline mock coach and the HTTP client both implement ``Provider``, so the
pipeline path (cache, checks, records) is the same for both.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from fitsense_luigi.teacher.canonical import canonical_body

# The outcome taxonomy, in the order summaries list it. ``refused``: the teacher declined to answer
# (``message.refusal``, ``finish_reason: refusal``, or prose that opens like a refusal).
STATUSES = ("ok", "refused", "length", "content_filter", "invalid", "http_error", "timeout")
# Answers the endpoint produced (and billed): worth caching. The others may succeed later.
FINAL_STATUSES = frozenset({"ok", "refused", "length", "content_filter", "invalid"})
TRANSIENT_STATUSES = frozenset({"http_error", "timeout"})


@dataclass(frozen=True)
class TeacherRequest:
    messages: list[dict[str, str]]
    model: str
    temperature: float
    top_p: float
    max_tokens: int
    seed: int
    response_format: dict[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        """The chat-completions request body (what the cache key is computed from)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self.messages,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }
        if self.response_format is not None:
            body["response_format"] = self.response_format
        return body

    @cached_property
    def body_text(self) -> str:
        """The body's canonical JSON (:mod:`.canonical`), made once: the cache key hashes it, the wire carries it."""
        return canonical_body(self.body())

    def prompt_chars(self) -> int:
        return sum(len(m["content"]) for m in self.messages)


@dataclass
class TeacherOutcome:
    status: str
    finish_reason: str | None
    content: str | None
    raw_response: dict[str, Any] | None
    error: str | None
    usage: dict[str, int] = field(default_factory=dict)
    attempt_count: int = 1
    latency_ms: int = 0
    http_status: int | None = None  # of the answering attempt; None without an HTTP answer

    def to_dict(self) -> dict[str, Any]:
        """Shallow (the body is serialised at once): ``dataclasses.asdict`` deep-copies the whole raw body."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TeacherOutcome:
        """Tolerant of entries written by older versions (missing or extra keys)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class Provider(Protocol):
    name: str
    cacheable: bool
    remote: bool  # requests leave the host (they take one of its teacher.concurrency slots)
    endpoint: bool  # answers come from a teacher endpoint whose health the circuit breaker judges (not the mock)

    def complete(self, request: TeacherRequest) -> TeacherOutcome: ...

    def close(self) -> None: ...
