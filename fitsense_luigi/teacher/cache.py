"""Content-addressed store of teacher outcomes: never pay twice for a request.

The key hashes everything that can change an answer: the base URL, the full
request body (model, messages, every generation parameter, the response
format with its schema), the response schema version and the prompt-template
version. Entries live under ``<data_root>/cache/teacher/<k[:2]>/<k>.json``
and are shared by every run and shard under that data root, so a new run id
with the same requests costs nothing.

Each entry is written (fsync'ed, then renamed into place) by the worker that
received the answer, before the next request is taken, so a kill loses at
most the requests in flight. Only answers the endpoint actually produced are
stored (``FINAL_STATUSES``); time-outs and HTTP errors are retried next time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from fitsense_luigi.storage import atomic_path
from fitsense_luigi.teacher.types import FINAL_STATUSES, TeacherOutcome

log = logging.getLogger("fitsense.teacher.cache")
ENTRY_FORMAT = 1


def cache_key(base_url: str | None, body: dict[str, Any], schema_version: str, template_version: str) -> str:
    payload = {
        "base_url": (base_url or "").rstrip("/"),
        "body": body,
        "schema_version": schema_version,
        "template_version": template_version,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, root: Path, enabled: bool = True) -> None:
        self.root = Path(root)
        self.enabled = enabled
        self.hits = 0
        self.writes = 0
        self._lock = threading.Lock()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> TeacherOutcome | None:
        if not self.enabled:
            return None
        path = self.path(key)
        try:
            entry = json.loads(path.read_bytes())
            outcome = TeacherOutcome.from_dict(entry["outcome"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable cache entry %s (%s); the request will be sent again", path, exc)
            return None
        if outcome.status not in FINAL_STATUSES:
            return None
        with self._lock:
            self.hits += 1
        return outcome

    def put(self, key: str, outcome: TeacherOutcome, about: dict[str, Any] | None = None) -> bool:
        """Store a final outcome durably; False when it is not cacheable (or the cache is off)."""
        if not self.enabled or outcome.status not in FINAL_STATUSES:
            return False
        entry = {"format": ENTRY_FORMAT, "about": about or {}, "outcome": outcome.to_dict()}
        data = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        final = self.path(key)
        with atomic_path(final) as tmp, tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_directory(final.parent)
        with self._lock:
            self.writes += 1
        return True


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); harmless where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
