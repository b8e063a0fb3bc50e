"""Atomic writes, manifests written last, and verified reads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from fitsense_luigi.contracts import files
from fitsense_luigi.contracts.encoding import iter_jsonl
from fitsense_luigi.contracts.stages import PROFILES, QUERIES
from fitsense_luigi.errors import CorruptInputError, MalformedInputError
from fitsense_luigi.pipeline.roots import LocalRoot
from fitsense_luigi.pipeline.store import LineRows, RunStore
from tests.support import layout

USERS = files.world_table("users", PROFILES)

WRITER = """
import sys, time
from pathlib import Path
from fitsense_luigi.pipeline.roots import LocalRoot
root = LocalRoot(Path(sys.argv[1]).parent)
with root.staged(Path(sys.argv[1]).name) as tmp:
    with open(tmp, "wb") as fh:
        fh.write(b"partial")
        fh.flush()
        print("writing", flush=True)
        time.sleep(60)
        fh.write(b" rest")
"""


def test_kill_mid_write_leaves_no_final_file(tmp_path: Path) -> None:
    final = tmp_path / "out" / "table.parquet"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(final)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not final.exists()
    leftovers = list(final.parent.iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".table.parquet.tmp-")
    LocalRoot(tmp_path).sweep_temporaries("out")
    assert list(final.parent.iterdir()) == []


def test_failed_write_removes_its_temporary(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), LocalRoot(tmp_path).staged("x.json") as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_manifest_is_written_last_and_only_on_success(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "r1")
    with pytest.raises(RuntimeError), store.writer(QUERIES, fingerprint="f") as out:
        out.jsonl(files.QUERIES, [{"a": 1}])
        raise RuntimeError("killed")
    assert (tmp_path / store.key(files.QUERIES)).exists()
    assert not store.is_complete(QUERIES)

    with store.writer(QUERIES, fingerprint="f") as out:
        out.jsonl(files.QUERIES, [{"a": 1}, {"a": 2}])
        out.summary["n"] = 2
    manifest = store.manifest(QUERIES)
    entry = manifest["files"][layout.glob(files.QUERIES, run_id="r1")]
    assert entry["rows"] == 2 and len(entry["sha256"]) == 64
    assert manifest["config_fingerprint"] == "f" and manifest["summary"] == {"n": 2}
    manifest_written = (tmp_path / store.manifest_key(QUERIES)).stat().st_mtime_ns
    assert manifest_written >= (tmp_path / store.key(files.QUERIES)).stat().st_mtime_ns
    assert store.read_jsonl(files.QUERIES) == [{"a": 1}, {"a": 2}]


def test_verified_read_names_a_changed_file(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "r1")
    with store.writer(PROFILES, fingerprint="f") as out:
        out.parquet(USERS, pa.table({"x": [1, 2, 3]}))
    path = tmp_path / store.key(USERS)
    assert store.read_table(USERS).num_rows == 3
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CorruptInputError, match=r"users\.parquet: checksum does not match"):
        store.read_table(USERS)
    path.unlink()
    with pytest.raises(CorruptInputError, match="missing"):
        store.read_table(USERS)


def test_streamed_tables_count_rows(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "r1")
    schema = pa.schema([pa.field("x", pa.int32())])
    pieces = [("t", pa.table({"x": pa.array([1, 2], pa.int32())})), ("t", pa.table({"x": pa.array([3], pa.int32())}))]
    with store.writer(PROFILES, fingerprint="f") as out:
        assert out.tables(pieces, {"t": schema}) == {"t": 3}
    assert store.read_table(files.world_table("t", PROFILES)).column("x").to_pylist() == [1, 2, 3]


def test_malformed_jsonl_line_is_reported_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"ok": 1}) + "\n{not json\n")
    with pytest.raises(MalformedInputError, match=r"q\.jsonl:2: not a JSON object"):
        list(iter_jsonl(path))


def test_rows_by_position_are_read_when_asked_for_and_slices_are_views(tmp_path: Path) -> None:
    store = RunStore(tmp_path, "r1")
    written = [{"query_id": f"q{i}", "text": "ü" * i} for i in range(10)]  # multi-byte: offsets are bytes
    with store.writer(QUERIES, fingerprint="f") as out:
        out.jsonl(files.QUERIES, written)
    with store.line_rows(files.QUERIES) as rows:
        assert len(rows) == 10 and rows[7] == written[7] and rows[0] == written[0]
        shard = rows[1::4]  # the teacher's round-robin shard 1 of 4
        assert len(shard) == 3 and list(shard) == [written[1], written[5], written[9]]
        assert shard[1:][0] == written[5]
    path = tmp_path / store.key(files.QUERIES)
    text = path.read_text().splitlines()
    text[5] = "{not json"
    path.write_text("\n".join(text) + "\n")
    with LocalRoot(tmp_path).local_copy(store.key(files.QUERIES)) as local, open(local, "rb") as fh:
        shard = LineRows.scan(fh, "q.jsonl")[1::4]
        with pytest.raises(MalformedInputError, match=r"q\.jsonl:6: not a JSON object"):  # its line in the file
            shard[1]
    text[3] = "{not json"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(CorruptInputError, match="checksum does not match"), store.line_rows(files.QUERIES):
        pass  # verified before anything is read


def test_stale_temporaries_of_live_processes_are_kept(tmp_path: Path) -> None:
    mine = tmp_path / f".a.json.tmp-{os.getpid()}-abcd1234"
    mine.write_text("in progress")
    dead = tmp_path / ".b.json.tmp-999999999-abcd1234"
    dead.write_text("left behind")
    LocalRoot(tmp_path).sweep_temporaries("")
    assert mine.exists() and not dead.exists()


def test_a_rebuild_removes_the_temporaries_of_a_killed_build_even_under_its_own_pid(tmp_path: Path) -> None:
    """Containers repeat pids (luigi is pid 1 in each): a leftover named after our own pid is still a leftover."""
    store = RunStore(tmp_path, "r1")
    directory = tmp_path / store.directory(QUERIES)
    directory.mkdir(parents=True)
    leftovers = [
        directory / f".{files.QUERIES.name}.tmp-{os.getpid()}-abcd1234",
        directory / f".{QUERIES.manifest_name}.tmp-1-0badf00d",
    ]
    for path in leftovers:
        path.write_text("left by a killed build")
    unrelated = directory / f".other.jsonl.tmp-{os.getpid()}-abcd1234"
    unrelated.write_text("another file's temporary, in progress")
    with store.writer(QUERIES, fingerprint="f") as out:
        out.jsonl(files.QUERIES, [{"a": 1}])
    assert not any(path.exists() for path in leftovers)
    assert unrelated.exists()
    assert sorted(p.name for p in directory.iterdir()) == [unrelated.name, QUERIES.manifest_name, files.QUERIES.name]
