"""``python -m fitsense_luigi TASK [luigi options]``: the ``luigi`` command for this package, with exit
codes that still mean "did the run finish?" when several workers share a run.

luigi's ``[retcode]`` codes describe what *this* worker saw. A worker that
shares a run with others (more processes, more hosts, one luigid) sees tasks
"run by another worker" and exits ``already_running`` (10), or ``not_run`` (25)
when another worker ran the final task, even though the run finished. So, as
suggested in spotify/luigi#1660, the run has the final word: when luigi's code
is one of those two, the worker waits while luigid still lists the requested
task as pending or running (luigi's keep-alive lets a worker go as soon as it
has nothing left to run, even while another worker runs the last task), then
exits 0 if that task is complete. A run whose only failures are teacher
batches still running (``TeacherBatchesPending``: ``teacher.batch.wait_s`` is
over, the batches are recorded and a rerun picks them up) exits
``missing_data`` (20) instead of ``task_failed`` (30): the teacher's answers are
external data that is not there yet. Every other code (failed task, missing
data, scheduling error, unhandled exception) is kept. With one worker this is
otherwise exactly ``luigi --module fitsense_luigi ...``.
"""

from __future__ import annotations

import logging
import sys
import time

from fitsense_luigi.errors import TeacherBatchesPending
from fitsense_luigi.pipeline import luigi_internals

log = logging.getLogger("fitsense.launch")
WAITING = TeacherBatchesPending.__name__  # how PipelineTask.on_failure names the error in the task's failure
POLL_S = 1.0


def _luigi_code(argv: list[str]) -> int:
    """luigi's code; ``missing_data`` instead of ``task_failed`` when every failure is teacher batches that are
    still running (the answers are external data that is not there yet, and the next run picks them up)."""
    code, failures = luigi_internals.run_with_failures(argv)
    if not (failures and all(f.startswith(f"{WAITING}:") for f in failures)):
        return code  # (reading the codes parses the command line again: not after --help, which prints)
    codes = luigi_internals.retcodes(argv)
    if code == codes.task_failed:
        log.info(
            "teacher batches still running: exit %d (missing data); the next run picks them up", codes.missing_data
        )
        return codes.missing_data
    return code


def _shared_run_codes(argv: list[str]) -> set[int]:
    codes = luigi_internals.retcodes(argv)
    return {codes.already_running, codes.not_run} - {0}


def _run_finished_elsewhere(argv: list[str]) -> bool:
    """Wait while luigid lists the requested task as pending or running; then: is it complete?"""
    try:
        requested = luigi_internals.requested(argv)
    except Exception:  # an input error was already reported by luigi with its own code
        return False
    task = requested.task
    if task.complete() or requested.local_scheduler:
        return task.complete()
    scheduler = luigi_internals.CentralScheduler(requested.scheduler_url)
    log.info("waiting for other workers to finish %s", task)
    while scheduler.is_active(task.task_id):
        time.sleep(POLL_S)
    return task.complete()


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--module" not in args:
        args = ["--module", "fitsense_luigi", *args]
    code = _luigi_code(args)
    if code == 0:  # done, or the help was printed (parsing the command line again would print it twice)
        return 0
    if code in _shared_run_codes(args) and _run_finished_elsewhere(args):
        log.info("the run is complete (other workers ran part of it; luigi's code was %d): exit 0", code)
        return 0
    return code
