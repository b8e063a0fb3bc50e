"""``teacher.concurrency`` requests in flight on one host, however many worker processes run the stage.

Each worker (thread or coroutine) that sends to the endpoint first takes one
of C slot locks (``flock`` on C files in a per-endpoint directory of the host's
temp dir), so that two ``--workers`` processes or two runs on one host share
the budget instead of doubling it. A worker keeps its slot while it has work
and gives it back when its queue runs dry (:meth:`HostSlots.give_back`);
whatever is left is released when the stage call ends, and by the kernel when
the process dies, so a kill never leaks one. With work-
ahead, the first process usually answers the whole stage and the others wait
for their shard's lock anyway; the slots make the bound hold whatever the
timing. Hosts (or containers, whose temp dirs are their own) each have their
own C.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import os
import random
import tempfile
import threading
from pathlib import Path

POLL_S = 0.05


def _slot_name(slot: int) -> str:
    return f"slot-{slot:04d}"


class HostSlots:
    def __init__(self, endpoint: str, capacity: int, stop: threading.Event, root: Path | None = None) -> None:
        digest = hashlib.sha256(endpoint.encode()).hexdigest()[:16]
        self.dir = (root or Path(tempfile.gettempdir())) / f"fitsense-teacher-slots-{os.getuid()}" / digest
        self.capacity, self.stop = capacity, stop
        self._local = threading.local()
        self._held: list[tuple[int, int]] = []  # (slot, fd) this process holds
        # The slots this process does not hold, in the order its threads try them: a thread never tries a
        # slot another thread of the process holds (256 threads picking files at random tried ~C ln C
        # files at the stage's start, about a latency of 200 ms at C = 256 on two loaded cores). The
        # order starts at a random slot so that processes sharing the host collide less.
        start = random.randrange(capacity)
        self._untried: collections.deque[int] = collections.deque((start + k) % capacity for k in range(capacity))
        self._lock = threading.Lock()
        self.tries = 0  # lock attempts (each an open and a flock): the cost of taking slots
        self._made = False  # the slots' directory exists
        with contextlib.suppress(OSError):  # else the first take names the problem
            self._make_files()

    def _make_files(self) -> None:
        """The C slot files, made now (by the stage call, before any request), where missing: a file made by a
        first take cost a tenth of a millisecond on ext4, and a helper process that made its share of 256 that
        way sent its first round 25 ms after the calling process."""
        self.dir.mkdir(parents=True, exist_ok=True)
        present = set(os.listdir(self.dir))
        for slot in range(self.capacity):
            name = _slot_name(slot)
            if name not in present:
                os.close(os.open(self.dir / name, os.O_CREAT | os.O_RDWR, 0o600))
        self._made = True

    def hold(self) -> bool:
        """Block until this thread holds a slot (it keeps it until ``release_all``); False if the stage stops."""
        if getattr(self._local, "fd", None) is not None:
            return True
        while not self.stop.is_set():
            fd = self._take()
            if fd is not None:
                self._local.fd = fd
                return True
            self.stop.wait(POLL_S)
        return False

    def take(self) -> int | None:
        """One more slot for this process, tied to no thread (an asyncio worker's), if one is free now: its
        handle for :meth:`give_back`, else None."""
        return self._take()

    def give_back(self, fd: int) -> None:
        """Let another process (or worker) have this slot: a worker with nothing left to send gives its slot
        back, or two processes that each hold some slots while a worker of each waits for one would wait for
        ever (each call keeps its slots until it ends, and neither can end)."""
        with self._lock:
            mine = [(slot, held) for slot, held in self._held if held == fd]
            self._held = [(slot, held) for slot, held in self._held if held != fd]
            self._untried.extend(slot for slot, _ in mine)
        if mine:
            os.close(fd)

    def release_mine(self) -> None:
        """:meth:`give_back` of the slot this thread holds, if any."""
        fd = getattr(self._local, "fd", None)
        if fd is not None:
            self._local.fd = None
            self.give_back(fd)

    def _take(self) -> int | None:
        """Lock the first free slot this process does not hold (once round them); its descriptor, or None."""
        if not self._made:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._made = True
        with self._lock:
            left = len(self._untried)
        for _ in range(left):  # once round the slots this process does not hold
            with self._lock:
                if not self._untried:
                    break
                slot = self._untried.popleft()
                self.tries += 1
            fd = os.open(self.dir / _slot_name(slot), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another process holds it: try it again after the others
                os.close(fd)
                with self._lock:
                    self._untried.append(slot)
                continue
            with self._lock:
                self._held.append((slot, fd))
            return fd
        return None

    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def release_all(self) -> None:
        with self._lock:
            held, self._held = self._held, []
            self._untried.extend(slot for slot, _ in held)
        for _, fd in held:
            os.close(fd)
