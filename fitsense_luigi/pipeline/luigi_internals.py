"""The one module that relies on luigi's private API, checked against the pinned luigi by
``tests/pipeline/test_luigi_internals.py`` (it fails loudly when luigi changes what we use).

Everything else in the runtime uses luigi's public API (``luigi.Task``,
``luigi.Target``, ``luigi.task.flatten``, ``luigi.retcodes.run_with_retcodes``,
``luigi.contrib.s3``, ``luigi.configuration``). What luigi offers no public way
to do, and how it is done here:

* **No retries for a failure that will repeat.** luigi decides on a retry from
  the retry policy the scheduler holds when the failure arrives and has no
  per-exception hook. While a task runs, the worker lends it a
  ``TaskStatusReporter`` (``task.set_tracking_url`` is its bound method) that
  holds the scheduler and the worker id (``_scheduler``, ``_worker_id``);
  :func:`stop_retries` sends ``retry_count`` 1 through it just before the
  failure is reported, the way luigi's own reporter updates a running task.
* **A luigi command line, parsed as ``luigi`` parses it** (``luigi.cmdline_parser``,
  internal by its own docstring): the configured ``[retcode]`` codes and the
  requested task, for the launcher (``python -m fitsense_luigi``).
* **Is a task still pending or running on luigid?** (``luigi.rpc.RemoteScheduler.task_list``,
  the RPC the visualiser uses.)
* **Why did the tasks of a run fail?** luigi's exit code only says *that* a
  task failed. :func:`run_with_failures` runs ``luigi.retcodes.run_with_retcodes``
  while keeping the worker that ``luigi.interface._run`` returns, then takes
  the failed tasks from ``luigi.execution_summary._summary_dict`` (what the
  exit code is computed from) and their errors from the scheduler
  (``fetch_error``: the text ``Task.on_failure`` returned, JSON-encoded).
* **Was a parameter given empty?** luigi reads ``--run-id ""`` as "not given"
  and quietly uses the default; :func:`empty_on_command_line` looks at the
  parsed arguments of the command line being run (``CmdlineParser.get_instance``).
* **luigi's own words**, which the log format recognises: the line it logs
  before an exception that escaped a task's scheduling, the note it logs when
  ``no_configure_logging`` is set, and the banner of its execution summary.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import luigi
from luigi.task_status import PENDING, RUNNING

log = logging.getLogger("fitsense.luigi")

VERIFIED_WITH = "3.8.1"  # the luigi release this module was checked against (requirements.txt pins it)

# luigi.retcodes.run_with_retcodes logs this (with the exception) when anything escapes scheduling, e.g. a bad config
UNCAUGHT_EXCEPTION = "Uncaught exception in luigi"
# luigi.setup_logging.InterfaceLogging.setup logs this when luigi.cfg leaves logging to us (it is not a problem)
LOGGING_DISABLED = "logging disabled in settings"
# luigi.interface._schedule_and_run logs the execution summary, which opens and closes with this banner
EXECUTION_SUMMARY_BANNER = "===== Luigi Execution Summary ====="


def empty_on_command_line(param_name: str) -> bool:
    """Was ``--<param>`` (or ``--<Task>-<param>``) given as an empty string on the command line being run?

    luigi drops an empty value (``CmdlineParser._get_task_kwargs`` keeps only
    truthy ones, ``Parameter._parse_or_no_value`` reads "" as "not given") and
    quietly uses the default; the parsed arguments still hold the "".
    """
    from luigi.cmdline_parser import CmdlineParser

    known = getattr(CmdlineParser.get_instance(), "known_args", None)  # no parser: tasks made in code
    given = vars(known).items() if known is not None else ()
    return any(value == "" for dest, value in given if dest == param_name or dest.endswith(f"_{param_name}"))


def run_with_failures(argv: list[str]) -> tuple[int, list[str]]:
    """luigi's exit code for ``argv`` (``run_with_retcodes``), and the error of every task that failed in the run."""
    import json

    import luigi.interface
    from luigi.execution_summary import _summary_dict
    from luigi.retcodes import run_with_retcodes

    workers = []
    original = luigi.interface._run

    def keeping_the_worker(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        workers.append(result.worker)
        return result

    luigi.interface._run = keeping_the_worker
    try:
        run_with_retcodes(argv)
        code = 0
    except SystemExit as exc:  # sys.exit() (e.g. after --help) means 0; a message instead of a code means 1
        code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    finally:
        luigi.interface._run = original
    errors = []
    for worker in workers:
        for task in _summary_dict(worker)["failed"]:
            try:
                expl = worker._scheduler.fetch_error(task.task_id).get("error")
                errors.append(json.loads(expl) if expl else "")
            except Exception as exc:  # the scheduler went away: the failure is still reported, without its reason
                log.debug("no error text for %s: %s", task.task_id, exc)
                errors.append("")
    return code, errors


def stop_retries(task: luigi.Task) -> bool:
    """Ask the scheduler to disable ``task`` at its coming failure instead of retrying it minutes later.

    Reaches luigid from any worker process, and the local scheduler when the
    task runs in its process (one worker); with ``--workers N --local-scheduler``
    the task runs in a child whose copy of the scheduler is not the real one,
    and the configured retries still happen. False when no scheduler was reached.
    """
    reporter = getattr(task.set_tracking_url, "__self__", None)  # luigi.worker.TaskStatusReporter, in run()
    scheduler, worker = getattr(reporter, "_scheduler", None), getattr(reporter, "_worker_id", None)
    if scheduler is None or worker is None:
        return False
    try:
        scheduler.add_task(task_id=task.task_id, worker=worker, status=RUNNING, retry_policy_dict={"retry_count": 1})
    except Exception as exc:  # the failure itself must still be reported
        log.debug("could not turn off retries for %s: %s", task.task_id, exc)
        return False
    return True


@contextlib.contextmanager
def command_line(argv: list[str]) -> Iterator[Any]:
    """luigi's parser of ``argv``, installed as the global one while the block runs (config classes read it)."""
    from luigi.cmdline_parser import CmdlineParser

    with CmdlineParser.global_instance(argv) as parser:
        yield parser


def retcodes(argv: list[str]) -> Any:
    """The ``[retcode]`` codes in force for ``argv`` (config file and command line)."""
    from luigi.retcodes import retcode

    with command_line(argv):
        return retcode()


@dataclass(frozen=True)
class Requested:
    task: luigi.Task
    scheduler_url: str
    local_scheduler: bool


def requested(argv: list[str]) -> Requested:
    """The task ``argv`` asks for, and the scheduler it is sent to."""
    from luigi.interface import core

    with command_line(argv) as parser:
        task = parser.get_task_obj()
        env = core()
        url = env.scheduler_url or f"http://{env.scheduler_host}:{env.scheduler_port}/"
        return Requested(task, url, env.local_scheduler)


class CentralScheduler:
    """What luigid at ``url`` says about tasks."""

    def __init__(self, url: str) -> None:
        from luigi.rpc import RemoteScheduler

        self._rpc = RemoteScheduler(url)

    def is_active(self, task_id: str) -> bool:
        """Is ``task_id`` listed as pending or running?"""
        return task_id in self._rpc.task_list(RUNNING) or task_id in self._rpc.task_list(PENDING)
