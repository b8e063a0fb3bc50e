"""CPU per teacher cache entry: one file each (S3, network file systems, earlier versions) against one SQLite
database (local disks), on the disk of a chosen directory.

Writes ``--entries`` entries of the size the teacher stage stores (6.4 kB: an answer's whole body with its
outcome), one at a time as the stage does, through :mod:`fitsense_luigi.teacher.entry_store`, then reads each
back by key and misses as many. Printed per store: CPU (user + system) and wall time per entry for writes, hits
and misses, the slowest write (a checkpoint's disk sync shows here unless it runs beside the writer), and the
size on disk. CPU is the figure that matters: the stage's event loop writes its entries itself, and on two
cores the stage is CPU-bound at 256 requests in flight.

    .venv/bin/python bench/bench_cache_store.py [--entries 2000] [--existing 0] [--dir /tmp]

Drop the page and dentry caches first for comparable figures (``sync; echo 3 > /proc/sys/vm/drop_caches``):
thousands of files created and deleted by earlier runs make every file creation slower on this VM's disk.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import secrets
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fitsense_luigi.pipeline.roots import LocalRoot  # noqa: E402
from fitsense_luigi.teacher.entry_store import DATABASE, EntryDatabase, EntryFiles  # noqa: E402

ENTRY_BYTES = 6400
BATCH = 256


def measure(store: EntryFiles | EntryDatabase, keys: list[str], data: bytes, existing: int) -> dict[str, float]:
    for n in range(0, existing, BATCH):  # a cache that has been in use: entries of earlier runs
        store.write([(secrets.token_hex(32), data) for _ in range(min(BATCH, existing - n))])

    def timed(action) -> tuple[float, float, float]:
        cpu, wall, slowest = time.process_time(), time.perf_counter(), 0.0
        for key in keys:
            one = time.perf_counter()
            action(key)
            slowest = max(slowest, time.perf_counter() - one)
        n = len(keys)
        return (time.process_time() - cpu) / n * 1e3, (time.perf_counter() - wall) / n * 1e3, slowest * 1e3

    write_cpu, write_wall, slowest = timed(lambda key: store.write([(key, data)]))
    hit_cpu, hit_wall, _ = timed(store.read)
    miss_cpu, miss_wall, _ = timed(lambda key: store.read(key[::-1]))
    return {
        "write_cpu": write_cpu,
        "write_wall": write_wall,
        "slowest": slowest,
        "hit_cpu": hit_cpu,
        "hit_wall": hit_wall,
        "miss_cpu": miss_cpu,
        "miss_wall": miss_wall,
    }


def _write_share(directory: str, name: str, keys: list[str], data: bytes, threads: int) -> None:
    """One writing process of :func:`concurrent`: its share of the entries, on ``threads`` threads."""
    root = LocalRoot(Path(directory))
    store: EntryFiles | EntryDatabase
    if name == "files":
        store = EntryFiles(root)
    else:
        path = root.database_path(DATABASE)
        assert path is not None
        store = EntryDatabase(root, path)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda key: store.write([(key, data)]), keys))
    store.close()


def concurrent(name: str, directory: Path, keys: list[str], data: bytes, processes: int) -> tuple[float, float]:
    """CPU (all processes, user + system) and wall ms per entry with ``processes`` processes writing at once,
    as the teacher stage does: files from four threads each, the database from one writer each."""
    threads = EntryFiles.threads if name == "files" else EntryDatabase.threads
    shares = [keys[k::processes] for k in range(processes)]
    ctx = multiprocessing.get_context("fork")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    workers = [ctx.Process(target=_write_share, args=(str(directory), name, share, data, threads)) for share in shares]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu / len(keys) * 1e3, (time.perf_counter() - wall) / len(keys) * 1e3


def size_of(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="the disk to measure (a directory on it)")
    parser.add_argument("--existing", type=int, default=0, help="entries already in the cache before measuring")
    parser.add_argument("--processes", type=int, default=2, help="processes writing at once (the second table)")
    args = parser.parse_args()
    data = os.urandom(ENTRY_BYTES // 2).hex().encode()
    keys = [secrets.token_hex(32) for _ in range(args.entries)]
    print(
        f"teacher cache entries of {ENTRY_BYTES} bytes, {args.entries} each, under {args.dir}, "
        f"{args.existing} there already; ms per entry"
    )
    print(f"  {'store':10s} {'write CPU':>9s} {'wall':>6s} {'slowest':>8s} {'hit CPU':>8s} {'miss CPU':>8s} {'MB':>6s}")
    for name in ("files", "database"):
        directory = Path(tempfile.mkdtemp(prefix=f"bench-cache-{name}-", dir=args.dir))
        try:
            root = LocalRoot(directory)
            store: EntryFiles | EntryDatabase
            if name == "files":
                store = EntryFiles(root)
            else:
                path = root.database_path(DATABASE)
                assert path is not None, f"{args.dir} is not on a local file system: no database there"
                store = EntryDatabase(root, path)
            got = measure(store, keys, data, args.existing)
            store.close()
            print(
                f"  {name:10s} {got['write_cpu']:9.3f} {got['write_wall']:6.3f} {got['slowest']:8.1f} "
                f"{got['hit_cpu']:8.3f} {got['miss_cpu']:8.3f} {size_of(directory) / 1e6:6.1f}"
            )
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    print(f"  written by {args.processes} processes at once (files: 4 threads each; database: 1 writer each)")
    for name in ("files", "database"):
        directory = Path(tempfile.mkdtemp(prefix=f"bench-cache-{name}-", dir=args.dir))
        try:
            cpu, wall = concurrent(name, directory, [secrets.token_hex(32) for _ in keys], data, args.processes)
            print(f"  {name:10s} {cpu:9.3f} {wall:6.3f}")
        finally:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
