"""One log format for the pipeline and for Luigi, to stderr and to the run's log file.

Errors the user can act on (``FitSenseError``) are logged as one line without a
traceback, whichever logger reports them (Luigi's worker, Luigi's
"Uncaught exception" handler or our own code).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from fitsense_luigi.errors import FitSenseError

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


def attach_run_log(path: Path) -> None:
    """Append this process's log to the run's log file (once per path)."""
    root = logging.getLogger()
    target = str(path.resolve())
    if any(getattr(h, "baseFilename", None) == target for h in root.handlers):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(target, encoding="utf-8")
    handler.setFormatter(_formatter())
    handler.addFilter(OneLineUserErrors())
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
