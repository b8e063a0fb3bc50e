"""The workers of one process in a teacher stage call: threads, or coroutines on one event loop.

Both take queries (``submit_many``) and hand each query's response row, or the
exception that stops the stage, to ``finish`` (the event loop several at a
time); both resolve a query with the same steps (:meth:`~fitsense_luigi.teacher.stage.StageRun.resolve_steps`), so
caching, claims, re-asks, samples, negotiation and the breaker are one code.
They differ in how they wait. :class:`ThreadWorkers` gives each request in
flight a thread, which waits in place (any provider, any route, paced or not).
:class:`AsyncWorkers` runs coroutines on one event-loop thread with the
asyncio client (:mod:`.aio_client`): no thread per request, so no GIL
hand-over per step of every answer. With 256 in flight and 200 ms per answer
one process went from 0.45 to 0.61 of C / L that way on this machine
(``bench/bench_teacher.py``, quiet, page cache dropped first). A coroutine
carries its host slot from one query to the next: once an answer is stored and
judged healthy (``SENT``) the rest of that query (its checks, its row, a
re-ask) goes to a task of its own, and the coroutine sends its next queued
request at once, in the same pass of the loop. The tasks are let on one per
pass in which no answer arrived, so answers that arrive meanwhile are never
queued behind a round of checks. Handing the slot to another coroutine instead cost each answer a pass
of the loop or two, and a pass holds everything that became ready in the one
before it: 128 answers of a round read in one pass went out again only when
all 128 were stored. The steps of queued queries are started while the loop
waits for answers (their request body and cache key built), so what stands
between an answer and the next request is the answer's own work: its read, its
cache entry, the next request's claim and its write.
A cache entry is committed by the loop itself where that is cheap (a row of
the cache's database: about a tenth of a millisecond), else written by the cache's
writer threads while its coroutine waits
(:meth:`~fitsense_luigi.teacher.cache.ResponseCache.put_then`): the loop never
stands still for a file or an S3 round trip.
The event loop is used wherever the asyncio client can stand in for the
provider (:func:`~fitsense_luigi.teacher.aio_client.usable_for`); a claim that
another process holds is waited for on a thread, never on the loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from fitsense_luigi.teacher import aio_client

if TYPE_CHECKING:
    from fitsense_luigi.teacher.stage import StageRun

log = logging.getLogger("fitsense.teacher")
SLOT_POLL_S = 0.05  # a coroutine without a host slot looks again this often (another process holds them all)
HAND_OVER_S = 0.01  # the event loop hands finished queries over this often, together
BUSY_PASSES = 8  # passes of the loop with answers arriving that a rest waits out, at most
PREPARED_PER_PASS = 8  # queued queries whose steps are started in one quiet pass of the loop (~0.05 ms each)
Finished = list[tuple[int, Any]]  # (query index, response row or the exception that stops the stage), each
Finish = Callable[[Finished], None]


Job = tuple[int, Any, Any]  # (query index, query, its first lookup)


Start = tuple[bool, Any] | BaseException | None  # a query's first step (``advance``'s pair), or what it raised


class _Queued:
    """A query waiting for a coroutine, with its steps once they are started (:meth:`AsyncWorkers._start`):
    ``start`` is their first step (``advance``'s pair) or the error they raised before it."""

    __slots__ = ("first", "index", "query", "start", "steps")

    def __init__(self, index: int, query: Any, first: Any) -> None:
        self.index, self.query, self.first = index, query, first
        self.steps: Any = None
        self.start: Start = None


class Workers(Protocol):
    def submit_many(self, jobs: list[Job]) -> None: ...

    def cut_in_flight(self) -> None: ...

    def shutdown(self, cancel: bool = False) -> None: ...


def workers_for(stage: StageRun, size: int, finish: Finish) -> Workers:
    """The event loop where the asyncio client serves this stage's provider (``teacher.transport: auto``), else
    threads."""
    if stage.config.teacher.transport == "auto" and size > 1 and aio_client.usable_for(stage.provider):
        return AsyncWorkers(stage, size, finish)
    return ThreadWorkers(stage, size, finish)


def _release_when_held(waiting: Future[Any]) -> None:
    """Give back a claim that was got for a coroutine no longer there (on the thread that got it)."""
    if not waiting.cancelled() and waiting.exception() is None:
        waiting.result()()


def _stopped() -> BaseException:
    from fitsense_luigi.teacher.stage import _Stopped

    return _Stopped()


def _job(stage: StageRun, deliver: Callable[[int, Any], None], index: int, query: Any, first: Any, result: Any) -> None:
    """Hand a finished query over; anything but a stop stops the stage at once (this worker takes no more)."""
    from fitsense_luigi.teacher.stage import _Stopped

    if isinstance(result, BaseException) and not isinstance(result, _Stopped):
        stage.stop.set()
    deliver(index, result)


class ThreadWorkers:
    def __init__(self, stage: StageRun, size: int, finish: Finish) -> None:
        self.stage, self.finish = stage, finish
        self.pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="teacher")
        self._waiting = 0  # queries handed over and not started
        self._lock = threading.Lock()

    def submit_many(self, jobs: list[Job]) -> None:
        with self._lock:
            self._waiting += len(jobs)
        for job in jobs:
            self.pool.submit(self._run, *job)

    def _run(self, index: int, query: Any, first: Any) -> None:
        with self._lock:
            self._waiting -= 1
        try:
            result: Any = self.stage.resolve(query, first)
        except BaseException as exc:  # handed over, raised by the stage call
            result = exc
        with self._lock:
            idle = not self._waiting
        if idle and self.stage.slots is not None:  # nothing left for this thread: its slot to whoever waits
            self.stage.slots.release_mine()
        _job(self.stage, self._deliver, index, query, first, result)

    def _deliver(self, index: int, result: Any) -> None:
        self.finish([(index, result)])

    def cut_in_flight(self) -> None:
        if hasattr(self.stage.provider, "cut_in_flight"):
            self.stage.provider.cut_in_flight()

    def shutdown(self, cancel: bool = False) -> None:
        self.pool.shutdown(wait=True, cancel_futures=cancel)


class AsyncWorkers:
    def __init__(self, stage: StageRun, size: int, finish: Finish) -> None:
        self.stage, self.size, self.finish = stage, size, finish
        self.client = aio_client.AsyncEndpoint(stage.provider)  # type: ignore[arg-type]
        self.loop = asyncio.new_event_loop()
        self.queue: asyncio.Queue[_Queued | None] | None = None
        self.tasks: list[asyncio.Task[None]] = []
        # host slots: carried by coroutines from query to query; one given up goes to the first waiter for one
        self._holding = 0  # slots this process holds (at most ``size``)
        self._waiting: collections.deque[asyncio.Future[int | None]] = collections.deque()
        self._rests: set[asyncio.Task[None]] = set()  # what is left of queries whose answers are stored
        self._turns: collections.deque[asyncio.Future[None]] = collections.deque()  # rests waiting to go on
        self._turner: asyncio.Task[None] | None = None
        self._done: list[tuple[int, Any]] = []  # finished queries not handed over yet
        self._answers = 0  # answers read so far (rests and queries started ahead wait for a pass without one)
        self._unstarted: collections.deque[_Queued] = collections.deque()  # queued, steps not started yet
        self._starter: asyncio.Task[None] | None = None
        # claims another run holds are waited for here, never on the loop
        self.claim_waiters = ThreadPoolExecutor(thread_name_prefix="teacher-claim-waiter")
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="teacher-event-loop", daemon=True)
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        finally:
            self.client.close()
            self.claim_waiters.shutdown(wait=False)  # a waiter cut off gives its claim back when it gets it
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    async def _main(self) -> None:
        self.queue = asyncio.Queue()
        self.tasks = [asyncio.create_task(self._worker()) for _ in range(self.size)]
        self._ready.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        while self._rests:  # the queries whose answers came last
            await asyncio.gather(*self._rests, return_exceptions=True)
        for helper in (self._turner, self._starter):  # rests cut while waiting, queries never taken: nothing to do
            if helper is not None:
                helper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await helper
        self._hand_over()

    def submit_many(self, jobs: list[Job]) -> None:
        """Queued for the coroutines with one wake-up of the loop."""
        self.loop.call_soon_threadsafe(self._queue_jobs, jobs)

    def _queue_jobs(self, jobs: list[Job]) -> None:
        assert self.queue is not None
        for job in jobs:
            item = _Queued(*job)
            self.queue.put_nowait(item)
            self._unstarted.append(item)
        if self._starter is None or self._starter.done():
            self._starter = asyncio.create_task(self._start_ahead())

    async def _worker(self) -> None:
        """Queries one after another, the host slot carried from one to the next while more wait (and nobody
        waits for a slot: a re-ask, or a coroutine that has none)."""
        assert self.queue is not None
        held: list[int | None] = []  # the host slot this coroutine carries, while it does
        try:
            while True:
                if held and (self.queue.empty() or self._waiting):
                    self._pass(held.pop())
                item = await self.queue.get()
                if item is None:
                    return
                await self._query(item, held)
        finally:
            if held:
                self._pass(held.pop())

    async def _query(self, item: _Queued, held: list[int | None]) -> None:
        """One query up to its ``SENT`` (the rest goes to a task of its own), or to its end."""
        if item.steps is None:
            self._start(item)
        index, query, first, steps = item.index, item.query, item.first, item.steps
        try:
            sent, result = await self._drive(steps, held, until_sent=True, start=item.start)
        except asyncio.CancelledError:  # cut: no answer came for it, none was paid
            _job(self.stage, self._finished, index, query, first, _stopped())
            raise
        except BaseException as exc:
            sent, result = False, exc
        if not sent:
            _job(self.stage, self._finished, index, query, first, result)
            return
        rest = asyncio.create_task(self._rest(index, query, first, steps))
        self._rests.add(rest)
        rest.add_done_callback(self._rests.discard)

    async def _rest(self, index: int, query: Any, first: Any, steps: Any) -> None:
        """What is left of a query whose answer is stored and judged healthy: its checks and row (a re-ask
        takes a slot again), when its turn comes."""
        try:
            await self._turn()
            _, result = await self._drive(steps, [], until_sent=False)
        except asyncio.CancelledError:
            _job(self.stage, self._finished, index, query, first, _stopped())
            raise
        except BaseException as exc:
            result = exc
        _job(self.stage, self._finished, index, query, first, result)

    async def _drive(
        self, steps: Any, held: list[int | None], until_sent: bool, start: Start = None
    ) -> tuple[bool, Any]:
        """:meth:`StageRun.drive`, awaited: (False, the result) at the end of ``steps``, or (True, None) at their
        ``SENT`` when ``until_sent`` (the slot stays in ``held``). ``start``: their first step when they were
        started ahead (:meth:`_start`). A host slot is held from the query's first ``SLOT``; claims held by
        others are waited for on a thread."""
        from fitsense_luigi.teacher.stage import SENT, SLOT, Claim, Put, advance

        stage = self.stage
        reply: Any = None
        error: BaseException | None = None
        try:
            while True:
                if start is None:
                    finished, step = advance(steps, reply, error)
                elif isinstance(start, BaseException):
                    raise start
                else:
                    (finished, step), start = start, None
                if finished:
                    return False, step
                error = None
                try:
                    if step is SLOT:
                        if not held:
                            held.append(await self._slot())
                        reply = not stage.stop.is_set()
                    elif step is SENT:
                        if until_sent:
                            return True, None
                        if held:
                            self._pass(held.pop())
                        reply = None
                    elif isinstance(step, Claim):
                        reply = stage.store.try_claim(step.key)
                        if reply is None:  # another process is asking the same: wait for it off the loop
                            reply = await self._claim_off_loop(step.key)
                    elif isinstance(step, Put):  # stored before this coroutine goes on (by the loop, or beside it)
                        reply = await self._stored(step)
                    else:
                        if not held:
                            held.append(await self._slot())
                        reply = await self.client.complete(step.request)
                        self._answers += 1
                except BaseException as exc:  # into the steps, whose cleanup (a claim's release) runs
                    error = exc
        finally:
            if held and not until_sent:  # a rest's slot (a re-ask's); a coroutine's own is its to carry on
                self._pass(held.pop())

    # -- finished queries: handed over together, every HAND_OVER_S
    def _finished(self, index: int, result: Any) -> None:
        """Each hand-over wakes the calling process's feeding thread, or sends a message from a helper: once per
        answer, that thread took the GIL from this loop a thousand times a second. Queries wait ahead in the
        lanes (twice ``teacher.concurrency``), so the feed never runs dry for these 10 ms."""
        if not self._done:
            self.loop.call_later(HAND_OVER_S, self._hand_over)
        self._done.append((index, result))

    def _hand_over(self) -> None:
        done, self._done = self._done, []
        if done:
            self.finish(done)

    # -- the rests of queries: one let on per quiet pass of the loop
    async def _turn(self) -> None:
        """Wait for this rest's turn (:meth:`_let_on`), so what became ready meanwhile (answers, and the requests
        sent after them) goes first. An answer's checks and row take about a third of a millisecond;
        128 of them in one pass held the answers that arrived during it for 40 ms."""
        turn: asyncio.Future[None] = self.loop.create_future()
        self._turns.append(turn)
        if self._turner is None or self._turner.done():
            self._turner = asyncio.create_task(self._let_on())
        await turn

    async def _let_on(self) -> None:
        """Let the rests on, one per pass of the loop in which no answer arrived (at most ``BUSY_PASSES`` passes
        in a row are skipped): the first round's answers arrive together, and a rest let on between two of
        them held every answer after it (its checks: a tenth of a millisecond or more)."""
        skipped = 0
        while self._turns:
            seen = self._answers
            await asyncio.sleep(0)  # one pass of the loop
            if self._answers != seen and skipped < BUSY_PASSES:
                skipped += 1
                continue
            skipped = 0
            turn = self._turns.popleft()
            if not turn.done():  # a rest cut meanwhile no longer waits
                turn.set_result(None)

    # -- queued queries: their steps started ahead, in quiet passes
    def _start(self, item: _Queued) -> None:
        """Start a query's steps up to their first wait: its request is built and its cache key hashed (the body
        with the schema is ~5 kB of canonical JSON: 0.05 ms), the work of every query before it needs a slot."""
        from fitsense_luigi.teacher.stage import advance

        item.steps = self.stage.resolve_steps(item.query, item.first)
        try:
            item.start = advance(item.steps, None, None)
        except BaseException as exc:  # raised again by the coroutine that takes the query
            item.start = exc

    async def _start_ahead(self) -> None:
        """Start the steps of queued queries, ``PREPARED_PER_PASS`` per pass of the loop in which no answer
        arrived, while the loop would wait for answers anyway: a coroutine whose answer is stored then sends
        its next request without building it first. When the first round's answers crowd in, that work took
        0.1 ms of CPU per query, a fifth of what stood between an answer and the next request. A query taken
        before its turn is started by its coroutine."""
        while self._unstarted and not self.stage.stop.is_set():
            seen = self._answers
            await asyncio.sleep(0)  # one pass of the loop
            if self._answers != seen:
                continue
            for _ in range(PREPARED_PER_PASS):
                while self._unstarted and self._unstarted[0].steps is not None:  # taken meanwhile
                    self._unstarted.popleft()
                if not self._unstarted:
                    break
                self._start(self._unstarted.popleft())

    # -- host slots: held by a coroutine from its first query's SLOT while it has queries to send
    async def _slot(self) -> int | None:
        """A host slot: handed over by a coroutine of this process that gave one up, or taken from the
        host while this process holds fewer than its share (looked at again every ``SLOT_POLL_S`` while other
        processes hold the rest)."""
        from fitsense_luigi.teacher.stage import _Stopped

        slots = self.stage.slots
        while not self.stage.stop.is_set():
            if slots is None:
                if self._holding < self.size:
                    self._holding += 1
                    return None
            elif self._holding < self.size:
                fd = slots.take()
                if fd is not None:
                    self._holding += 1
                    return fd
            handed: asyncio.Future[int | None] = self.loop.create_future()
            self._waiting.append(handed)
            polling = slots is not None and self._holding < self.size
            try:
                if polling:
                    await asyncio.wait([handed], timeout=SLOT_POLL_S)
                else:  # awaited itself: a wait() takes one more pass of the loop to wake this
                    await handed
            except asyncio.CancelledError:
                self._leave(handed)
                raise
            if handed.done():
                return handed.result()
            self._waiting.remove(handed)  # nothing handed over meanwhile: look at the host again
        raise _Stopped()

    def _pass(self, slot: int | None) -> None:
        """A slot given up: to the first coroutine waiting for one, else back to the host."""
        while self._waiting:
            handed = self._waiting.popleft()
            if not handed.done():
                handed.set_result(slot)
                return
        self._holding -= 1
        if slot is not None:
            assert self.stage.slots is not None
            self.stage.slots.give_back(slot)

    def _leave(self, handed: asyncio.Future[int | None]) -> None:
        """A waiter cut off: a slot it was handed meanwhile goes on to the next."""
        if handed.done() and not handed.cancelled():
            self._pass(handed.result())
        else:
            with contextlib.suppress(ValueError):
                self._waiting.remove(handed)
            handed.cancel()

    async def _stored(self, step: Any) -> Any:
        """Whether the entry was stored (:meth:`ResponseCache.put`'s reply), or its error raised here.

        Where a write is cheap (a row of the database: about a tenth of a millisecond) the loop writes the entry
        itself, at once: a hand-over to a thread cost each answer 6-21 ms of waiting here (the writer waits for
        the GIL while the loop is busy, then the loop for the writer's callback), and batching the entries of
        one pass of the loop cost a pass. Elsewhere (files, S3) the cache's writer threads write it."""
        if self.stage.store.writes_inline:
            return self.stage.store.put(step.key, step.outcome, step.about, here=True)
        told: asyncio.Future[Any] = self.loop.create_future()

        def settle(outcome: Any) -> None:
            if not told.done():  # a coroutine cut meanwhile no longer waits
                if isinstance(outcome, BaseException):
                    told.set_exception(outcome)
                else:
                    told.set_result(outcome)

        def stored(outcome: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has ended (its coroutines cut): nobody waits
                self.loop.call_soon_threadsafe(settle, outcome)

        self.stage.store.put_then(step.key, step.outcome, step.about, stored)
        return await told

    async def _claim_off_loop(self, key: str) -> Any:
        """The claim on ``key``, waited for on a thread; its release. A coroutine cut while waiting gives the
        claim back as soon as the thread gets it, loop or no loop (else the key stays claimed in this process)."""
        waiting = self.claim_waiters.submit(self.stage.store.claim_now, key)
        try:
            return await asyncio.shield(asyncio.wrap_future(waiting, loop=self.loop))
        except asyncio.CancelledError:
            waiting.add_done_callback(_release_when_held)
            raise

    def cut_in_flight(self) -> None:
        """End every request in flight now: their coroutines are cancelled (no answer came: none was paid), and
        so are the rests of answers already stored (cached: a rerun makes their rows without paying)."""
        self.loop.call_soon_threadsafe(lambda: [task.cancel() for task in [*self.tasks, *self._rests]])

    def shutdown(self, cancel: bool = False) -> None:
        """Let the coroutines finish what they hold (after a stop, each query ends at its next step), then end."""

        def end() -> None:
            assert self.queue is not None
            if cancel:
                self._unstarted.clear()
                while not self.queue.empty():
                    self.queue.get_nowait()
            for _ in self.tasks:
                self.queue.put_nowait(None)

        with contextlib.suppress(RuntimeError):  # the loop has ended already (every coroutine cancelled)
            self.loop.call_soon_threadsafe(end)
        self._thread.join()
