"""One log format for the pipeline and for Luigi, to stderr and to the run's log file.

Where logs go: stderr (cron or the container runtime keeps it) and the run's
log file ``reports/<run_id>/run.log`` under the data root, appended to by every
process that works on the run (on S3, one uploaded file per process).

Errors the user can act on (``FitSenseError``) are logged without a traceback,
one line per problem, whichever logger reports them (Luigi's worker, Luigi's
"Uncaught exception" handler or our own code). When a bad config stops the
command before any task, the line is the error alone, not luigi's "Uncaught
exception in luigi" (which reads like a crash), and luigi's note that logging
is left to us is not shown. Every record, its traceback included, passes
:class:`RedactSecrets` before any handler writes it: the teacher's API key
(registered when it is read) never reaches stderr or a run log.
"""

from __future__ import annotations

import atexit
import logging
import sys
import time
from collections.abc import Callable

from fitsense_luigi.contracts.dataroot import DataRoot, RunLog
from fitsense_luigi.errors import FitSenseError
from fitsense_luigi.pipeline import luigi_internals
from fitsense_luigi.teacher import redact

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
_LOGGERS = ("fitsense", "luigi", "luigi-interface")
_attached: dict[str, RunLog] = {}  # run log location -> this process's handler (a forked child inherits them)


_PER_LINE = "fitsense_per_line"  # a record whose message lines each get the full prefix (time, level, logger)


class UTCFormatter(logging.Formatter):
    converter = time.gmtime
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"

    def format(self, record: logging.LogRecord) -> str:
        if not getattr(record, _PER_LINE, False):
            return super().format(record)
        lines = record.getMessage().split("\n")
        return "\n".join(super(UTCFormatter, self).format(_with_message(record, line)) for line in lines)


def _with_message(record: logging.LogRecord, message: str) -> logging.LogRecord:
    return logging.makeLogRecord(dict(record.__dict__, msg=message, args=None, **{_PER_LINE: False}))


class OneLineUserErrors(logging.Filter):
    """Fold a FitSenseError into the message, one line per problem, and drop its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, FitSenseError):
            said = record.getMessage()
            lead = "" if said == luigi_internals.UNCAUGHT_EXCEPTION else f"{said}: "
            record.msg = "\n".join(f"{lead}{type(exc).__name__}: {problem}" for problem in exc.problems)
            record.args = None
            record.exc_info = None
            record.exc_text = None
            setattr(record, _PER_LINE, True)
        return True


class RedactSecrets(logging.Filter):
    """Take every registered secret out of a record: its message, its arguments and its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not redact.registered():
            return True
        message = record.getMessage()
        clean = redact.redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact.redact_text(record.exc_text)
        return True


def _filters() -> tuple[logging.Filter, ...]:
    return (OneLineUserErrors(), RedactSecrets())  # in this order: the folded one-line error is redacted too


class AfterLuigiSummary(logging.Filter):
    """Append ``closing()`` (the runs' own summaries) to luigi's execution summary, so that they are a
    command's last lines whichever command ran it (``luigi``, ``python -m fitsense_luigi``, ``luigi.build``)."""

    def __init__(self, closing: Callable[[], str]) -> None:
        super().__init__()
        self.closing = closing

    def filter(self, record: logging.LogRecord) -> bool:
        if luigi_internals.EXECUTION_SUMMARY_BANNER in str(record.msg) and not getattr(record, "fitsense_closed", 0):
            extra = self.closing()
            if extra:
                record.msg = f"{record.getMessage().rstrip()}\n\n{extra}\n"
                record.args = None
            record.fitsense_closed = 1
        return True


def close_luigi_summaries_with(closing: Callable[[], str]) -> None:
    """Idempotent: install :class:`AfterLuigiSummary` on luigi's interface logger (the last one installed wins)."""
    logger = logging.getLogger("luigi-interface")
    for old in [f for f in logger.filters if isinstance(f, AfterLuigiSummary)]:
        logger.removeFilter(old)
    logger.addFilter(AfterLuigiSummary(closing))


class QuietLuigiNotes(logging.Filter):
    """luigi's "logging disabled in settings": true (luigi.cfg leaves logging to us) and no news to a user."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != luigi_internals.LOGGING_DISABLED


def _formatter() -> logging.Formatter:
    return UTCFormatter(LOG_FORMAT)


def install() -> None:
    """Idempotent: filters always; handlers only where Luigi is told not to configure logging."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, OneLineUserErrors) for f in logger.filters):
            for one in _filters():
                logger.addFilter(one)
            logger.addFilter(QuietLuigiNotes())
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
            for one in _filters():
                handler.addFilter(one)


def _luigi_leaves_logging_to_us() -> bool:
    try:
        from luigi.configuration import get_config
    except ImportError:  # domain code used without luigi
        return True
    return get_config().getboolean("core", "no_configure_logging", False)


def set_level(level: str) -> None:
    logging.getLogger("fitsense").setLevel(level)


def attach_run_log(root: DataRoot, key: str) -> None:
    """Append this process's log to the run's log at ``key`` (once per log).

    The data root decides how: a local file appended to in place, or on S3 (no
    appends) a local spool uploaded as ``<reports>/run-logs/<host>-<pid>-<token>.log``
    whenever :func:`sync_run_logs` is called (after every task) and at exit.
    """
    where = root.uri(key)
    if where in _attached and _attached[where] in logging.getLogger().handlers:
        return
    handler = root.run_log(key)
    _attached[where] = handler
    _add_run_handler(handler)
    atexit.register(handler.sync, final=True)


def sync_run_logs() -> None:
    """Make this process's run logs visible in their data roots (an upload on S3, a flush on disk)."""
    for handler in _attached.values():
        handler.sync()


def _add_run_handler(handler: logging.Handler) -> None:
    root = logging.getLogger()
    handler.setFormatter(_formatter())
    for one in _filters():
        handler.addFilter(one)
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
