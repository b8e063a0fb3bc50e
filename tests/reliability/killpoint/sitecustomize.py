"""Loaded at start-up by every Python process of a run under test (its directory is put on PYTHONPATH).

With ``FITSENSE_KILL_AT`` set, it SIGKILLs the run's whole process group at one
exact file operation, which an outside observer cannot hit reliably (a small
JSON file exists under its temporary name for a few microseconds):

* ``open:<glob>``   a temporary file whose final path matches ``<glob>`` has just been
  created for writing (it exists, empty);
* ``rename:<glob>`` a temporary file is about to be renamed onto a final path matching
  ``<glob>`` (fully written, not in place yet);
* ``rename:#N``     the N-th such rename of this process, whatever the file;
* ``commit:<glob>`` entries are about to be committed to an SQLite database matching ``<glob>`` (the
  teacher cache's, :mod:`fitsense_luigi.teacher.entry_store`: its audit event ``fitsense.teacher.commit``).

Globs are matched against the path relative to ``FITSENSE_DATA_ROOT``, part by
part (``*`` never crosses a ``/``); ``#N`` counts renames outside ``cache/`` only. The point hit is printed to stderr
(``killpoint: ...``) just before the kill. It uses audit hooks (PEP 578), so the
pipeline's code is exactly what runs in production.
"""

from __future__ import annotations

import fnmatch
import os
import re
import signal
import sys

_TEMPORARY = re.compile(r"^\.(?P<final>.+)\.tmp-\d+-[0-9a-f]+$")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT


def _final_relative(path: object, root: str) -> str | None:
    """The final path, relative to the data root, of a temporary file; None for any other file."""
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str):
        return None
    directory, name = os.path.split(os.path.abspath(path))
    match = _TEMPORARY.match(name)
    if not match or not directory.startswith(root):
        return None
    return os.path.relpath(os.path.join(directory, match["final"]), root)


def matches(relative: str, pattern: str) -> bool:
    parts, wanted = relative.split(os.sep), pattern.split("/")
    return len(parts) == len(wanted) and all(fnmatch.fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True))


def _install(spec: str, root: str) -> None:
    event, _, target = spec.partition(":")
    if event not in ("open", "rename", "commit") or not target:
        raise SystemExit(
            f"FITSENSE_KILL_AT: expected open:<glob>, rename:<glob>, rename:#N or commit:<glob>, got {spec!r}"
        )
    nth = int(target[1:]) if target.startswith("#") else None
    seen = 0

    def kill(relative: str) -> None:
        sys.stderr.write(f"killpoint: {spec} at {relative}\n")
        sys.stderr.flush()
        os.killpg(os.getpgid(0), signal.SIGKILL)

    def hook(name: str, args: tuple) -> None:
        nonlocal seen
        if name == "open" and event == "open":
            mode, flags = args[1], args[2] or 0
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or flags & _WRITE_FLAGS
            relative = _final_relative(args[0], root) if writing else None
            if relative and matches(relative, target):
                kill(relative)
        elif name == "fitsense.teacher.commit" and event == "commit":
            relative = os.path.relpath(os.path.abspath(args[0]), root)
            if matches(relative, target):
                kill(relative)
        elif name == "os.rename" and event == "rename":
            if _final_relative(args[0], root) is None:
                return
            relative = os.path.relpath(os.path.abspath(os.fsdecode(args[1])), root)
            if nth is None:
                if matches(relative, target):
                    kill(relative)
            elif not relative.startswith("cache" + os.sep):
                seen += 1
                if seen == nth:
                    kill(relative)

    sys.addaudithook(hook)


if os.environ.get("FITSENSE_KILL_AT") and os.environ.get("FITSENSE_DATA_ROOT"):
    _install(os.environ["FITSENSE_KILL_AT"], os.path.abspath(os.environ["FITSENSE_DATA_ROOT"]) + os.sep)
