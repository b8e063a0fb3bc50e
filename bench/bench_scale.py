"""Scale benchmark: the whole pipeline through the ``luigi`` command, per stage, by users, queries and workers.

Each case runs ``luigi --module fitsense_luigi BiasSlicing --local-scheduler
--workers W`` in a fresh data root, with config/params.yaml changed only in
``world.users``, ``queries.per_type`` (a quarter of the queries each) and
``quality.on_failure: warn`` (so that a gate verdict does not stop the
figures). While it runs, the resident memory of the whole process tree (luigi
and the workers it forks) is sampled from /proc every 0.2 s. Afterwards each
stage's build time is read from its manifests (a fanned-out stage: the span
from its first part's start to its last part's end, and the sum of its parts'
times), and its peak RSS is the tree's peak while it was building.

    .venv/bin/python bench/bench_scale.py                                 # the README's table (long)
    .venv/bin/python bench/bench_scale.py --users 100000 --queries 20000 --workers 1
    .venv/bin/python bench/bench_scale.py --keep /tmp/bench-root ...      # keep the data root
    .venv/bin/python bench/bench_scale.py --task GenerateQueries ...      # the world and queries stages only
    .venv/bin/python bench/bench_scale.py --keep /tmp/bench-root --resume ...  # go on after a stop
    .venv/bin/python bench/bench_scale.py --table a.json b.json ...       # one table of cases run apart

With ``--keep`` the memory samples are also appended to ``<root>/rss.tsv`` as they are taken, so a run that
is stopped and resumed (``--resume``: the data root is kept and luigi skips the stages already done) still
reports every stage's peak RSS, and its wall and CPU time add up over the invocations.

Figures only, nothing asserted; the machine is shared, so wall times are upper bounds (CPU seconds are printed
beside them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RUN_ID = "bench"
PAGE = os.sysconf("SC_PAGE_SIZE")
CASES = (  # users, queries, workers
    (10_000, 20_000, 1),
    (10_000, 20_000, 2),
    (100_000, 20_000, 1),
    (100_000, 20_000, 2),
    (100_000, 100_000, 1),
    (100_000, 100_000, 2),
)
# stage name in the manifests -> the row of the table (parts and shards are summed into their stage)
ROWS = (
    ("profiles", ("profiles_part", "profiles")),
    ("workouts", ("workouts_part", "workouts")),
    ("queries", ("query_plan", "queries_shard", "queries")),
    ("teacher", ("teacher_shard", "teacher")),
    ("dataset", ("dataset",)),
    ("validation", ("validation",)),
    ("stats", ("stats",)),
    ("anomalies", ("anomalies",)),
    ("bias", ("bias",)),
)


def params(users: int, queries: int) -> str:
    """config/params.yaml with the case's users and queries, and a gate that warns."""
    text = (REPO / "config" / "params.yaml").read_text()
    lines = []
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        if line and not line.startswith(" ") and stripped.endswith(":"):
            section = stripped[:-1]
        key = stripped.split(":", 1)[0]
        indent = line[: len(line) - len(line.lstrip())]
        if section == "world" and key == "users":
            line = f"{indent}users: {users}"
        elif section == "queries" and key in ("plan_creation", "plan_modification", "safety_adjustment"):
            line = f"{indent}{key}: {queries // 4}"
        elif section == "queries" and key == "progress_adaptation":
            line = f"{indent}{key}: {queries - 3 * (queries // 4)}"
        elif section == "quality" and key == "on_failure":
            line = f"{indent}on_failure: warn"
        lines.append(line)
    return "\n".join(lines) + "\n"


class TreeMemory:
    """Samples the summed RSS of a process and its descendants (from /proc) until stopped."""

    def __init__(self, pid: int, every_s: float = 0.2, log: Path | None = None) -> None:
        self.pid, self.every_s = pid, every_s
        self.samples: list[tuple[float, int]] = []  # (unix time, bytes)
        self._log = open(log, "a") if log else None  # noqa: SIM115 (closed by stop())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            sample = (time.time(), self._tree_rss())
            self.samples.append(sample)
            if self._log:
                self._log.write(f"{sample[0]:.2f}\t{sample[1]}\n")
                self._log.flush()
            self._stop.wait(self.every_s)

    def _tree_rss(self) -> int:
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as fh:
                        parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        tree, frontier = {self.pid}, [self.pid]
        while frontier:
            parent = frontier.pop()
            children = [p for p, pp in parents.items() if pp == parent and p not in tree]
            tree.update(children)
            frontier.extend(children)
        total = 0
        for pid in tree:
            try:
                with open(f"/proc/{pid}/statm") as fh:
                    total += int(fh.read().split()[1]) * PAGE
            except (OSError, IndexError, ValueError):
                continue
        return total

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        if self._log:
            self._log.close()

    def load(self, log: Path) -> None:
        """Samples of earlier invocations on the same data root (``--resume``)."""
        earlier = [line.split("\t") for line in log.read_text().splitlines() if line.count("\t") == 1]
        self.samples = [(float(t), int(rss)) for t, rss in earlier] + self.samples

    def peak(self, start: float = 0.0, end: float = float("inf")) -> float:
        inside = [rss for t, rss in self.samples if start - self.every_s <= t <= end + self.every_s]
        return max(inside, default=0) / 2**20


def manifests(root: Path) -> list[dict]:
    found = []
    for path in list(root.glob("raw/**/manifest.json")) + list(root.glob("reports/*/manifests/*.json")):
        found.append(json.loads(path.read_text()))
    return found


def _seconds(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


# files whose bytes a run may not reproduce (times, paths, locks, the cache): left out of the comparison
UNCOMPARED = ("manifest.json", "run.log", "phase1_bootstrap.json")
UNCOMPARED_DIRS = ("manifests", "locks", "scheduler", "cache")


def digests(data: Path) -> dict[str, str]:
    """sha256 of every data file of a run, by path (what /work/notes/default_run_hashes.sh hashes)."""
    out = {}
    for path in sorted(data.rglob("*")):
        relative = path.relative_to(data)
        if path.is_file() and path.name not in UNCOMPARED and not set(relative.parts) & set(UNCOMPARED_DIRS):
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            out[str(relative)] = digest.hexdigest()
    return out


def run_case(
    users: int, queries: int, workers: int, keep: Path | None, resume: bool = False, task: str = "BiasSlicing"
) -> dict:
    root = keep or Path(tempfile.mkdtemp(prefix="fitsense-bench-scale-"))
    if root.exists() and not resume:
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    invocations = root / "invocations.json"
    earlier = json.loads(invocations.read_text()) if resume and invocations.exists() else []
    params_file = root / "params.yaml"
    params_file.write_text(params(users, queries))
    env = dict(os.environ, FITSENSE_PARAMS=str(params_file), FITSENSE_DATA_ROOT=str(root / "data"))
    command = [str(BIN / "luigi"), "--module", "fitsense_luigi", task, "--local-scheduler"]
    # luigi's "already running" lock is per command line: a pid directory per data root lets cases run side by side
    command += ["--run-id", RUN_ID, "--workers", str(workers), "--lock-pid-dir", str(root / "luigi-pids")]
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    rss_log = root / "rss.tsv" if keep else None
    with open(root / "run.log", "ab" if resume else "wb") as log:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        memory = TreeMemory(proc.pid, log=rss_log)
        _, status, usage = os.wait4(proc.pid, 0)
        memory.stop()
    wall = time.perf_counter() - t0
    cpu = usage.ru_utime + usage.ru_stime
    if keep:  # what this invocation took, for a later --resume
        invocation = {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "maxrss_kib": usage.ru_maxrss}
        invocations.write_text(json.dumps([*earlier, invocation]) + "\n")
    if resume and rss_log and rss_log.exists():
        memory.samples = []
        memory.load(rss_log)
    wall += sum(i["wall_s"] for i in earlier)
    cpu += sum(i["cpu_s"] for i in earlier)
    maxrss_kib = max([usage.ru_maxrss] + [i["maxrss_kib"] for i in earlier])
    stages = {}
    found = manifests(root / "data")
    for row, names in ROWS:
        mine = [m for m in found if m["stage"] in names or m["stage"].rsplit("_", 1)[0] in names]
        if not mine:
            continue
        start = min(_seconds(m["started_at"]) for m in mine)
        end = max(_seconds(m["finished_at"]) for m in mine)
        stages[row] = {
            "span_s": round(end - start, 1),
            "sum_s": round(sum(m["duration_s"] for m in mine), 1),
            "tasks": len(mine),
            "peak_rss_mib": round(memory.peak(start, end)),
        }
    gate = next((m["summary"].get("gate_passed") for m in found if m["stage"] == "bias"), None)
    result = {
        "users": users,
        "queries": queries,
        "workers": workers,
        "exit_code": os.waitstatus_to_exitcode(status),
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "peak_tree_rss_mib": round(memory.peak()),
        "peak_process_rss_mib": round(maxrss_kib / 1024),
        "invocations": len(earlier) + 1,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # 1-minute, at start and end
        "gate_passed": gate,
        "stages": stages,
        "data_root": str(root) if keep else None,
    }
    if result["exit_code"] == 0:  # so that one and two workers can be compared byte for byte
        result["digests"] = digests(root / "data")
    if not keep:
        shutil.rmtree(root, ignore_errors=True)
    return result


def _load(result: dict) -> str:
    return ", ".join(f"{v:.1f}" for v in result.get("load_average", [])) or "-"


def identical(result: dict, results: list[dict]) -> str:
    """Whether a case wrote the same bytes as the one-worker case of its size ("-" when there is none)."""
    first = next(
        (r for r in results if (r["users"], r["queries"], r["workers"]) == (result["users"], result["queries"], 1)),
        None,
    )
    if result["workers"] == 1 or first is None or "digests" not in first or "digests" not in result:
        return "-"
    mine, theirs = result["digests"], first["digests"]
    differing = sorted(name for name in mine.keys() | theirs.keys() if mine.get(name) != theirs.get(name))
    return f"yes ({len(mine)} files)" if not differing else f"NO: {len(differing)} files differ, e.g. {differing[0]}"


def table(results: list[dict]) -> str:
    head = ["stage"] + [f"{r['users'] // 1000}k u / {r['queries'] // 1000}k q / {r['workers']}w" for r in results]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row, _ in ROWS:
        cells = [row]
        for r in results:
            s = r["stages"].get(row)
            cells.append(f"{s['span_s']:.0f} s, {s['peak_rss_mib']} MiB" if s else "-")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(
        "| **whole run** | "
        + " | ".join(f"**{r['wall_s']:.0f} s**, {r['peak_tree_rss_mib']} MiB" for r in results)
        + " |"
    )
    lines.append(
        "| CPU s / largest process | "
        + " | ".join(f"{r['cpu_s']:.0f} s / {r['peak_process_rss_mib']} MiB" for r in results)
        + " |"
    )
    lines.append("| exit code / gate | " + " | ".join(f"{r['exit_code']} / {r['gate_passed']}" for r in results) + " |")
    lines.append("| load average (start, end) | " + " | ".join(_load(r) for r in results) + " |")
    lines.append("| same bytes as 1 worker | " + " | ".join(identical(r, results) for r in results) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="*", help="world sizes (default: the README's cases)")
    parser.add_argument("--queries", type=int, nargs="*", help="query counts")
    parser.add_argument("--workers", type=int, nargs="*", help="luigi --workers values")
    parser.add_argument("--keep", type=Path, help="data root to keep (one case only)")
    parser.add_argument("--resume", action="store_true", help="go on in the --keep data root (skip what is done)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--task", default="BiasSlicing", help="task to build (GenerateQueries: up to the queries)")
    parser.add_argument("--table", type=Path, nargs="+", help="print the table of earlier --json files, run nothing")
    args = parser.parse_args()
    if args.table:  # cases run one at a time (e.g. one per hold of the benchmark lock), tabled together
        results = [result for path in args.table for result in json.loads(path.read_text())]
        print(table(results))
        return
    if args.resume and not args.keep:
        parser.error("--resume needs --keep")
    if args.users or args.queries or args.workers:
        cases = [
            (u, q, w) for u in args.users or [100_000] for q in args.queries or [20_000] for w in args.workers or [1]
        ]
    else:
        cases = list(CASES)
    results = []
    for users, queries, workers in cases:
        print(f"running {users} users, {queries} queries, {workers} worker(s) ...", file=sys.stderr, flush=True)
        result = run_case(users, queries, workers, args.keep, args.resume, args.task)
        print(json.dumps({k: v for k, v in result.items() if k != "digests"}), file=sys.stderr, flush=True)
        results.append(result)
        if args.json:  # after every case: a long table stopped half-way keeps what it measured
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    print("Per stage: wall span while the stage built (s), peak RSS of the process tree meanwhile (MiB)")
    print(table(results))


if __name__ == "__main__":
    main()
