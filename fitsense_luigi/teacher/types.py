"""The provider interface: one request in, one outcome out, whatever the backend.

The offline mock coach and the HTTP client both implement ``Provider``, so the
pipeline path (cache, checks, records) is the same for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

STATUSES = ("ok", "length", "content_filter", "invalid", "http_error", "timeout")


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "finish_reason": self.finish_reason,
            "content": self.content,
            "raw_response": self.raw_response,
            "error": self.error,
            "usage": self.usage,
            "attempt_count": self.attempt_count,
            "latency_ms": self.latency_ms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TeacherOutcome:
        return cls(**data)


class Provider(Protocol):
    name: str
    cacheable: bool

    def complete(self, request: TeacherRequest) -> TeacherOutcome: ...
