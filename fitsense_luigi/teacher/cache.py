"""Content-addressed store of teacher outcomes: never pay twice for a request.

The key hashes everything that can change an answer (base URL, the full
request body with model, messages, generation parameters and response schema,
and the schema version). Each entry is written atomically as soon as its
response arrives, so a crash loses at most the requests in flight.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from fitsense_luigi.storage import write_bytes_atomic
from fitsense_luigi.teacher.types import TeacherOutcome


def cache_key(base_url: str | None, body: dict[str, Any], schema_version: str) -> str:
    payload = {"base_url": base_url or "", "body": body, "schema_version": schema_version}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class ResponseCache:
    def __init__(self, root: Path, enabled: bool = True) -> None:
        self.root = root
        self.enabled = enabled

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> TeacherOutcome | None:
        if not self.enabled:
            return None
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        return TeacherOutcome.from_dict(data)

    def put(self, key: str, outcome: TeacherOutcome) -> None:
        if not self.enabled:
            return
        write_bytes_atomic(self._path(key), json.dumps(outcome.to_dict(), ensure_ascii=False).encode("utf-8"))
