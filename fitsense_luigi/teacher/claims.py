"""One request in flight per cache key across processes: a second run waits for the answer instead of buying it.

Two runs that share the teacher cache (a cron run and a manual one, two run ids of the same day, a worker on
another shard) ask for the same request when their queries coincide. Each looked the key up, missed, and sent
it: the same answer was bought twice (6 of 12 requests in two concurrent runs). So a miss is sent under a
*claim*: an exclusive lock on the key that whoever comes second waits for (a blocked lock call holds no Python
lock), then finds the answer in the cache and pays nothing.

A claim is a one-byte range lock in one file beside the cache, ``claims/keys.lock``, at the offset the key's
first 60 bits name (Linux open-file-description locks, ``F_OFD_SETLKW``: they exclude other processes, and the
kernel drops them when their holder dies, so a killed run never blocks another). Threads of one process share
the file and queue for a key among themselves first (:class:`Claims`). Nothing is created or removed per
claim: a lock file per key (the earlier design, still used where OFD locks do not exist: :func:`claimed`) cost
a file creation and removal per answer, about a third of a millisecond of CPU on a virtual disk, more than
the HTTP client.

A claim that cannot be made (a full or read-only disk) is skipped: the cache write that follows names the
problem. A claim is per host (the lock file of an object-store root is local): across hosts luigid keeps two
workers off one shard. Runs of a version with per-key lock files and of this one do not see each other's
claims: sharing a cache while both run costs at most a request paid twice, never a wrong answer.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

FLAGS = os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
CLAIMS_FILE = "claims/keys.lock"  # the one file of range locks, beside the cache
_OFD_WAIT = getattr(fcntl, "F_OFD_SETLKW", None)  # Linux >= 3.15
_OFD_SET = getattr(fcntl, "F_OFD_SETLK", None)
_RANGE = "hhxxxxqqixxxx"  # struct flock on Linux (64-bit off_t): type, whence, start, len, pid (0 for OFD locks)


def claim_key(key: str) -> str:
    """The per-key lock file of :func:`claimed` (where OFD locks are missing)."""
    return f"claims/{key[:2]}/{key}.lock"


def offset(key: str) -> int:
    """The byte a key's claim locks: its first 60 bits (two keys share one only by a 2^-60 chance)."""
    return int(key[:15], 16)


class Claims:
    """The claims of one cache in one process: range locks in ``path`` on one descriptor, with a queue per key
    among this process's threads (locks of one open file description do not exclude each other)."""

    supported = _OFD_WAIT is not None and _OFD_SET is not None

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._opened = False
        self._lock = threading.Lock()
        self._queues: dict[str, list[threading.Lock | int]] = {}  # key -> [its lock, threads holding or waiting]

    def _descriptor(self) -> int | None:
        if not self._opened:
            with self._lock:
                if not self._opened:
                    try:
                        self.path.parent.mkdir(parents=True, exist_ok=True)
                        self._fd = os.open(self.path, FLAGS, 0o644)
                        weakref.finalize(self, os.close, self._fd)  # closed with the cache that claims through it
                    except OSError:  # a claim saves money, it is not needed for a right answer
                        self._fd = None
                    self._opened = True
        return self._fd

    @contextlib.contextmanager
    def claimed(self, key: str) -> Iterator[None]:
        """Hold the claim on ``key`` (waiting while another thread or process holds it)."""
        fd = self._descriptor()
        if fd is None:
            yield
            return
        own = self._join(key)
        try:
            with own:  # this process's other threads asking for the key wait here, holding no file lock
                start = offset(key)
                try:
                    fcntl.fcntl(fd, _OFD_WAIT, struct.pack(_RANGE, fcntl.F_WRLCK, os.SEEK_SET, start, 1, 0))
                except OSError:  # e.g. a file system without range locks: skipped, as a claim that cannot be made
                    yield
                    return
                try:
                    yield
                finally:
                    fcntl.fcntl(fd, _OFD_SET, struct.pack(_RANGE, fcntl.F_UNLCK, os.SEEK_SET, start, 1, 0))
        finally:
            self._leave(key)

    def _join(self, key: str) -> threading.Lock:
        """This process's lock for ``key``, counted as wanted until :meth:`_leave`."""
        with self._lock:
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = [threading.Lock(), 0]
            queue[1] += 1  # type: ignore[operator]
        return queue[0]  # type: ignore[return-value]

    def _leave(self, key: str) -> None:
        with self._lock:
            queue = self._queues[key]
            queue[1] -= 1  # type: ignore[operator]
            if not queue[1]:
                del self._queues[key]

    def try_claimed(self, key: str) -> Callable[[], None] | None:
        """The claim on ``key`` if no thread or process holds it now (its release), else None; never waits (an
        event loop's coroutines share one thread: they must not queue on :meth:`claimed`'s lock)."""
        fd = self._descriptor()
        if fd is None:
            return _skipped
        own = self._join(key)

        def leave() -> None:
            self._leave(key)

        if not own.acquire(blocking=False):
            leave()
            return None
        start = offset(key)
        try:
            fcntl.fcntl(fd, _OFD_SET, struct.pack(_RANGE, fcntl.F_WRLCK, os.SEEK_SET, start, 1, 0))
        except (BlockingIOError, PermissionError):  # another process holds it (EAGAIN or EACCES)
            own.release()
            leave()
            return None
        except OSError:  # no range locks here: skipped, as a claim that cannot be made

            def skipped() -> None:
                own.release()
                leave()

            return skipped

        def release() -> None:
            try:
                fcntl.fcntl(fd, _OFD_SET, struct.pack(_RANGE, fcntl.F_UNLCK, os.SEEK_SET, start, 1, 0))
            finally:
                own.release()
                leave()

        return release


@contextlib.contextmanager
def claimed(path: Path) -> Iterator[None]:
    """Hold the claim at ``path``, a lock file of its own (waiting while another process holds it); removed when
    the block ends. The lock file is removed by its holder once the answer is cached, so claims leave nothing
    behind; a waiter that wakes on a removed file takes the claim again on the file as it is now (the inode
    check below)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, FLAGS, 0o644)
    except OSError:  # a claim saves money, it is not needed for a right answer; the cache write names the problem
        yield
        return
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with contextlib.suppress(FileNotFoundError):
                if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                    break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder before us removed the file: claim the one there now
        fd = os.open(path, FLAGS, 0o644)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


def try_claimed(path: Path) -> Callable[[], None] | None:
    """The claim at ``path`` if nobody holds it (its release, which removes the file), else None; never waits."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, FLAGS, 0o644)
    except OSError:
        return _skipped
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        current = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
    except (BlockingIOError, FileNotFoundError):
        current = False
    except BaseException:
        os.close(fd)
        raise
    if not current:  # held, or removed by its holder just now: the caller waits for it
        os.close(fd)
        return None

    def release() -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)

    return release


def _skipped() -> None:
    """The release of a claim that could not be made (the cache write that follows names the problem)."""
