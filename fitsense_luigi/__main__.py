"""``python -m fitsense_luigi TASK [luigi options]``: the ``luigi`` command for this package, with exit
codes that still mean "did the run finish?" when several workers share a run.

luigi's ``[retcode]`` codes describe what *this* worker saw. A worker that
shares a run with others (more processes, more hosts, one luigid) sees tasks
"run by another worker" and exits ``already_running`` (10), or ``not_run`` (25)
when another worker ran the final task, even though the run finished. So, as
suggested in spotify/luigi#1660, the run has the final word: when luigi's code
is one of those two and the requested task is complete at exit, the worker
exits 0. Every other code (failed task, missing data, scheduling error,
unhandled exception) is kept. With one worker this is exactly ``luigi --module
fitsense_luigi ...``.
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger("fitsense.launch")


def _luigi_code(argv: list[str]) -> int:
    from luigi.retcodes import run_with_retcodes

    try:
        run_with_retcodes(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def _shared_run_codes(argv: list[str]) -> set[int]:
    from luigi.cmdline_parser import CmdlineParser
    from luigi.retcodes import retcode

    with CmdlineParser.global_instance(argv):
        codes = retcode()
    return {codes.already_running, codes.not_run} - {0}


def _requested_task_complete(argv: list[str]) -> bool:
    from luigi.cmdline_parser import CmdlineParser

    try:
        with CmdlineParser.global_instance(argv) as parser:
            return bool(parser.get_task_obj().complete())
    except Exception:  # an input error was already reported by luigi with its own code
        return False


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--module" not in args:
        args = ["--module", "fitsense_luigi", *args]
    code = _luigi_code(args)
    if code in _shared_run_codes(args) and _requested_task_complete(args):
        log.info("the run is complete (other workers ran part of it; luigi's code was %d): exit 0", code)
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
