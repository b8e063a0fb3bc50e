"""A deadline per request: connect plus the whole answer, however slowly the server sends it.

Socket time-outs (urllib3's ``read``, even its ``total``) bound each *read*:
a server that sends one byte a second, in the headers or in the body, never
trips them, and a request can last for ever (a daily cron job behind ``flock
-n`` then exits 10 every day after). So every request runs under a
:class:`Deadline`; one watcher thread per process keeps them in a heap and,
when one passes, shuts the request's socket down: the blocked read returns at
once, whatever phase it was in, and the client reports a time-out.

The socket is found without touching urllib3's internals beyond its public
extension point: the connection class of the pool (``ConnectionCls``) is
replaced by a subclass that hands its socket to the deadline of the thread's
current request when it connects and when it sends (a kept-alive connection
is reused by the next request). :meth:`Watcher.cut_all` ends every request in
flight at once (SIGTERM: no answer is worth waiting for past the grace period).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any


class Deadline:
    """One request's deadline; ``expired`` says whether the watcher cut it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._sock: socket.socket | None = None
        self._done = False
        self._lock = threading.Lock()

    def watch(self, sock: Any) -> None:
        """The socket this request uses (cut at once if the deadline already passed)."""
        with self._lock:
            self._sock = sock
            cut = self.expired and not self._done
        if cut:
            _shutdown(sock)

    def expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            sock = self._sock
        if sock is not None:
            _shutdown(sock)

    def finish(self) -> None:
        with self._lock:
            self._done = True
            self._sock = None

    @property
    def finished(self) -> bool:
        """The request ended (in time or not): nothing left to cut."""
        return self._done


def _shutdown(sock: Any) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class Watcher:
    """The process's deadlines, in a heap, and the one thread that enforces them.

    A request takes the heap's lock once (to push its deadline) and wakes the watcher only when its deadline is
    the earliest: hundreds of threads taking one lock twice per request, each push waking the watcher, made a
    lock convoy that cost more CPU per answer than the HTTP client (``bench/bench_teacher.py``, C = 256). A
    finished request's deadline stays in the heap, marked done, until the watcher reaches it or the heap is
    rebuilt without the finished ones (when it has doubled since the last rebuild).
    """

    PRUNE_AT_LEAST = 1024  # finished deadlines the heap may hold before it is rebuilt without them

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._wake = threading.Condition()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._local = threading.local()
        self._pruned = 0  # the heap's size after its last rebuild

    @contextlib.contextmanager
    def deadline(self, seconds: float) -> Iterator[Deadline]:
        """The calling thread's request runs inside this block; its socket is cut when ``seconds`` pass."""
        deadline = Deadline(seconds)
        with self._wake:
            if self._thread is None or not self._thread.is_alive():
                self._start()
            if len(self._heap) > 2 * self._pruned + self.PRUNE_AT_LEAST:
                self._heap = [entry for entry in self._heap if not entry[2].finished]
                heapq.heapify(self._heap)
                self._pruned = len(self._heap)
            heapq.heappush(self._heap, (deadline.at, next(self._seq), deadline))
            if self._heap[0][2] is deadline:  # the earliest now: the watcher must wait for this one instead
                self._wake.notify()
        self._local.current = deadline
        try:
            yield deadline
        finally:
            self._local.current = None
            deadline.finish()

    def current(self) -> Deadline | None:
        return getattr(self._local, "current", None)

    def cut_all(self) -> int:
        """Expire every request in flight now; how many there were."""
        with self._wake:
            active = [entry[2] for entry in self._heap if not entry[2].finished]
        for deadline in active:
            deadline.expire()
        return len(active)

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="teacher-deadlines", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0][2].finished:
                    heapq.heappop(self._heap)  # finished in time
                if not self._heap:
                    self._wake.wait()
                    continue
                at, _, deadline = self._heap[0]
                wait = at - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                heapq.heappop(self._heap)
            deadline.expire()


WATCHER = Watcher()


def watched(connection_class: type) -> type:
    """``connection_class`` whose socket is handed to the calling thread's current deadline."""

    class Watched(connection_class):  # type: ignore[misc, valid-type]
        def connect(self) -> None:
            super().connect()
            self._hand_over()

        def request(self, *args: Any, **kwargs: Any) -> Any:
            self._hand_over()
            return super().request(*args, **kwargs)

        def _hand_over(self) -> None:
            deadline = WATCHER.current()
            sock = getattr(self, "sock", None)
            if deadline is not None and sock is not None:
                deadline.watch(sock)

    Watched.__name__ = Watched.__qualname__ = f"Watched{connection_class.__name__}"
    return Watched
