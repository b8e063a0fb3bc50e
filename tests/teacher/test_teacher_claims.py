"""Claims on cache keys: one request in flight per key, across processes and threads, never stuck on the dead."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading

import pytest

from fitsense_luigi.teacher import claims
from fitsense_luigi.teacher.claims import Claims

KEY = "ab" * 32
OTHER = "cd" * 32

ofd_locks = pytest.mark.skipif(not Claims.supported, reason="open-file-description locks are Linux's")


def _hold(path, key, held, release) -> None:
    with Claims(path).claimed(key):
        held.set()
        release.wait(30)


def _holder(tmp_path, key=KEY):
    ctx = multiprocessing.get_context("spawn")
    held, release = ctx.Event(), ctx.Event()
    process = ctx.Process(target=_hold, args=(tmp_path / claims.CLAIMS_FILE, key, held, release), daemon=True)
    process.start()
    assert held.wait(30), "the other process took its claim"
    return process, release


def _claim_in_thread(mine: Claims, key: str, got: list[str]) -> threading.Thread:
    def take() -> None:
        with mine.claimed(key):
            got.append(key)

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    return thread


@ofd_locks
def test_a_key_another_process_claimed_waits_for_it_and_other_keys_do_not(tmp_path):
    process, release = _holder(tmp_path)
    mine, got = Claims(tmp_path / claims.CLAIMS_FILE), []
    waiter = _claim_in_thread(mine, KEY, got)
    _claim_in_thread(mine, OTHER, got).join(10)
    assert got == [OTHER], "another key is not held up"
    waiter.join(0.3)
    assert waiter.is_alive(), "the claimed key waits while the other process holds it"
    release.set()
    waiter.join(10)
    process.join(10)
    assert got == [OTHER, KEY]


@ofd_locks
def test_a_killed_holder_never_blocks_a_claim(tmp_path):
    process, _ = _holder(tmp_path)
    os.kill(process.pid, signal.SIGKILL)
    process.join(10)
    got: list[str] = []
    _claim_in_thread(Claims(tmp_path / claims.CLAIMS_FILE), KEY, got).join(10)
    assert got == [KEY]


@ofd_locks
def test_threads_of_one_process_take_a_key_one_after_another(tmp_path):
    mine = Claims(tmp_path / claims.CLAIMS_FILE)
    inside, most = [0], [0]
    lock = threading.Lock()

    def take() -> None:
        with mine.claimed(KEY):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            threading.Event().wait(0.02)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert most[0] == 1 and not mine._queues, "one at a time, and nothing kept once they are done"


@ofd_locks
def test_claims_make_one_file_whatever_the_keys(tmp_path):
    mine = Claims(tmp_path / claims.CLAIMS_FILE)
    for n in range(50):
        with mine.claimed(f"{n:064x}"):
            pass
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()] == [claims.CLAIMS_FILE]


@ofd_locks
def test_a_claim_that_cannot_be_made_is_skipped(tmp_path):
    (tmp_path / "claims").write_text("a file where the claims directory goes")
    with Claims(tmp_path / claims.CLAIMS_FILE).claimed(KEY):
        pass  # the answer is still asked for; the cache write names any disk problem


def test_a_lock_file_per_key_where_range_locks_are_missing(tmp_path):
    path = tmp_path / claims.claim_key(KEY)
    got: list[str] = []

    def take() -> None:
        with claims.claimed(path):
            got.append("second")

    with claims.claimed(path):
        waiter = threading.Thread(target=take, daemon=True)
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive() and got == [], "the second holder waits for the first"
    waiter.join(10)
    assert got == ["second"] and not path.exists(), "each holder removes the file; nothing is left behind"
