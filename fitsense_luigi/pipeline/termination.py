"""SIGTERM (``podman stop``, ``docker stop``, systemd, ``kill``): stop cleanly, keep what was paid for, exit 143.

Without a handler SIGTERM kills the process where it stands: temporaries stay
until the stage is built again, and teacher answers on their way are lost
(and bought again). With :func:`install` the signal becomes an exception in
the main thread (:class:`Terminated`, a ``KeyboardInterrupt``, which Luigi
lets through instead of marking the task failed and starting the next one),
so every ``finally`` on the way out runs: staged files are removed, stage
locks released, and the teacher stage stops sending and gives the answers in
flight a few seconds to arrive and be cached (``teacher.stage.TERM_GRACE_S``,
under the 10 s that container runtimes wait before SIGKILL). Then one line
says what happened and the process exits with ``EXIT_TERMINATED`` (128 + 15,
what a shell reports for a process killed by SIGTERM), after the exit handlers
(run-log upload on S3) have run. A second SIGTERM kills at once.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
from types import FrameType, TracebackType

EXIT_TERMINATED = 128 + signal.SIGTERM
log = logging.getLogger("fitsense.tasks")
_installed = False


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: the process is winding down."""


def install() -> None:
    """Handle SIGTERM in this process (idempotent; only from the main thread, only over the default action)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return  # someone else (luigid, a test runner) handles it
    signal.signal(signal.SIGTERM, _on_sigterm)
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, Terminated):
            _exit_terminated()
        previous(kind, value, tb)

    sys.excepthook = hook
    _installed = True


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
    raise Terminated("SIGTERM")


def _exit_terminated() -> None:
    log.error(
        "stopped by SIGTERM: answers received were cached and temporaries removed; "
        "run the same command again to resume (exit %d)",
        EXIT_TERMINATED,
    )
    atexit._run_exitfuncs()  # logging.shutdown, run-log uploads: what a normal exit would run
    os._exit(EXIT_TERMINATED)
