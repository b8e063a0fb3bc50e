"""The host-wide bound on requests in flight, and which shards a stage may work ahead on."""

from __future__ import annotations

import threading

from fitsense_luigi.teacher.slots import HostSlots
from fitsense_luigi.teacher.workahead import ShardClaims


def test_two_stage_calls_on_one_host_share_its_slots(tmp_path):
    stop = threading.Event()
    first, second = HostSlots("http://x/v1|m", 2, stop, tmp_path), HostSlots("http://x/v1|m", 2, stop, tmp_path)
    got = []
    threads = [threading.Thread(target=lambda: got.append(first.hold())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [True, True] and first.held() == 2
    waiter = threading.Thread(target=lambda: got.append(second.hold()))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive(), "a third request on the host waits while two are in flight"
    first.release_all()
    waiter.join(10)
    assert got == [True, True, True] and second.held() == 1
    other = HostSlots("http://elsewhere/v1|m", 2, stop, tmp_path)  # another endpoint has its own budget
    assert other.hold()
    second.release_all()
    other.release_all()


def test_a_stopping_stage_gives_up_waiting_for_a_slot(tmp_path):
    stop = threading.Event()
    busy, waiting = HostSlots("e", 1, stop, tmp_path), HostSlots("e", 1, stop, tmp_path)
    assert busy.hold()
    stop.set()
    assert waiting.hold() is False
    busy.release_all()


def test_claims_skip_shards_that_are_held_or_done():
    released: list[int] = []
    held_elsewhere, done = {1}, {2}
    claims = ShardClaims(
        {1: [{"q": 1}], 2: [{"q": 2}], 3: [{"q": 3}]},
        try_lock=lambda k: None if k in held_elsewhere else (lambda: released.append(k)),
        is_complete=lambda k: k in done,
    )
    assert claims.claim_next() == [{"q": 3}] and claims.claimed == [3]
    assert released == [2], "a finished shard's lock is given back at once"
    assert claims.claim_next() is None
    claims.release_all()
    assert released == [2, 3]


def test_a_process_takes_its_slots_without_trying_the_ones_it_holds(tmp_path):
    """C threads of one process take C slots with C lock attempts: none tries a file a sibling thread holds."""
    stop, capacity = threading.Event(), 64
    slots = HostSlots("e", capacity, stop, tmp_path)
    start = threading.Barrier(capacity)
    got: list[bool] = []

    def take() -> None:
        start.wait()  # all at once, as a stage's workers do when it starts
        got.append(slots.hold())

    threads = [threading.Thread(target=take) for _ in range(capacity)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [True] * capacity and slots.held() == capacity
    assert slots.tries == capacity
    slots.release_all()
    assert slots.held() == 0


def test_slots_another_process_holds_are_skipped_then_taken_when_freed(tmp_path):
    stop = threading.Event()
    other, mine = HostSlots("e", 4, stop, tmp_path), HostSlots("e", 4, stop, tmp_path)
    taken = [threading.Thread(target=other.hold) for _ in range(3)]
    for t in taken:
        t.start()
    for t in taken:
        t.join()
    assert other.held() == 3
    assert mine.hold() and mine.held() == 1, "the one slot nobody holds"
    late = threading.Thread(target=mine.hold)
    late.start()
    late.join(0.3)
    assert late.is_alive(), "all four are held: the next thread waits"
    other.release_all()
    late.join(10)
    assert not late.is_alive() and mine.held() == 2
    mine.release_all()
