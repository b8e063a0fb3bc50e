"""Content-addressed store of teacher outcomes: never pay twice for a request.

The key hashes everything that can change an answer: the base URL, the full
request body (model, messages, every generation parameter, the response
format with its schema), the response schema version and the prompt-template
version. Entries are shared by every run and shard under the data root (the
runtime hands the cache's directory over as a data root, local or S3), so a
new run id with the same requests costs nothing. Where they live is
:mod:`.entry_store`'s: one SQLite database on a local root (an entry is a
row: written from two processes at once, a file each cost about four times
the CPU), one file or object per entry on S3 and network file systems.

Each entry is stored before its worker sends anything else, so a kill (even
``kill -9``) loses at most the requests in flight. An event loop commits its
entries to the database itself (``put(here=True)``: a row is about a tenth of
a millisecond); threads hand theirs to the writer threads (:class:`Writers`)
and wait: the database's one writer per process commits what is queued as one
transaction, files are written by a few threads, each to a temporary renamed
into place. The hand-over is a queue and a lock of the worker's own, not an
executor's future per write: ``submit`` takes a lock shared by every executor
of the process, and 256 workers queued on it (a seventh of their time under
the GIL). An event loop writing files is told by callback
(:meth:`ResponseCache.put_then`). Nothing is fsync'ed per entry: after a
power cut the last entries may be missing, never wrong; a missing one is a
miss, so those requests are sent again. Only answers the endpoint actually
produced are stored (``FINAL_STATUSES``, and only chat-completion bodies: see
:mod:`.response_body`); time-outs, HTTP errors and bodies that are not
answers are retried next time.

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
from fitsense_luigi.teacher.entry_store import DATABASE, EntryDatabase, EntryFiles, entry_directories, entry_file
from fitsense_luigi.teacher.types import FINAL_STATUSES, TeacherOutcome

log = logging.getLogger("fitsense.teacher.cache")
QUARANTINE = "quarantine"  # damaged entries are moved here, under the cache

# Answers received but not yet written (the write failed), per process: {(cache uri, key): entry bytes}.
_held: dict[tuple[str, str], bytes] = {}
_held_lock = threading.Lock()
Stored = Callable[[bool | BaseException], None]  # told, on a writer thread, whether an entry was stored (or why not)


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
        self._claims: claims.Claims | None = None
        self._files = EntryFiles(root)
        database = root.database_path(DATABASE) if enabled else None
        self._entries: EntryFiles | EntryDatabase = EntryDatabase(root, database) if database else self._files
        self._writers = Writers(self._write_entries, self._entries.threads, self._entries.batch)
        # entries of an earlier version (one file each) are looked for only where there are any: a miss costs
        # no failed open then
        self._earlier = self._files if database and any(entry_directories(root)) else None
        if enabled:
            self.write_held()

    def close(self) -> None:
        """The database's connections closed (a later use opens new ones)."""
        self._entries.close()

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
        source = self._entries
        try:
            data = _held.get((self.root.uri(), key)) if _held else None
            if data is None:
                data = source.read(key)
            if data is None and self._earlier is not None:  # an entry of an earlier version, one file each
                source = self._earlier
                data = source.read(key)
        except (OSError, DataRootError) as exc:
            log.warning("cannot read cache entry %s (%s); the request will be sent again", source.where(key), exc)
            return None
        if data is None:
            return None
        try:
            outcome, about = cache_entry.decode(data, key)
        except ValueError as exc:
            self._quarantine(source, key, data, str(exc))
            return None
        with self._lock:
            self.hits += 1
        return outcome, about

    def put(
        self, key: str, outcome: TeacherOutcome, about: dict[str, Any] | None = None, *, here: bool = False
    ) -> bool:
        """Store a final outcome; False when it is not cacheable (or the cache is off). Returns once it is
        stored. When it cannot be, the answer is held in memory and the write error is raised (one line).

        ``here``: written on the calling thread, where :attr:`writes_inline` says a write is cheap (an event
        loop: a hand-over to the writer thread waits for the GIL, up to 5 ms each way while the loop is busy).
        """
        if not self.enabled or outcome.status not in FINAL_STATUSES:
            return False
        data = cache_entry.encode(key, outcome, about or {})
        try:
            if here:
                self._entries.write([(key, data)])
            else:
                self._writers.write(key, data)
        except (OSError, DataRootError) as exc:
            raise self._hold(key, data, exc) from None
        with self._lock:
            self.writes += 1
        return True

    def put_then(self, key: str, outcome: TeacherOutcome, about: dict[str, Any], then: Stored) -> None:
        """:meth:`put` without waiting: ``then`` is told what :meth:`put` would return or raise (on a writer
        thread, or here when there is nothing to store). For event-loop workers, which must not block."""
        if not self.enabled or outcome.status not in FINAL_STATUSES:
            then(False)
            return
        data = cache_entry.encode(key, outcome, about or {})

        def stored(failure: BaseException | None) -> None:
            if failure is None:
                with self._lock:
                    self.writes += 1
                then(True)
            elif isinstance(failure, (OSError, DataRootError)):
                then(self._hold(key, data, failure))
            else:
                then(failure)

        self._writers.write_then(key, data, stored)

    @property
    def writes_inline(self) -> bool:
        """Whether a write is cheap enough for an event loop to make itself (``put(here=True)``): about a tenth
        of a millisecond in the database, where a file costs an inode and the file system's locks, or an S3
        round trip."""
        return self.enabled and self._entries.inline

    def _hold(self, key: str, data: bytes, exc: OSError | DataRootError) -> DataRootError:
        """Keep an answer whose entry could not be written; the error to raise (one line)."""
        with _held_lock:
            _held[(self.root.uri(), key)] = data
            held = sum(uri == self.root.uri() for uri, _ in _held)
        return DataRootError(
            f"{exc}; the answer is held in memory with the others not yet written ({held}): a retry in this "
            f"process writes them and pays for none again",
            permanent=getattr(exc, "permanent", False),
        )

    def write_held(self) -> int:
        """Write the answers this process holds for this cache (quietly; if the disk still refuses, all stay held)."""
        with _held_lock:
            mine = [(key, data) for (uri, key), data in _held.items() if uri == self.root.uri()]
        if not mine:
            return 0
        try:
            self._entries.write(mine)
        except (OSError, DataRootError):
            return 0  # the disk still refuses: keep them all, try again next time
        with _held_lock:
            for key, _ in mine:
                _held.pop((self.root.uri(), key), None)
        log.info("teacher cache: wrote %d answers held in memory since a failed write", len(mine))
        return len(mine)

    def _quarantine(self, source: EntryFiles | EntryDatabase, key: str, data: bytes, problem: str) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        aside = f"{QUARANTINE}/{entry_file(key).rsplit('/', 1)[-1]}.{stamp}-{secrets.token_hex(3)}"
        try:
            source.set_aside(key, data, aside)
        except FileNotFoundError:
            return  # another reader moved it first
        except (OSError, DataRootError) as exc:
            log.warning(
                "cache entry %s is damaged (%s) and could not be moved aside (%s); the request will be sent again",
                source.where(key),
                problem,
                exc,
            )
            return
        with self._lock:
            self.quarantined += 1
        log.warning(
            "cache entry %s is damaged (%s): moved to %s; the request will be sent again",
            source.where(key),
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
            self.root.write_bytes(self.note_key(name), dumps_row(dict(sorted(note.items()))).encode("utf-8"))
        except (OSError, DataRootError) as exc:  # a note saves a probe next time; losing it costs one request
            log.warning("could not write cache note %s (%s)", self.root.uri(self.note_key(name)), exc)

    def _write_entries(self, entries: list[tuple[str, bytes]]) -> None:
        """What the writer threads call (through a weak reference: they must not keep the cache alive)."""
        self._entries.write(entries)


Job = tuple[str, bytes, Callable[[BaseException | None], None]]  # key, entry, told when it is stored (or why not)


class Writers:
    """The threads that store entries for the workers: each worker hands its entry over and waits for it.

    A worker hands its entry over on a queue and waits on a lock of its own (made once per thread) that the
    writer releases once the entry is stored, or has failed (the worker then raises the writer's error); an
    event-loop worker passes a callback instead (:meth:`write_then`). A writer takes what is queued, up to
    ``batch`` entries, and stores them in one go (the database: one transaction). The threads start with the
    first write and stop once the cache that owns them is gone.
    """

    def __init__(self, write: Callable[[list[tuple[str, bytes]]], None], threads: int, batch: int) -> None:
        self._write = weakref.WeakMethod(write)  # the threads must not keep the cache alive
        self._threads, self._batch = threads, batch
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._local = threading.local()
        self._started = False
        self._lock = threading.Lock()

    def write(self, key: str, data: bytes) -> None:
        """Have ``data`` stored for ``key``; returns once it is (raising what the write raised)."""
        handoff = getattr(self._local, "handoff", None)
        if handoff is None:
            handoff = self._local.handoff = _Handoff()
        handoff.done.acquire()  # released by the writer when the entry is stored
        self.write_then(key, data, handoff.finish)
        handoff.done.acquire()
        handoff.done.release()
        failure, handoff.failure = handoff.failure, None
        if failure is not None:
            raise failure

    def write_then(self, key: str, data: bytes, then: Callable[[BaseException | None], None]) -> None:
        """Have ``data`` stored for ``key``; ``then`` is called on a writer thread with None or the error."""
        if not self._started:
            self._start()
        self._jobs.put((key, data, then))

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            for n in range(self._threads):
                name = f"teacher-cache-writer_{n}"
                args = (self._jobs, self._write, self._batch)
                threading.Thread(target=_serve, args=args, name=name, daemon=True).start()
            weakref.finalize(self, _stop, self._jobs, self._threads)
            self._started = True


class _Handoff:
    __slots__ = ("done", "failure")

    def __init__(self) -> None:
        self.done = threading.Lock()
        self.failure: BaseException | None = None

    def finish(self, failure: BaseException | None) -> None:
        self.failure = failure
        self.done.release()


def _serve(
    jobs: queue.SimpleQueue[Job | None],
    write: weakref.WeakMethod[Callable[[list[tuple[str, bytes]]], None]],
    batch: int,
) -> None:
    ending = False
    while not ending and (job := jobs.get()) is not None:
        taken = [job]
        while len(taken) < batch:  # whatever else is queued goes in the same commit
            try:
                more = jobs.get_nowait()
            except queue.Empty:
                break
            if more is None:
                ending = True
                break
            taken.append(more)
        do = write()
        failure: BaseException | None = None
        try:
            if do is None:
                raise DataRootError(f"the teacher cache was closed before {len(taken)} entries were written")
            do([(key, data) for key, data, _ in taken])
        except BaseException as exc:  # the workers raise it, as if they had written their entries themselves
            failure = exc
        do = None  # holding no reference to the cache while waiting: it may go, and these threads with it
        for _, _, then in taken:
            try:
                then(failure)
            except Exception:  # a waiter's own trouble must not end the writer that every worker needs
                log.exception("teacher cache: telling a worker that its entry was stored failed")


def _stop(jobs: queue.SimpleQueue[Job | None], threads: int) -> None:
    for _ in range(threads):
        jobs.put(None)
