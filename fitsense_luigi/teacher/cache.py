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
more CPU per answer at 256 in flight; measured again: 1.7 against 1.2 ms of
system CPU per answer). The hand-over is a queue and a lock of the worker's own
(:class:`Writers`), not an executor's future per write: ``submit`` takes a lock
shared by every executor of the process, and the stage's 256 workers queued on
it (a seventh of their time under the GIL). A write killed before its rename leaves
a temporary that the next writer of that directory removes once it is ten
minutes old (several processes share the cache, so age, not pid, marks it as
abandoned). Only answers the endpoint actually produced are stored
(``FINAL_STATUSES``, and only chat-completion bodies: see :mod:`.response_body`);
time-outs, HTTP errors and bodies that are not answers are retried next time.

Entries are checked when read (:mod:`.cache_entry`): a damaged one is named,
moved into ``quarantine/`` and its request asked again, never served.

An answer whose entry cannot be written (a full disk, a read-only file system)
is **held in memory** (per process, per cache) and the write error stops the
stage in one line: no more requests are bought that could not be kept, and a
retry of the task in the same process (Luigi's, minutes later) finds the held
answers, writes them once the disk takes them, and does not pay again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import queue
import secrets
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from fitsense_luigi.contracts.dataroot import DataRoot
from fitsense_luigi.contracts.encoding import dumps_row
from fitsense_luigi.errors import DataRootError
from fitsense_luigi.teacher import cache_entry, claims
from fitsense_luigi.teacher.canonical import canonical, canonical_body
from fitsense_luigi.teacher.types import FINAL_STATUSES, TeacherOutcome

log = logging.getLogger("fitsense.teacher.cache")
WRITERS = 4  # threads that create entry files; the workers wait for their own entry
STALE_TEMPORARY_S = 600.0  # a temporary this old belongs to a write that was killed
QUARANTINE = "quarantine"  # damaged entries are moved here, under the cache

# Answers received but not yet written (the write failed), per process: {entry uri: entry bytes}.
_held: dict[str, bytes] = {}
_held_lock = threading.Lock()


def _nothing() -> None:
    """The release of a claim that was not needed."""


def cache_key(base_url: str | None, body: dict[str, Any], schema_version: str, template_version: str) -> str:
    """sha256 of the canonical JSON of endpoint, body and versions (:mod:`.canonical`)."""
    return key_of_body_text(base_url, canonical_body(body), schema_version, template_version)


def key_of_body_text(base_url: str | None, body_text: str, schema_version: str, template_version: str) -> str:
    """:func:`cache_key` of a body whose canonical text is at hand (a request makes it once)."""
    text = (
        f'{{"base_url":{canonical((base_url or "").rstrip("/"))},"body":{body_text},'
        f'"schema_version":{canonical(schema_version)},"template_version":{canonical(template_version)}}}'
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, root: DataRoot, enabled: bool = True) -> None:
        self.root = root
        self.enabled = enabled
        self.hits = 0
        self.writes = 0
        self.quarantined = 0
        self._lock = threading.Lock()
        self._directories: set[str] = set()
        self._claims: claims.Claims | None = None
        self._writers = Writers(self._write_now)
        if enabled:
            self.write_held()

    def entry_key(self, key: str) -> str:
        """Where the entry for ``key`` lives, relative to the cache's root."""
        return f"{key[:2]}/{key}.json"

    @contextlib.contextmanager
    def claim(self, key: str) -> Iterator[None]:
        """While this process asks for ``key``, other processes sharing the cache wait for its answer
        (:mod:`.claims`); a no-op when the cache is off."""
        if not self.enabled:
            yield
            return
        if not claims.Claims.supported:
            with claims.claimed(self.root.lock_path(claims.claim_key(key))):
                yield
            return
        with self._key_claims().claimed(key):
            yield

    def _key_claims(self) -> claims.Claims:
        if self._claims is None:
            with self._lock:
                if self._claims is None:
                    self._claims = claims.Claims(self.root.lock_path(claims.CLAIMS_FILE))
        return self._claims

    def claim_now(self, key: str) -> Callable[[], None]:
        """:meth:`claim` held from now on (after waiting for another holder); returns its release."""
        held = self.claim(key)
        held.__enter__()
        return lambda: held.__exit__(None, None, None)

    def try_claim(self, key: str) -> Callable[[], None] | None:
        """The claim on ``key`` if nobody holds it now (its release), else None; never waits."""
        if not self.enabled:
            return _nothing
        if not claims.Claims.supported:
            return claims.try_claimed(self.root.lock_path(claims.claim_key(key)))
        return self._key_claims().try_claimed(key)

    def get(self, key: str) -> TeacherOutcome | None:
        found = self.lookup(key)
        return found[0] if found else None

    def lookup(self, key: str) -> tuple[TeacherOutcome, dict[str, Any]] | None:
        """The stored outcome and what was recorded about it (``about``: endpoint, versions, paying run)."""
        if not self.enabled:
            return None
        where = self.entry_key(key)
        data = _held.get(self.root.uri(where)) if _held else None  # (making the uri costs more than a missing file)
        try:
            if data is None:
                data = self.root.read_bytes(where)
        except FileNotFoundError:
            return None
        except (OSError, DataRootError) as exc:
            log.warning("cannot read cache entry %s (%s); the request will be sent again", self.root.uri(where), exc)
            return None
        try:
            outcome, about = cache_entry.decode(data, key)
        except ValueError as exc:
            self._quarantine(where, str(exc))
            return None
        with self._lock:
            self.hits += 1
        return outcome, about

    def put(
        self, key: str, outcome: TeacherOutcome, about: dict[str, Any] | None = None, *, here: bool = False
    ) -> bool:
        """Store a final outcome; False when it is not cacheable (or the cache is off).

        ``here``: written on the calling thread, not handed to the writer threads (the caller is one already:
        the event loop's workers put from their own few threads, :mod:`.workers`). When the entry cannot be
        written it is held in memory and the write error is raised (one line).
        """
        if not self.enabled or outcome.status not in FINAL_STATUSES:
            return False
        where = self.entry_key(key)
        data = cache_entry.encode(key, outcome, about or {})
        try:
            if here:
                self._write_now(where, data)
            else:
                self._write(where, data)
        except (OSError, DataRootError) as exc:
            with _held_lock:
                _held[self.root.uri(where)] = data
                held = sum(uri.startswith(self.root.uri() + "/") for uri in _held)
            permanent = getattr(exc, "permanent", False)
            raise DataRootError(
                f"{exc}; the answer is held in memory with the others not yet written ({held}): a retry in this "
                f"process writes them and pays for none again",
                permanent=permanent,
            ) from None
        with self._lock:
            self.writes += 1
        return True

    def write_held(self) -> int:
        """Write the answers this process holds for this cache (quietly; those that still fail stay held)."""
        prefix = self.root.uri() + "/"
        with _held_lock:
            mine = {uri: data for uri, data in _held.items() if uri.startswith(prefix)}
        written = 0
        for uri, data in mine.items():
            where = uri[len(prefix) :].lstrip("/")
            try:
                self._write(where, data)
            except (OSError, DataRootError):
                break  # the disk still refuses: keep them all, try again next time
            with _held_lock:
                _held.pop(uri, None)
            written += 1
        if written:
            log.info("teacher cache: wrote %d answers held in memory since a failed write", written)
        return written

    def _quarantine(self, where: str, problem: str) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        aside = f"{QUARANTINE}/{where.rsplit('/', 1)[-1]}.{stamp}-{secrets.token_hex(3)}"
        try:
            self.root.move_aside(where, aside)
        except FileNotFoundError:
            return  # another reader moved it first
        except (OSError, DataRootError) as exc:
            log.warning(
                "cache entry %s is damaged (%s) and could not be moved aside (%s); the request will be sent again",
                self.root.uri(where),
                problem,
                exc,
            )
            return
        with self._lock:
            self.quarantined += 1
        log.warning(
            "cache entry %s is damaged (%s): moved to %s; the request will be sent again",
            self.root.uri(where),
            problem,
            self.root.uri(aside),
        )

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
        except (OSError, ValueError, DataRootError) as exc:
            log.warning("ignoring unreadable cache note %s (%s)", self.root.uri(self.note_key(name)), exc)
            return None
        return note if isinstance(note, dict) else None

    def put_note(self, name: str, note: dict[str, Any]) -> None:
        if not self.enabled:
            return
        try:
            self._write(self.note_key(name), dumps_row(dict(sorted(note.items()))).encode("utf-8"))
        except (OSError, DataRootError) as exc:  # a note saves a probe next time; losing it costs one request
            log.warning("could not write cache note %s (%s)", self.root.uri(self.note_key(name)), exc)

    def _write(self, where: str, data: bytes) -> None:
        """Whole (not fsync'ed, see above); the first write to a directory sweeps abandoned temporaries there.

        Several processes and hosts write here at once, so a temporary's age,
        not its pid, says that it was abandoned (a write takes milliseconds).
        """
        self._writers.write(where, data)  # returns once the entry is in place

    def _write_now(self, where: str, data: bytes) -> None:
        directory = where.rsplit("/", 1)[0]
        if directory not in self._directories:
            self.root.sweep_temporaries(directory, older_than_s=STALE_TEMPORARY_S)
            self._directories.add(directory)
        self.root.write_bytes(where, data)


Job = tuple[str, bytes, "_Handoff"]


class Writers:
    """``WRITERS`` threads that write entries for the workers, each worker waiting for its own write.

    A worker hands its entry over on a queue and waits on a lock of its own (made once per thread) that the
    writer releases once the entry is in place, or has failed (the worker then raises the writer's error).
    The threads start with the first write and stop once the cache that owns them is gone.
    """

    def __init__(self, write: Callable[[str, bytes], None]) -> None:
        self._write = weakref.WeakMethod(write)  # the threads must not keep the cache alive
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._local = threading.local()
        self._started = False
        self._lock = threading.Lock()

    def write(self, where: str, data: bytes) -> None:
        """Have ``data`` written at ``where``; returns once it is (raising what the write raised)."""
        if not self._started:
            self._start()
        handoff = getattr(self._local, "handoff", None)
        if handoff is None:
            handoff = self._local.handoff = _Handoff()
        handoff.done.acquire()  # released by the writer when the entry is in place
        self._jobs.put((where, data, handoff))
        handoff.done.acquire()
        handoff.done.release()
        failure, handoff.failure = handoff.failure, None
        if failure is not None:
            raise failure

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            for n in range(WRITERS):
                name = f"teacher-cache-writer_{n}"
                threading.Thread(target=_serve, args=(self._jobs, self._write), name=name, daemon=True).start()
            weakref.finalize(self, _stop, self._jobs)
            self._started = True


class _Handoff:
    __slots__ = ("done", "failure")

    def __init__(self) -> None:
        self.done = threading.Lock()
        self.failure: BaseException | None = None


def _serve(jobs: queue.SimpleQueue[Job | None], write: weakref.WeakMethod[Callable[[str, bytes], None]]) -> None:
    while (job := jobs.get()) is not None:
        where, data, handoff = job
        do = write()
        try:
            if do is None:
                raise DataRootError(f"the teacher cache was closed before {where} was written")
            do(where, data)
            handoff.failure = None
        except BaseException as exc:  # the worker raises it, as if it had written the entry itself
            handoff.failure = exc
        do = None  # holding no reference to the cache while waiting: it may go, and these threads with it
        handoff.done.release()


def _stop(jobs: queue.SimpleQueue[Job | None]) -> None:
    for _ in range(WRITERS):
        jobs.put(None)
