"""The teacher stage over several processes on one host: ``teacher.concurrency`` in flight without one GIL.

At 256 requests in flight and 200 ms per answer an endpoint gives 1,280 answers
a second, and each answer costs the stage about a millisecond of Python (the
request body and its cache key, the claim, the HTTP exchange, the cache write,
the checks): more than one core, and a process's Python runs on one core at a
time. One process stayed CPU-bound at 0.45 of C / L with a thread per request
and 0.61 on an event loop (:mod:`.workers`); two processes reached 0.78-0.83
(three 0.74, four 0.63: ``bench/bench_teacher.py`` on 2 cores, quiet), and
0.83-0.875 once cache entries were rows of a database (:mod:`.entry_store`)
and a slot went to the next request before an answer was judged, 0.88-0.90
once each coroutine carried its slot to its next query, results and queries
crossed in batches and answers bought ahead were judged for validity alone
(three processes: no better, in alternating runs), 0.88-0.91 (0.905 on
average over 27 runs) once queued queries were made ready while answers were
awaited and the helpers got their first share before the calling process
(:meth:`Lanes.flush`).
So a stage call with many requests in flight runs them in *lanes*: its own thread pool and ``processes - 1`` helper
processes, each with its share of the workers (:mod:`.workers`: coroutines on
an event loop, or threads). The call hands every request to
the lane with the fewest outstanding for its size (a quarter of the
concurrency at a time) and receives the response rows back, several to a
message; nothing else changes. Each helper resolves its requests with the very
code of the calling process (:class:`~fitsense_luigi.teacher.stage.StageRun`:
cache, claims, re-asks, samples, negotiation, breaker) and writes every answer
to the shared cache as it arrives, so a kill anywhere loses only the requests
in flight, as before. Host-wide limits stay whole: every process takes its
requests' slots from the same :class:`~fitsense_luigi.teacher.slots.HostSlots`
files, and ``requests_per_minute`` / ``tokens_per_minute`` are split evenly
between the call's processes.

Helpers are started once per process (``spawn``: a fresh interpreter, never a
fork of a process with threads) and kept for the next stage call: the second
shard pays no start-up, and answers a helper holds in memory after a failed
cache write (:mod:`.cache`) are written by the same helper on Luigi's retry.
A helper leaves when its parent goes (end of file on its pipe: it stops
sending, gives the answers in flight ``TERM_GRACE_S`` to arrive and be cached,
then exits), ignores Ctrl-C (the parent's decision), and on its own SIGTERM
stops sending and tells the parent, which stops the stage.
"""

from __future__ import annotations

import contextlib
import copyreg
import io
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from fitsense_luigi.errors import TeacherStageError
from fitsense_luigi.teacher.workers import workers_for

if TYPE_CHECKING:
    import queue

    from fitsense_luigi.config import Config
    from fitsense_luigi.contracts.dataroot import DataRoot
    from fitsense_luigi.teacher.stage import StageRun

log = logging.getLogger("fitsense.teacher.fanout")
PER_PROCESS = 64  # requests in flight that keep one process's core busy: fewer per process waste the start-up
READY_S = 60.0  # a helper that has not started by then is left out (a loaded host, a broken interpreter)
END_S = 30.0  # a helper still busy this long after its stage call ended is stopped


def process_count(config: Config, cores: int | None = None) -> int:
    """How many processes a stage call with ``teacher.concurrency`` in flight uses (1: no helpers).

    ``teacher.processes``: a number, or ``auto`` = one per core, each carrying at least ``PER_PROCESS``
    requests in flight (at C = 32 one process keeps 0.96 of C / L: a helper would only cost its start-up).
    """
    t = config.teacher
    wanted = t.processes
    if wanted == "auto":
        wanted = min(cores or os.cpu_count() or 1, t.concurrency // PER_PROCESS)
    return max(1, min(int(wanted), t.concurrency))


def shares(concurrency: int, processes: int) -> list[int]:
    """Threads per lane: ``concurrency`` split as evenly as it goes, the calling process's lane first."""
    base, extra = divmod(concurrency, processes)
    return [base + (k < extra) for k in range(processes)]


@dataclass
class _Helper:
    process: Any  # multiprocessing.Process
    conn: Connection
    send_lock: threading.Lock
    parent: int = field(default_factory=os.getpid)  # a forked child (Luigi's --workers) starts its own

    def send(self, message: tuple[Any, ...]) -> None:
        with self.send_lock:
            self.conn.send(message)

    def alive(self) -> bool:
        return self.parent == os.getpid() and bool(self.process.is_alive())


_helpers: list[_Helper] = []  # this process's helpers, kept between stage calls
_helpers_lock = threading.Lock()


def _start(count: int) -> list[_Helper]:
    """``count`` helpers of this process, started now where missing (they load the pipeline in parallel)."""
    with _helpers_lock:
        _helpers[:] = [h for h in _helpers if h.parent == os.getpid() and h.alive()]
        ctx = multiprocessing.get_context("spawn")
        while len(_helpers) < count:
            ours, theirs = ctx.Pipe()
            process = ctx.Process(target=helper_main, args=(theirs,), name="fitsense-teacher-helper", daemon=True)
            process.start()
            theirs.close()
            _helpers.append(_Helper(process, ours, threading.Lock()))
        return list(_helpers[:count])


def close_helpers() -> None:
    """Let this process's helpers go (they leave at once: no stage call is running)."""
    with _helpers_lock:
        helpers, _helpers[:] = list(_helpers), []
    for helper in helpers:
        if helper.parent != os.getpid():
            continue  # the parent's, inherited by a fork: the parent lets them go
        helper.conn.close()  # end of file: an idle helper returns
        helper.process.join(5)
        if helper.process.is_alive():
            helper.process.terminate()
            helper.process.join(5)


def _drop(helper: _Helper) -> None:
    with _helpers_lock:
        if helper in _helpers:
            _helpers.remove(helper)
    helper.process.terminate()
    helper.process.join(5)
    helper.conn.close()


Result = tuple[int, Any]  # (query index, response row or the exception that stops the stage)


class Lanes:
    """The stage call's thread pool and its helpers' pools, fed as one: ``submit`` and results on ``finished``."""

    def __init__(
        self,
        config: Config,
        cache_root: DataRoot,
        run_id: str | None,
        stage: StageRun,
        finished: queue.SimpleQueue[Result],
        on_verdict: Callable[[TeacherStageError], None],
        processes: int,
    ) -> None:
        self.finished, self.on_verdict = finished, on_verdict
        sizes = shares(config.teacher.concurrency, processes)
        self.helpers = _start(processes - 1) if processes > 1 else []
        self.sizes = sizes[: 1 + len(self.helpers)]
        self.outstanding = [0] * len(self.sizes)
        self._lock = threading.Lock()
        self._readers: list[threading.Thread] = []
        self._ended: list[threading.Event] = []
        begun: list[_Helper] = []
        for lane, helper in enumerate(self.helpers, start=1):
            try:
                helper.send(("begin", _config_bytes(config), cache_root, run_id, self.sizes[lane], processes))
            except (OSError, ValueError, TypeError, pickle.PicklingError) as exc:
                log.warning("teacher: helper process %d not used (%s)", helper.process.pid, exc)
                continue
            begun.append(helper)
        self.helpers = self._wait_ready(begun)
        self.sizes = [sizes[0] + sum(sizes[1 + len(self.helpers) :]), *sizes[1 : 1 + len(self.helpers)]]
        self.outstanding = [0] * len(self.sizes)
        self._unsent: list[list[tuple[int, Any, Any]]] = [[] for _ in self.sizes]  # per lane, until flush()
        self.local = workers_for(stage, self.sizes[0], self._local_done)
        for lane, helper in enumerate(self.helpers, start=1):
            ended = threading.Event()
            reader = threading.Thread(
                target=self._read, args=(lane, helper, ended), name=f"teacher-lane-{lane}", daemon=True
            )
            reader.start()
            self._readers.append(reader)
            self._ended.append(ended)
        if self.helpers:
            log.info(
                "teacher: %d requests in flight over %d processes (%s each; teacher.processes)",
                sum(self.sizes),
                len(self.sizes),
                "/".join(map(str, self.sizes)),
            )

    def _wait_ready(self, helpers: list[_Helper]) -> list[_Helper]:
        ready = []
        deadline = time.monotonic() + READY_S
        for helper in helpers:
            try:
                if helper.conn.poll(max(deadline - time.monotonic(), 0.0)) and helper.conn.recv() == ("ready",):
                    ready.append(helper)
                    continue
            except (EOFError, OSError):
                pass
            log.warning("teacher: helper process %d did not start; its share runs here", helper.process.pid)
            _drop(helper)
        return ready

    # -- feeding
    def submit(self, index: int, query: Any, first: Any) -> None:
        """Hand a query to the lane with the fewest outstanding for its size; it leaves with :meth:`flush`."""
        with self._lock:
            lane = min(range(len(self.sizes)), key=lambda k: (self.outstanding[k] / self.sizes[k], k))
            self.outstanding[lane] += 1
        self._unsent[lane].append((index, query, first))

    def flush(self) -> None:
        """Send what was handed over, a message or two per lane: a message (and a wake-up of a lane's event loop)
        per query cost the feeding thread the GIL a thousand times a second against the loop that sends.

        The helpers' first share (as many queries as each has workers) goes before this process's loop gets its
        own, the rest after: at the stage's start a helper's 250 queries were 2.5 MB to pickle, send and unpickle,
        and the first round's last request reached the endpoint 42 ms after its first on average (2-79 ms; the
        endpoint half idle meanwhile). Later flushes hold a quarter of the concurrency: one message per lane."""
        unsent, self._unsent = self._unsent, [[] for _ in self.sizes]
        for lane, jobs in enumerate(unsent[1:], start=1):
            self._send_jobs(lane, jobs[: self.sizes[lane]])
        if unsent[0]:
            self.local.submit_many(unsent[0])
        for lane, jobs in enumerate(unsent[1:], start=1):
            self._send_jobs(lane, jobs[self.sizes[lane] :])

    def _send_jobs(self, lane: int, jobs: list[tuple[int, Any, Any]]) -> None:
        if not jobs:
            return
        try:
            self.helpers[lane - 1].send(("jobs", [(i, q, _portable(f)) for i, q, f in jobs]))
        except (OSError, ValueError) as exc:
            with self._lock:
                self.outstanding[lane] -= len(jobs)
            for index, _, _ in jobs:
                error = TeacherStageError(f"teacher helper process lost: {exc}", permanent=False)
                self.finished.put((index, error))

    def _local_done(self, results: list[Result]) -> None:
        with self._lock:
            self.outstanding[0] -= len(results)
        for result in results:
            self.finished.put(result)

    def waiting(self) -> int:
        """Requests handed over but not yet started (the helpers': beyond their threads)."""
        with self._lock:
            local = self.outstanding[0] - min(self.outstanding[0], self.sizes[0])
            return local + sum(max(0, n - size) for n, size in zip(self.outstanding[1:], self.sizes[1:], strict=True))

    # -- results
    def _read(self, lane: int, helper: _Helper, ended: threading.Event) -> None:
        from fitsense_luigi.teacher.stage import _Stopped

        while True:
            try:
                message = helper.conn.recv()
            except (EOFError, OSError):
                helper.process.join(1)  # gone: reaped at once
                code = helper.process.exitcode
                with self._lock:
                    lost, self.outstanding[lane] = self.outstanding[lane], 0
                error = TeacherStageError(
                    f"teacher helper process {helper.process.pid} ended (exit {code}) with "
                    f"{lost} requests outstanding; the answers it received are cached, a rerun sends the rest",
                    permanent=False,
                )
                self.on_verdict(error)
                for _ in range(lost):
                    self.finished.put((-1, error))
                ended.set()
                return
            kind = message[0]
            if kind == "ended":
                ended.set()
                return
            if kind == "verdict":
                self.on_verdict(TeacherStageError(message[1], permanent=message[2]))
                continue
            results: list[Result] = []
            for reply in message[1]:  # "results": the queries the helper finished since its last message
                kind, index, payload = reply[:3]
                result: Any = payload
                if kind == "stopped":
                    result = _Stopped()
                elif kind == "error":
                    result = TeacherStageError(payload, permanent=reply[3])
                results.append((index, result))
            with self._lock:
                self.outstanding[lane] -= len(results)
            for item in results:
                self.finished.put(item)

    # -- ending
    def stop(self) -> None:
        """No request leaves any lane from now on (the answers in flight still arrive and are cached)."""
        self.flush()  # queries handed over and not sent yet end at once, each with its result
        for helper in self.helpers:
            self._tell(helper, ("stop",))

    def cut_in_flight(self) -> None:
        self.local.cut_in_flight()
        for helper in self.helpers:
            self._tell(helper, ("cut",))

    def shutdown(self, cancel: bool = False) -> None:
        """Wait for every lane's requests (after ``stop`` they end at once); helpers go back to waiting."""
        if cancel:
            self.stop()
        self.flush()
        self.local.shutdown(cancel)
        for helper, reader, ended in zip(self.helpers, self._readers, self._ended, strict=True):
            self._tell(helper, ("end",))
            if not ended.wait(END_S):
                log.warning("teacher: helper process %d did not finish its requests; stopped", helper.process.pid)
                _drop(helper)
            reader.join(END_S)

    @staticmethod
    def _tell(helper: _Helper, message: tuple[Any, ...]) -> None:
        with contextlib.suppress(OSError, ValueError):  # gone already: its reader reports it
            helper.send(message)


def _config_bytes(config: Config) -> bytes:
    """The config pickled with its read-only mappings (``MappingProxyType``) as plain dicts made read-only again."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, types.MappingProxyType: _proxy_reduce}
    pickler.dump(config)
    return buffer.getvalue()


def _proxy_reduce(proxy: types.MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    return _read_only, (dict(proxy),)


def _read_only(mapping: dict[Any, Any]) -> types.MappingProxyType[Any, Any]:
    return types.MappingProxyType(mapping)


def _portable(first: Any) -> Any:
    """``stage.MISS`` and ``stage.AHEAD`` are compared by identity: they cross the pipe as names."""
    from fitsense_luigi.teacher.stage import AHEAD, MISS

    return "miss" if first is MISS else "ahead" if first is AHEAD else first


# ---------------------------------------------------------------- the helper process


def helper_main(conn: Connection) -> None:
    """Serve stage calls (``begin`` ... ``end``) until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # between calls nothing is in flight: just go
    from fitsense_luigi.teacher import stage as _stage  # the pipeline's import, in the child

    del _stage
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message[0] == "begin" and not _serve_call(conn, pickle.loads(message[1]), *message[2:]):
            return


def _reply(index: int, result: Any) -> tuple[Any, ...]:
    """What the parent is told of one finished query."""
    from fitsense_luigi.teacher.stage import _Stopped

    if isinstance(result, _Stopped):
        return ("stopped", index, None)
    if isinstance(result, TeacherStageError):
        return ("error", index, str(result), result.permanent)
    if isinstance(result, BaseException):  # a bug: the parent stops the stage with its text
        log.error("teacher helper: %s", "".join(traceback.format_exception(result)))
        return ("error", index, f"teacher helper process: {type(result).__name__}: {result}", False)
    return ("row", index, result if index >= 0 else None)  # work ahead (-1): its shard makes its own row


def _serve_call(
    conn: Connection, config: Config, cache_root: DataRoot, run_id: str | None, threads: int, processes: int
) -> bool:
    """One stage call's share; False when the parent has gone."""
    from fitsense_luigi.teacher.stage import AHEAD, MISS, TERM_GRACE_S, StageRun

    send_lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with send_lock:
            try:
                conn.send(message)
            except (OSError, ValueError):
                stage.stop.set()  # the parent has gone: send nothing more

    stage = StageRun(config, cache_root, run_id, processes=processes)
    told: list[TeacherStageError] = []

    def on_sigterm(signum: int, frame: Any) -> None:
        stage.judge_health(
            TeacherStageError(f"teacher helper process {os.getpid()} got SIGTERM: stopping the stage", permanent=False)
        )

    previous = signal.signal(signal.SIGTERM, on_sigterm)

    def finish(results: list[tuple[int, Any]]) -> None:
        """One message for the queries finished together (the event loop hands them over every few ms)."""
        replies = [_reply(index, result) for index, result in results]
        if stage.verdict and not told:
            told.append(stage.verdict[0])
            send(("verdict", str(stage.verdict[0]), stage.verdict[0].permanent))
        send(("results", replies))

    pool = workers_for(stage, threads, finish)
    send(("ready",))
    parent_gone = False
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                parent_gone = True
                stage.stop.set()
                break
            kind = message[0]
            if kind == "jobs":
                pool.submit_many(
                    [(i, q, MISS if f == "miss" else AHEAD if f == "ahead" else f) for i, q, f in message[1]]
                )
            elif kind == "stop":
                stage.stop.set()
            elif kind == "cut":
                pool.cut_in_flight()
            elif kind == "end":
                break
    finally:
        if parent_gone:  # the answers in flight get their grace to arrive and be cached, then are cut
            waiter = threading.Thread(target=pool.shutdown, kwargs={"cancel": True})
            waiter.start()
            waiter.join(TERM_GRACE_S)
            if waiter.is_alive():
                pool.cut_in_flight()
            waiter.join()
        else:
            pool.shutdown(cancel=stage.stop.is_set())
        stage.close()
        signal.signal(signal.SIGTERM, previous)
    if not parent_gone:
        send(("ended",))
    return not parent_gone
