"""Where the teacher cache keeps its entries: one SQLite database on a local root, one file per entry elsewhere.

Why a database: an entry is 6 kB, written once, read by key, and the teacher
stage writes a thousand a second from two processes. Written as the stage
writes them (two processes at once, four threads each), a file cost 0.58-0.66
ms of CPU per entry on this VM's ext4, mostly the kernel's (the file system's
locks and an inode each), and a row of the database 0.15-0.16 ms
(``bench/bench_cache_store.py --entries 4000``, three runs). From one thread
alone a file is cheaper (0.035-0.044 ms against 0.07-0.10), which is not how
the stage writes. A row is also cheap and steady enough for the stage's event
loop to commit itself, with no thread hand-over (which cost each answer 6-21 ms
of waiting for the GIL), and a cache of a million answers is one file, not a
million.

The database (:class:`EntryDatabase`, ``entries.sqlite`` under the cache) is
shared by every process and run under the data root as the files were:

* **WAL mode**: readers never wait for a writer and see every committed
  entry. Writers take turns through a ``flock`` on ``entries.sqlite.writer``
  (the kernel wakes the next one when a commit ends; SQLite's own busy handler
  sleeps 1, 2, 5, 10 ms between tries). An event loop commits each entry
  itself; threads hand theirs to one writer thread per process, which commits
  what is queued as one transaction (:class:`~fitsense_luigi.teacher.cache.Writers`).
* **A kill loses at most what was not committed**: a commit is in the kernel
  once it returns (``kill -9`` included), and a transaction cut halfway is
  rolled back by the next reader. As before, nothing is fsync'ed per entry
  (``synchronous = NORMAL``: the log is synced at checkpoints only); after a
  power cut the last commits may be missing, never half there, and the
  database stays consistent (WAL with NORMAL, sqlite.org/wal.html).
  Checkpoints run on a thread of their own (:class:`_Checkpointer`).
* Before committing, the writer raises the audit event ``fitsense.teacher.commit``
  (PEP 578; free without a hook), where the kill tests stop the process.

On a root that cannot hold an SQLite database (an object store: S3; a network
file system, whose hosts cannot share a write-ahead log) each entry is one
file or object, ``<k[:2]>/<k>.json`` (:class:`EntryFiles`): that is also the
layout earlier versions wrote on local roots, so their entries are still read
(a miss in the database looks there when the cache has such files).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import logging
import os
import queue
import shutil
import sqlite3
import sys
import threading
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path

from fitsense_luigi.contracts.dataroot import DataRoot
from fitsense_luigi.errors import DataRootError

log = logging.getLogger("fitsense.teacher.cache")
DATABASE = "entries.sqlite"  # under the cache's root
WRITER_LOCK = "entries.sqlite.writer"  # flock'ed by the process whose turn it is to write
TABLE = "entries"
COMMIT_EVENT = "fitsense.teacher.commit"  # audit event raised with the database's path before each commit
BUSY_TIMEOUT_S = 120.0  # another process's commit takes milliseconds; a checkpoint on a slow disk, seconds
BATCH = 256  # entries committed at most in one transaction
CHECKPOINT_EVERY = 400  # entries (about 1,000 pages of 4 kB, SQLite's own default) between checkpoints
LOG_BOUND_BYTES = 64 << 20  # a write-ahead log this large is checkpointed in full and truncated
FULL_BELOW = 1 << 20  # bytes free under which SQLite's "disk I/O error" is a full disk
HEX = frozenset("0123456789abcdef")
STALE_TEMPORARY_S = 600.0  # a temporary this old belongs to a write that was killed

# SQLite's result codes as the file-system errors they stand for (their words reach the user, one line)
_ERRNO_OF = {
    13: errno.ENOSPC,  # SQLITE_FULL
    8: errno.EROFS,  # SQLITE_READONLY
    14: errno.EACCES,  # SQLITE_CANTOPEN
    3: errno.EPERM,  # SQLITE_PERM
    23: errno.EPERM,  # SQLITE_AUTH
    10: errno.EIO,  # SQLITE_IOERR
}
_DAMAGED = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB: no retry mends the file


def _full(path: Path) -> bool:
    """Whether the file system holding ``path`` has (next to) no space left."""
    try:
        return shutil.disk_usage(path.parent).free < FULL_BELOW
    except OSError:
        return False


def entry_file(key: str) -> str:
    """Where an entry lives as a file, relative to the cache's root."""
    return f"{key[:2]}/{key}.json"


def entry_directories(root: DataRoot) -> Iterator[str]:
    """The directories of entry files under the cache's root (``00`` ... ``ff``)."""
    return (name for name in root.subdirectories("") if len(name) == 2 and all(c in HEX for c in name))


class EntryFiles:
    """One file (or object) per entry: written to a temporary that is renamed into place (see the DataRoot)."""

    threads = 4  # files created at once: hundreds contended in the kernel, one alone left the cores idle
    batch = 1
    inline = False  # a file costs an inode (or an S3 round trip): written on threads beside an event loop

    def __init__(self, root: DataRoot) -> None:
        self.root = root
        self._directories: set[str] = set()

    def where(self, key: str) -> str:
        return self.root.uri(entry_file(key))

    def read(self, key: str) -> bytes | None:
        """The entry's bytes, None when there is none; other errors are raised (``OSError``, ``DataRootError``)."""
        try:
            return self.root.read_bytes(entry_file(key))
        except FileNotFoundError:
            return None

    def write(self, entries: Iterable[tuple[str, bytes]]) -> None:
        """The first write to a directory sweeps the temporaries of killed writes there (by age: several
        processes and hosts write here at once, so a pid says nothing)."""
        for key, data in entries:
            where = entry_file(key)
            directory = where.rsplit("/", 1)[0]
            if directory not in self._directories:
                self.root.sweep_temporaries(directory, older_than_s=STALE_TEMPORARY_S)
                self._directories.add(directory)
            self.root.write_bytes(where, data)

    def set_aside(self, key: str, data: bytes, to: str) -> None:
        """Move the damaged entry to ``to`` (``FileNotFoundError``: another reader moved it first)."""
        self.root.move_aside(entry_file(key), to)

    def close(self) -> None:
        """Nothing held open."""


@functools.cache
def _insert(count: int) -> str:
    return f"INSERT OR REPLACE INTO {TABLE} (key, entry) VALUES {', '.join(['(?, ?)'] * count)}"


def _lock_file(path: Path) -> int | None:
    """A descriptor of the writers' lock file; None where it cannot be made (SQLite's own locking still holds)."""
    try:
        return os.open(path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError:
        return None


class EntryDatabase:
    """The entries of one cache in one SQLite database (WAL), shared by every process under the data root."""

    threads = 1  # one writer per process: SQLite commits one transaction at a time anyway
    batch = BATCH
    inline = True  # a write is about a tenth of a millisecond: an event loop does it itself, no thread hand-over

    def __init__(self, root: DataRoot, path: Path) -> None:
        self.root, self.path = root, path
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._generation = 0  # raised by close(): connections of an earlier generation are closed
        self._lock = threading.Lock()
        self._writing = threading.Lock()  # this process's writers take turns (one descriptor's flock is shared)
        self._unchecked = 0  # entries this process wrote since it last asked for a checkpoint
        self._turn_fd = _lock_file(root.lock_path(WRITER_LOCK))
        if self._turn_fd is not None:
            weakref.finalize(self, os.close, self._turn_fd)
        self._connection()  # made (and checked) now: a cache that cannot be written fails before anything is bought

    def where(self, key: str) -> str:
        return f"{self.path} (key {key})"

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (SQLite connections are not shared between threads, nor across a fork)."""
        held = getattr(self._local, "held", None)
        if held is not None and held[0] == (os.getpid(), self._generation):
            return held[1]  # type: ignore[no-any-return]
        try:
            connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA wal_autocheckpoint = 0")  # checkpoints run on a thread of their own
            connection.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (key TEXT PRIMARY KEY, entry BLOB NOT NULL)")
        except sqlite3.Error as exc:
            raise self._failure(exc, "open the teacher cache database") from None
        self._local.held = ((os.getpid(), self._generation), connection)
        with self._lock:
            self._opened.append(connection)
        return connection

    def read(self, key: str) -> bytes | None:
        try:
            row = self._connection().execute(f"SELECT entry FROM {TABLE} WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise self._failure(exc, "read from") from None
        return bytes(row[0]) if row is not None else None

    def write(self, entries: Iterable[tuple[str, bytes]]) -> None:
        """All of ``entries`` in one transaction, or none (the error raised, one line)."""
        entries = list(entries)
        values = [value for entry in entries for value in entry]
        with self.writers_turn():
            connection = self._connection()
            try:
                sys.audit(COMMIT_EVENT, str(self.path))
                connection.execute(_insert(len(entries)), values)  # one statement: its own transaction
            except sqlite3.Error as exc:
                raise self._failure(exc, "write to") from None
            self._unchecked += len(entries)
            if self._unchecked >= CHECKPOINT_EVERY:
                self._unchecked = 0
                _checkpointer().ask(self)

    @contextlib.contextmanager
    def writers_turn(self) -> Iterator[None]:
        """No other writer of this process, nor of any other process, writes while this is held."""
        with self._writing, self._turn():
            yield

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """This process's turn to write. Another process's commit is waited for in the kernel (``flock`` wakes
        the waiter when it ends): SQLite's own busy handler sleeps 1, 2, 5, 10... ms between tries, and every
        worker waiting for its entry waited with it (13-21 ms per answer at 256 in flight)."""
        if self._turn_fd is None:
            yield
            return
        fcntl.flock(self._turn_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._turn_fd, fcntl.LOCK_UN)

    def set_aside(self, key: str, data: bytes, to: str) -> None:
        """Write the damaged entry's bytes to the file ``to``, then take it out (unless it was replaced meanwhile)."""
        self.root.write_bytes(to, data)
        try:
            self._connection().execute(f"DELETE FROM {TABLE} WHERE key = ? AND entry = ?", (key, data))
        except sqlite3.Error as exc:
            raise self._failure(exc, "write to") from None

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
            self._generation += 1
        for connection in opened:
            connection.close()

    def _failure(self, exc: sqlite3.Error, doing: str) -> DataRootError:
        """One line: the database, SQLite's words and, for what the file system refused, the root's own wording
        (path, free space, what to do)."""
        result = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        code = _ERRNO_OF.get(result)
        if code == errno.EIO and _full(self.path):  # a log or shared-memory file that could not grow
            code = errno.ENOSPC
        if code is not None:
            return self.root.failure(OSError(code, f"{os.strerror(code)} ({exc})"), DATABASE, doing)
        if result in _DAMAGED:
            return DataRootError(
                f"cannot {doing} {self.path}: {exc}; move it aside (its answers are then bought again) or restore "
                f"it from a backup",
                permanent=True,
            )
        return DataRootError(f"cannot {doing} {self.path}: {exc}")


class _Checkpointer:
    """Copies the write-ahead log into the database, on its own thread.

    SQLite's automatic checkpoint runs inside the commit that crosses its threshold, syncing the disk: a 5-10 ms
    stall of whichever thread committed, the event loop of the teacher stage included, every few hundred
    answers. Here the writers only ask; one thread per process does it (without the GIL, beside them) with a
    passive checkpoint, which waits for no reader or writer. Under a steady stream of commits a passive
    checkpoint never quite finishes, and the log only starts again from its beginning after one that did: it
    grew by every entry (62 MB for 2,000 entries). So when the log is over ``LOG_BOUND_BYTES`` the checkpoint
    takes the writers' turn (every process's writers wait for it, for one sync of the disk) and truncates it.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._asked: queue.SimpleQueue[weakref.ref[EntryDatabase]] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="teacher-cache-checkpoint", daemon=True).start()

    def ask(self, database: EntryDatabase) -> None:
        self._asked.put(weakref.ref(database))

    def _run(self) -> None:
        while True:
            database = self._asked.get()()
            if database is None:
                continue  # closed and gone: its last connection checkpointed it
            try:
                checkpoint(database)
            except (sqlite3.Error, OSError) as exc:  # the log grows meanwhile; readers and writers go on
                log.warning("teacher cache: checkpoint of %s failed (%s); will try again", database.path, exc)
            del database


def checkpoint(database: EntryDatabase) -> None:
    """A passive checkpoint; a full one, the log truncated, when the log is over ``LOG_BOUND_BYTES``."""
    with contextlib.closing(sqlite3.connect(database.path, timeout=BUSY_TIMEOUT_S)) as connection:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        log_file = database.path.with_name(database.path.name + "-wal")
        if log_file.exists() and log_file.stat().st_size > LOG_BOUND_BYTES:
            with database.writers_turn():
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


_checkpointers: list[_Checkpointer] = []
_checkpointers_lock = threading.Lock()


def _checkpointer() -> _Checkpointer:
    """This process's checkpointer (a forked child starts its own)."""
    with _checkpointers_lock:
        if not _checkpointers or _checkpointers[0].pid != os.getpid():
            _checkpointers[:] = [_Checkpointer()]
        return _checkpointers[0]
