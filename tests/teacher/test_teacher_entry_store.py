"""Where the teacher cache keeps its entries: one SQLite database on a local disk, one file each elsewhere.

What is checked comes from outside the store: the file layout earlier versions wrote (the README's
``<k[:2]>/<k>.json``, found here from the cache key's own definition), what a loopback server counts as paid, what
SQLite itself reads back from the database, and how a ``flock`` held by another process behaves.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from fitsense_luigi.errors import DataRootError
from fitsense_luigi.pipeline.roots import LocalRoot, local
from fitsense_luigi.teacher import entry_store, http_policy, stage
from fitsense_luigi.teacher.cache import ResponseCache
from fitsense_luigi.teacher.response_body import Body
from tests.support.teacher import scripted_queries


def run(config, queries, cache_root: Path):
    return stage.answer(config, queries, cache_root=LocalRoot(cache_root))


def on_a_network_file_system(monkeypatch) -> None:
    monkeypatch.setattr(local, "file_system_of", lambda path: "nfs4")


def rows_in_database(cache_root: Path) -> list[tuple[str, bytes]]:
    with contextlib.closing(sqlite3.connect(cache_root / entry_store.DATABASE)) as db:
        return [(key, bytes(entry)) for key, entry in db.execute("SELECT key, entry FROM entries ORDER BY key")]


def test_answers_go_into_one_database_that_sqlite_reads_back(server, teacher_config, tmp_path):
    srv = server()
    cache_root = tmp_path / "cache"
    run(teacher_config(srv.url), scripted_queries(5), cache_root)
    stored = rows_in_database(cache_root)
    assert len(stored) == 5 == srv.total_answered()
    assert not list(cache_root.glob("??/*.json")), "no file per answer"
    for key, entry in stored:
        fields = json.loads(entry, parse_constant=lambda name: pytest.fail(f"{name} in an entry: not strict JSON"))
        assert fields["key"] == key and fields["format"] == 2
        # the checksum as the entry format defines it: sha256 over key, about and outcome, keys sorted
        canonical = {"key": key, "about": fields["about"], "outcome": fields["outcome"]}
        text = json.dumps(canonical, sort_keys=True, ensure_ascii=False)
        assert fields["sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_a_network_file_system_keeps_one_file_per_entry(server, teacher_config, tmp_path, monkeypatch):
    """SQLite's write-ahead log needs memory shared by its processes, which NFS or SMB cannot give."""
    on_a_network_file_system(monkeypatch)
    srv = server()
    cache_root = tmp_path / "cache"
    run(teacher_config(srv.url), scripted_queries(3), cache_root)
    assert not (cache_root / entry_store.DATABASE).exists()
    files = sorted(cache_root.glob("??/*.json"))
    assert len(files) == 3
    assert all(f.parent.name == f.stem[:2] and json.loads(f.read_bytes())["key"] == f.stem for f in files)


def test_entries_an_earlier_version_wrote_as_files_are_still_served(server, teacher_config, tmp_path, monkeypatch):
    srv = server()
    cache_root = tmp_path / "cache"
    queries = scripted_queries(4)
    with monkeypatch.context() as patched:  # the layout of earlier versions: one file per entry
        on_a_network_file_system(patched)
        first = run(teacher_config(srv.url), queries, cache_root)
    assert len(list(cache_root.glob("??/*.json"))) == 4 and srv.total_answered() == 4

    again = run(teacher_config(srv.url), queries, cache_root)
    assert srv.total_answered() == 4, "nothing is bought again"
    assert [r["response_text"] for r in again] == [r["response_text"] for r in first]
    assert (cache_root / entry_store.DATABASE).is_file() and rows_in_database(cache_root) == []


def test_a_damaged_database_stops_the_stage_in_one_line_that_names_it(server, teacher_config, tmp_path):
    srv = server()
    cache_root = tmp_path / "cache"
    cache_root.mkdir()
    (cache_root / entry_store.DATABASE).write_bytes(b"this is not an SQLite database, it is a text file\n" * 100)
    with pytest.raises(DataRootError) as stopped:
        run(teacher_config(srv.url), scripted_queries(2), cache_root)
    message = str(stopped.value)
    assert str(cache_root / entry_store.DATABASE) in message and "move it aside" in message
    assert "\n" not in message and stopped.value.permanent
    assert srv.total_answered() == 0, "nothing is bought that could not be kept"


def test_a_writer_waits_for_another_process_s_commit_in_the_kernel(tmp_path):
    """The writers' turn is a ``flock``: held elsewhere (here by this test, as another process would), a write
    waits, and goes on as soon as it is released."""
    cache = ResponseCache(LocalRoot(tmp_path))
    outcome = http_policy.parse_completion(200, Body(None, _completion(), True))
    with (tmp_path / entry_store.WRITER_LOCK).open("a+b") as lock:  # closing it lets a stuck writer go
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = threading.Event()
        writer = threading.Thread(target=lambda: (cache.put("ab" * 32, outcome), done.set()))
        writer.start()
        assert not done.wait(0.5), "the write went on while another process held the turn"
        fcntl.flock(lock, fcntl.LOCK_UN)
        assert done.wait(30)
    writer.join()
    assert [key for key, _ in rows_in_database(tmp_path)] == ["ab" * 32]
    assert cache.get("ab" * 32) == outcome


def _completion() -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": None, "refusal": "no"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }


def test_the_write_ahead_log_stays_bounded_under_a_steady_stream_of_writes(tmp_path, monkeypatch):
    """A passive checkpoint never finishes while commits keep coming, and the log grew by every entry (62 MB for
    2,000): past its bound it is checkpointed in the writers' turn and truncated. Measured on SQLite's own file."""
    monkeypatch.setattr(entry_store, "CHECKPOINT_EVERY", 20)
    monkeypatch.setattr(entry_store, "LOG_BOUND_BYTES", 256 * 1024)
    cache = ResponseCache(LocalRoot(tmp_path))
    outcome = http_policy.parse_completion(200, Body(None, _completion(), True))
    log_file = tmp_path / (entry_store.DATABASE + "-wal")
    for n in range(600):  # a page of log each: 2.4 MB without checkpoints
        cache.put(f"{n:064x}", outcome)
    deadline = time.monotonic() + 30
    while log_file.stat().st_size > 256 * 1024 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert log_file.stat().st_size <= 256 * 1024
    assert len(rows_in_database(tmp_path)) == 600
