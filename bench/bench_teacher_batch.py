"""Batch mode through the `luigi` command against the loopback Batch API: what each way a batch fails costs.

For each scenario a fresh data root gets its queries (`luigi ... GenerateQueries`), then the README's
command runs the teacher stage with ``teacher.provider: openai_batch``:

    luigi --module fitsense_luigi CallTeacher --run-id R --local-scheduler

against :class:`tests.support.batch_api.BatchServer` (a real HTTP server on 127.0.0.1 speaking the Batch API
wire format; every answer is the mock coach's plan, so the checks pass). The server's own accounting is the
judge: batches created, lines it received, lines received again (the same request body in a later batch), and
answers it produced (what a provider bills). Scenarios:

* ``clean``: every line answered;
* ``lost``: a completed batch leaves out 5% of its lines (first submission only);
* ``line errors``: 5% of the lines come back as HTTP 500 / 429 error lines (first submission only);
* ``expired``: the first round's batches expire with half their lines run;
* ``cancelled``: the first round's batches are cancelled with half their lines run;
* ``kill -9``: the command is killed (process group, SIGKILL) while it polls a held batch, then run again.

Printed per scenario: batches, lines submitted, lines resubmitted, answers in responses.jsonl, answers billed
(paid), the command's wall time (both commands for kill -9), the cost the summary reports (at
``teacher.prices`` x ``teacher.batch.discount``) and what the same tokens cost online.

    .venv/bin/python bench/bench_teacher_batch.py [--scale small|default] [--max-lines 200]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
LUIGI = str(Path(sys.executable).with_name("luigi"))

from fitsense_luigi.contracts import files  # noqa: E402
from tests.support.batch_api import LOSE, Batch, BatchServer, batch_params  # noqa: E402
from tests.support.layout import RunFiles  # noqa: E402
from tests.support.params import write_params  # noqa: E402
from tests.support.teacher import WITH_KEY, Call, Reply, error  # noqa: E402

RUN = "2026-03-09"
PRICES = {"prompt_per_1k_tokens": 0.0025, "completion_per_1k_tokens": 0.01}  # gpt-4o's list price, online


def first_round(batch: Batch) -> bool:
    return all(line.attempt == 1 for line in batch.lines)


def one_in(call: Call, n: int) -> bool:
    """A fixed pick of the requests (by the user's message), the same in every run."""
    return call.attempt == 1 and zlib.crc32(call.user_message.encode()) % n == 0


def line_errors(call: Call) -> Reply:
    if one_in(call, 40):
        return error(500, "The server had an error while processing your request")
    if zlib.crc32(call.user_message.encode()) % 40 == 1 and call.attempt == 1:
        return error(429, "Rate limit reached for requests", code="rate_limit_exceeded")
    return Reply()


SCENARIOS: dict[str, dict[str, Any]] = {
    "clean": {},
    "lost": {"script": lambda call: LOSE if one_in(call, 20) else Reply()},
    "line errors": {"script": line_errors},
    "expired": {"course": lambda b: "expire" if first_round(b) else "complete"},
    "cancelled": {"course": lambda b: "cancel" if first_round(b) else "complete"},
    "kill -9": {"kill": True},
}


# Runs the command as its child and prints the child's peak RSS: measured from a small process, since a child's
# ru_maxrss starts at its parent's RSS at fork (the bench, which holds the Batch API server, would count).
PEAK = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(f'peak_kib={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}'); sys.exit(code)"
)


def luigi(task: str, env: dict[str, str], log: Path, **popen: Any) -> subprocess.Popen[bytes]:
    """The command as a user runs it, its output into ``log``."""
    command = [sys.executable, "-c", PEAK, LUIGI, "--module", "fitsense_luigi", task, "--run-id", RUN]
    with log.open("wb") as sink:
        return subprocess.Popen(
            [*command, "--local-scheduler"], cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT, **popen
        )


def finish(proc: subprocess.Popen[bytes], log: Path) -> tuple[int, str, float]:
    """(exit code, output, peak resident memory in MiB) of a started command, once it has ended."""
    code = proc.wait()
    out = log.read_text(errors="replace")
    peak = [line for line in out.splitlines() if line.startswith("peak_kib=")]
    return code, out, int(peak[-1].split("=")[1]) / 1024 if peak else float("nan")


def run_scenario(name: str, setup: dict[str, Any], small: bool, max_lines: int) -> dict[str, Any]:
    server_options = {k: setup[k] for k in ("course",) if k in setup}
    with (
        tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp,
        BatchServer(setup.get("script", lambda call: Reply()), **server_options) as srv,
    ):
        workdir = Path(tmp)
        overrides = batch_params(srv.url, prices=PRICES, batch={"max_lines": max_lines, "poll_max_s": 0.2})
        params = write_params(workdir / "params.yaml", overrides, small=small)
        env = dict(os.environ, FITSENSE_DATA_ROOT=str(workdir / "data"), FITSENSE_PARAMS=str(params), **WITH_KEY)
        log = workdir / "luigi.log"
        code, out, _ = finish(luigi("GenerateQueries", env, log), log)
        if code:
            raise SystemExit(f"GenerateQueries exited {code}:\n{out[-2000:]}")
        run = RunFiles(workdir / "data", RUN)
        started = time.perf_counter()
        if setup.get("kill"):
            srv.hold()
            proc = luigi("CallTeacher", env, log, start_new_session=True)
            while not (run.batch_records() and sum(srv.polls.values()) >= 2 * len(run.batch_records())):
                if proc.poll() is not None:
                    raise SystemExit(f"the run ended before it was killed:\n{log.read_text()[-2000:]}")
                time.sleep(0.05)
            os.killpg(proc.pid, signal.SIGKILL)
            finish(proc, log)
            killed_after = len(srv.created)
            srv.release()
        code, out, peak_mib = finish(luigi("CallTeacher", env, log), log)
        seconds = time.perf_counter() - started
        if code:
            raise SystemExit(f"{name}: CallTeacher exited {code}:\n{out[-3000:]}")
        rows = run.rows(files.RESPONSES)
        cost = run.document(files.TEACHER_SUMMARY)["cost"]
        totals = run.document(files.TEACHER_BATCHES)["totals"]
        submitted = srv.submitted()
        result = {
            "scenario": name,
            "queries": len(rows),
            "batches": len(srv.created),
            "lines_submitted": sum(submitted.values()),
            "lines_resubmitted": sum(n - 1 for n in submitted.values()),
            "answers": sum(r["status"] == "ok" for r in rows),
            "paid": sum(srv.billed().values()),
            "paid_twice": sum(n > 1 for n in srv.billed().values()),
            "seconds": round(seconds, 1),
            "peak_mib": round(peak_mib),  # of the (last) CallTeacher command
            "cost_batch": cost["paid_this_run"],
            "cost_online": round(cost["paid_this_run"] + cost["saved_by_batch"], 6),
            "report_resubmitted": totals["requests_resubmitted"],
            "report_why": totals["submitted_again"],
            "largest_batch": max(len(b.lines) for b in srv.created),
        }
        if setup.get("kill"):
            result["batches_when_killed"] = killed_after
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=("small", "default"), default="default")
    parser.add_argument("--max-lines", type=int, default=200, help="teacher.batch.max_lines (OpenAI: 50,000)")
    parser.add_argument("--only", nargs="*", choices=list(SCENARIOS), default=list(SCENARIOS))
    args = parser.parse_args()
    results = [run_scenario(n, SCENARIOS[n], args.scale == "small", args.max_lines) for n in args.only]
    columns = ["scenario", "batches", "lines submitted", "resubmitted", "answers", "paid", "paid twice", "s", "MiB"]
    header = "| " + " | ".join([*columns, "cost batch", "online"]) + " |"
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for r in results:
        print(
            f"| {r['scenario']} | {r['batches']} | {r['lines_submitted']} | {r['lines_resubmitted']} "
            f"| {r['answers']}/{r['queries']} | {r['paid']} | {r['paid_twice']} | {r['seconds']} | {r['peak_mib']} "
            f"| ${r['cost_batch']:.4f} | ${r['cost_online']:.4f} |"
        )
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
