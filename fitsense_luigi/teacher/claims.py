"""One request in flight per cache key across processes: a second run waits for the answer instead of buying it.

Two runs that share the teacher cache (a cron run and a manual one, two run ids of the same day, a worker on
another shard) ask for the same request when their queries coincide. Each looked the key up, missed, and sent
it: the same answer was bought twice (6 of 12 requests in two concurrent runs). So a miss is sent under a
*claim*: an exclusive ``flock`` on ``claims/<k[:2]>/<key>.lock`` beside the cache; whoever gets it second
waits (a blocked ``flock`` holds no Python lock), then finds the answer in the cache and pays nothing.

The lock file is removed by its holder once the answer is cached, so claims leave nothing behind; a waiter that
wakes on a removed file takes the claim again on the file as it is now (the check of the inode below). The
kernel releases a claim when its holder dies, so a killed run never blocks another. A claim that cannot be
made (a full or read-only disk) is skipped: the cache write that follows names the problem. A claim is per host (the
lock file of an object-store root is local): across hosts luigid keeps two workers off one shard.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

FLAGS = os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC


def claim_key(key: str) -> str:
    return f"claims/{key[:2]}/{key}.lock"


@contextlib.contextmanager
def claimed(path: Path) -> Iterator[None]:
    """Hold the claim at ``path`` (waiting while another process holds it); removed when the block ends."""
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
