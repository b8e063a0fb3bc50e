"""One builder per stage, even when two invocations of the same run start at once.

Luigi's own guards (luigid, or the pid lock keyed on the exact command line)
miss two different command lines for the same run id, e.g. a cron job and a
manual rerun. Every task therefore takes an exclusive ``flock`` on its stage
before building; the second process waits, then finds the stage complete and
does nothing. ``flock`` is released by the kernel when a holder dies, so a
killed run never leaves a stale lock. A lock file is opened with ``O_NOFOLLOW``
(its directory comes from the data root, which makes it without following
links): a link planted at its name, dangling or not, is refused instead of
creating or locking a file wherever it points.

A run in use: every process that schedules a run that exists, or builds any of
its stages, holds a *shared* lock on the run's ``run.lock`` for as long as it
lives (:func:`hold_shared`), so pruning, which needs the *exclusive* lock to
remove a run, never removes a run some live process works on, between its
tasks included.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from fitsense_luigi.pipeline.roots.local import link_error, storage_error

log = logging.getLogger("fitsense.locks")

_held: dict[Path, int] = {}  # run locks this process holds shared until it exits: path -> descriptor


LOCK_FLAGS = os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_lock(path: Path) -> int:
    try:
        return os.open(path, LOCK_FLAGS, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise link_error(path) from None
        raise storage_error(exc, path, "open the lock") from None


@contextlib.contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _open_lock(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("%s is being built by another process; waiting for it", what)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def hold_shared(path: Path, *, create: bool = True) -> None:
    """Hold a shared lock on ``path`` until this process exits (idempotent); waits while a prune removes the run.

    ``create=False``: only if the run already has its lock directory (nothing is written for a run not yet made).
    After the wait the lock file may have been removed with the run: the lock
    is then taken again on the file as it is now, so that it still guards the run.
    """
    if path in _held or (not create and not path.parent.is_dir()):
        return
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open_lock(path)
        fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            _held[path] = fd
            return
        os.close(fd)


@contextlib.contextmanager
def exclusive_if_free(path: Path) -> Iterator[bool]:
    """The exclusive lock on ``path`` if nobody holds it now (True), else False at once; never creates the file."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def try_exclusive(path: Path) -> Callable[[], None] | None:
    """The lock at ``path`` if no other holder has it (the caller releases it), else None; never waits.

    The teacher stage uses it to work ahead on another shard that nobody is building.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _open_lock(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return lambda: os.close(fd)
