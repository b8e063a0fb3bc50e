"""One log format for the pipeline and for Luigi, to stderr and to the run's log file.

Where logs go: stderr (cron or the container runtime keeps it) and the run's
log file ``reports/<run_id>/run.log`` under the data root, appended to by every
process that works on the run (on S3, one uploaded file per process).

Errors the user can act on (``FitSenseError``) are logged as one line without a
traceback, whichever logger reports them (Luigi's worker, Luigi's
"Uncaught exception" handler or our own code).
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import secrets
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fitsense_luigi.errors import FitSenseError

if TYPE_CHECKING:
    from fitsense_luigi.storage import DataPath

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
_LOGGERS = ("fitsense", "luigi", "luigi-interface")


class UTCFormatter(logging.Formatter):
    converter = time.gmtime
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"


class OneLineUserErrors(logging.Filter):
    """Fold a FitSenseError into the message and drop its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, FitSenseError):
            record.msg = f"{record.getMessage()}: {type(exc).__name__}: {exc}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def _formatter() -> logging.Formatter:
    return UTCFormatter(LOG_FORMAT)


def install() -> None:
    """Idempotent: filters always; handlers only where Luigi is told not to configure logging."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, OneLineUserErrors) for f in logger.filters):
            logger.addFilter(OneLineUserErrors())
    if _luigi_leaves_logging_to_us():
        root = logging.getLogger()
        if not any(getattr(h, "_fitsense", False) for h in root.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(_formatter())
            handler._fitsense = True  # type: ignore[attr-defined]
            root.addHandler(handler)
            root.setLevel(logging.INFO)
            # handlers see records after logger filters only for the logger itself, so
            # filter at the handler too (records from child loggers bypass parents' filters)
            handler.addFilter(OneLineUserErrors())


def _luigi_leaves_logging_to_us() -> bool:
    try:
        from luigi.configuration import get_config
    except ImportError:  # domain code used without luigi
        return True
    return get_config().getboolean("core", "no_configure_logging", False)


def set_level(level: str) -> None:
    logging.getLogger("fitsense").setLevel(level)


def attach_run_log(path: DataPath) -> None:
    """Append this process's log to the run's log file (once per path).

    On an S3 data root (no appends) each process spools its log to a local file
    and uploads it as ``<reports>/run-logs/<host>-<pid>-<token>.log`` whenever
    :func:`sync_run_logs` is called (after every task) and at exit.
    """
    if not isinstance(path, Path):
        _attach_spooled(path)
        return
    root = logging.getLogger()
    target = str(path.resolve())
    if any(getattr(h, "baseFilename", None) == target for h in root.handlers):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    _add_run_handler(logging.FileHandler(target, encoding="utf-8"))


def sync_run_logs() -> None:
    """Upload the spooled run logs of this process (no-op for local data roots)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, SpooledRunLog):
            handler.sync()


class SpooledRunLog(logging.FileHandler):
    """A local log file that is uploaded whole to an object store (which cannot append)."""

    def __init__(self, run_log: Any) -> None:
        token = secrets.token_hex(3)
        name = f"{socket.gethostname()}-{os.getpid()}-{token}.log"
        spool = Path(tempfile.gettempdir()) / f"fitsense-{run_log.bucket}-{name}"
        super().__init__(spool, encoding="utf-8")
        self.run_log = str(run_log)
        self.remote = run_log.parent / f"{Path(run_log.name).stem}-logs" / name

    def sync(self, final: bool = False) -> None:
        """Upload the spool; a forked task process (it exits after its task) or an exiting one removes it."""
        self.flush()
        spool = Path(self.baseFilename)
        try:
            self.remote.upload(spool)
        except Exception as exc:  # a log upload must never fail the task that wrote the log
            logging.getLogger("fitsense.logs").warning("could not upload the run log to %s: %s", self.remote, exc)
            return
        if final or multiprocessing.parent_process() is not None:
            spool.unlink(missing_ok=True)


def _attach_spooled(run_log: Any) -> None:
    root = logging.getLogger()
    if any(isinstance(h, SpooledRunLog) and h.run_log == str(run_log) for h in root.handlers):
        return
    handler = SpooledRunLog(run_log)
    _add_run_handler(handler)
    atexit.register(handler.sync, final=True)


def _add_run_handler(handler: logging.Handler) -> None:
    root = logging.getLogger()
    handler.setFormatter(_formatter())
    handler.addFilter(OneLineUserErrors())
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
