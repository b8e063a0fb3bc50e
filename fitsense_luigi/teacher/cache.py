"""Content-addressed store of teacher outcomes: never pay twice for a request.

The key hashes everything that can change an answer: the base URL, the full
request body (model, messages, every generation parameter, the response
format with its schema), the response schema version and the prompt-template
version. Entries live under ``<data_root>/cache/teacher/<k[:2]>/<k>.json``
(the runtime hands that directory over as a data root, local or S3) and are
shared by every run and shard under that data root, so a new run id with the
same requests costs nothing.

Each entry is written by the worker that received the answer, before it takes
the next request: to a temporary file that is renamed into place, so a reader
sees a complete entry or none, and a kill (even ``kill -9``: the kernel keeps
what the process wrote) loses at most the requests in flight. Entries are not
fsync'ed: at a thousand answers a second an fsync each cost more CPU than the
HTTP client on a two-core host (``bench/bench_teacher.py``). After a power cut
the entries of the last seconds may be missing or empty; an unreadable entry is
a miss, so those requests are sent again and nothing wrong is ever read. The
writes go through a few writer threads while each worker waits for its own:
hundreds of threads creating files at once contended in the kernel (a third
more CPU per answer at 256 in flight). A write killed before its rename leaves
a temporary that the next writer of that directory removes once it is ten
minutes old (several processes share the cache, so age, not pid, marks it as
abandoned). Only answers the endpoint actually produced are stored
(``FINAL_STATUSES``); time-outs and HTTP errors are retried next time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fitsense_luigi.contracts.dataroot import DataRoot
from fitsense_luigi.teacher.types import FINAL_STATUSES, TeacherOutcome

log = logging.getLogger("fitsense.teacher.cache")
ENTRY_FORMAT = 1
WRITERS = 4  # threads that create entry files; the workers wait for their own entry
STALE_TEMPORARY_S = 600.0  # a temporary this old belongs to a write that was killed


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
    def __init__(self, root: DataRoot, enabled: bool = True) -> None:
        self.root = root
        self.enabled = enabled
        self.hits = 0
        self.writes = 0
        self._lock = threading.Lock()
        self._directories: set[str] = set()
        self._writers = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="teacher-cache-writer")

    def entry_key(self, key: str) -> str:
        """Where the entry for ``key`` lives, relative to the cache's root."""
        return f"{key[:2]}/{key}.json"

    def get(self, key: str) -> TeacherOutcome | None:
        found = self.lookup(key)
        return found[0] if found else None

    def lookup(self, key: str) -> tuple[TeacherOutcome, dict[str, Any]] | None:
        """The stored outcome and what was recorded about it (``about``: endpoint, versions, paying run)."""
        if not self.enabled:
            return None
        where = self.entry_key(key)
        try:
            entry = json.loads(self.root.read_bytes(where))
            outcome = TeacherOutcome.from_dict(entry["outcome"])
            about = entry.get("about") or {}
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning(
                "ignoring unreadable cache entry %s (%s); the request will be sent again", self.root.uri(where), exc
            )
            return None
        if outcome.status not in FINAL_STATUSES:
            return None
        with self._lock:
            self.hits += 1
        return outcome, about

    def put(self, key: str, outcome: TeacherOutcome, about: dict[str, Any] | None = None) -> bool:
        """Store a final outcome; False when it is not cacheable (or the cache is off)."""
        if not self.enabled or outcome.status not in FINAL_STATUSES:
            return False
        entry = {"format": ENTRY_FORMAT, "about": about or {}, "outcome": outcome.to_dict()}
        data = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._write(self.entry_key(key), data)
        with self._lock:
            self.writes += 1
        return True

    def note_key(self, name: str) -> str:
        return f"notes/{name}.note"

    def get_note(self, name: str) -> dict[str, Any] | None:
        """A small record shared by every run under this cache (e.g. the response format an endpoint took)."""
        if not self.enabled:
            return None
        try:
            note = json.loads(self.root.read_bytes(self.note_key(name)))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable cache note %s (%s)", self.root.uri(self.note_key(name)), exc)
            return None
        return note if isinstance(note, dict) else None

    def put_note(self, name: str, note: dict[str, Any]) -> None:
        if self.enabled:
            self._write(self.note_key(name), json.dumps(note, sort_keys=True).encode("utf-8"))

    def _write(self, where: str, data: bytes) -> None:
        """Whole (not fsync'ed, see above); the first write to a directory sweeps abandoned temporaries there.

        Several processes and hosts write here at once, so a temporary's age,
        not its pid, says that it was abandoned (a write takes milliseconds).
        """
        self._writers.submit(self._write_now, where, data).result()  # returns once the entry is in place

    def _write_now(self, where: str, data: bytes) -> None:
        directory = where.rsplit("/", 1)[0]
        if directory not in self._directories:
            self.root.sweep_temporaries(directory, older_than_s=STALE_TEMPORARY_S)
            self._directories.add(directory)
        self.root.write_bytes(where, data)
