"""Content-addressed store of teacher outcomes: never pay twice for a request.

The key hashes everything that can change an answer: the base URL, the full
request body (model, messages, every generation parameter, the response
format with its schema), the response schema version and the prompt-template
version. Entries live under ``<data_root>/cache/teacher/<k[:2]>/<k>.json``
and are shared by every run and shard under that data root, so a new run id
with the same requests costs nothing.

Each entry is written by the worker that received the answer, before it takes
the next request: to a temporary file that is renamed into place, so a reader
sees a complete entry or none, and a kill (even ``kill -9``: the kernel keeps
what the process wrote) loses at most the requests in flight. Entries are not
fsync'ed: at a thousand answers a second an fsync each cost more CPU than the
HTTP client on a two-core host (``bench/bench_teacher.py``). After a power cut
the entries of the last seconds may be missing or empty; an unreadable entry is
a miss, so those requests are sent again and nothing wrong is ever read. A
write killed before its rename leaves a temporary that the next writer of that
directory removes once it is ten minutes old (a write takes well under a
millisecond; several processes share the cache, so age, not pid, marks it as
abandoned). Only answers the endpoint actually produced are stored
(``FINAL_STATUSES``); time-outs and HTTP errors are retried next time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import queue
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fitsense_luigi.storage import DataPath, data_path, is_local
from fitsense_luigi.teacher.types import FINAL_STATUSES, TeacherOutcome

log = logging.getLogger("fitsense.teacher.cache")
ENTRY_FORMAT = 1
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


def remove_abandoned_temporaries(directory: Path, older_than_s: float = STALE_TEMPORARY_S) -> None:
    """Delete the temporaries of writes killed before their rename (a write takes milliseconds).

    Several processes and hosts write here at once, so a temporary's age, not
    its pid, says that it was abandoned.
    """
    cutoff = time.time() - older_than_s
    for entry in os.scandir(directory):
        if entry.name.startswith(".") and ".json.tmp-" in entry.name:
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)


class ResponseCache:
    def __init__(self, root: DataPath, enabled: bool = True) -> None:
        self.root = data_path(root)
        self.enabled = enabled
        self.hits = 0
        self.writes = 0
        self._lock = threading.Lock()
        self._directories: set[Path] = set()
        self._writer = SerialWriter()

    def path(self, key: str) -> DataPath:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> TeacherOutcome | None:
        found = self.lookup(key)
        return found[0] if found else None

    def lookup(self, key: str) -> tuple[TeacherOutcome, dict[str, Any]] | None:
        """The stored outcome and what was recorded about it (``about``: endpoint, versions, paying run)."""
        if not self.enabled:
            return None
        path = self.path(key)
        try:
            entry = json.loads(path.read_bytes())
            outcome = TeacherOutcome.from_dict(entry["outcome"])
            about = entry.get("about") or {}
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("ignoring unreadable cache entry %s (%s); the request will be sent again", path, exc)
            return None
        if outcome.status not in FINAL_STATUSES:
            return None
        with self._lock:
            self.hits += 1
        return outcome, about

    def put(self, key: str, outcome: TeacherOutcome, about: dict[str, Any] | None = None) -> bool:
        """Store a final outcome durably; False when it is not cacheable (or the cache is off)."""
        if not self.enabled or outcome.status not in FINAL_STATUSES:
            return False
        entry = {"format": ENTRY_FORMAT, "about": about or {}, "outcome": outcome.to_dict()}
        data = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._write(self.path(key), data)
        with self._lock:
            self.writes += 1
        return True

    def note_path(self, name: str) -> DataPath:
        return self.root / "notes" / f"{name}.note"

    def get_note(self, name: str) -> dict[str, Any] | None:
        """A small record shared by every run under this cache (e.g. the response format an endpoint took)."""
        if not self.enabled:
            return None
        try:
            note = json.loads(self.note_path(name).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable cache note %s (%s)", self.note_path(name), exc)
            return None
        return note if isinstance(note, dict) else None

    def put_note(self, name: str, note: dict[str, Any]) -> None:
        if self.enabled:
            self._write(self.note_path(name), json.dumps(note, sort_keys=True).encode("utf-8"))

    def _write(self, final: DataPath, data: bytes) -> None:
        """Temporary file renamed into place; its name is unique to this write (see storage).

        On an S3 data root one PUT makes the object appear whole or not at all.
        """
        if not is_local(final):
            final.write_bytes(data)
            return
        self._writer.run(lambda: self._write_local(final, data))  # returns once the entry is in place

    def _write_local(self, final: Path, data: bytes) -> None:
        directory = final.parent
        if directory not in self._directories:
            directory.mkdir(parents=True, exist_ok=True)
            remove_abandoned_temporaries(directory)
            self._directories.add(directory)
        # pid and thread id alone repeat across containers (luigi is pid 1 in each) that share the data root
        tmp = f"{directory}/.{final.name}.tmp-{os.getpid()}-{secrets.token_hex(6)}"
        try:
            # os-level calls and no fsync: at a thousand answers a second each costs CPU the HTTP workers need
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


class SerialWriter:
    """Runs file writes one at a time on one thread, while the callers wait for their own.

    Hundreds of worker threads creating cache files at once contend for the
    file system's locks (measured: a third more CPU per answer at 256 in
    flight, most of it kernel time); queued on one thread the same writes are
    cheaper, and each caller still returns only once its entry is in place, so
    a kill loses no more than before. The thread leaves after a few idle
    seconds and comes back on the next write.
    """

    IDLE_S = 5.0

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[[], None], threading.Event, list[BaseException]]] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def run(self, write: Callable[[], None]) -> None:
        done, failure = threading.Event(), []
        self._queue.put((write, done, failure))
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="teacher-cache-writer", daemon=True)
                self._thread.start()
        done.wait()
        if failure:
            raise failure[0]

    def _serve(self) -> None:
        while True:
            try:
                write, done, failure = self._queue.get(timeout=self.IDLE_S)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():  # a caller that queued meanwhile finds no thread and starts one
                        self._thread = None
                        return
                continue
            try:
                write()
            except BaseException as exc:  # handed to the caller, who raises it
                failure.append(exc)
            finally:
                done.set()
