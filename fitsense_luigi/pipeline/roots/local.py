"""A data root on a local (or mounted) file system.

Writes go to a temporary sibling, named ``.<name>.tmp-<pid>-<token>``, that is
renamed into place, so a reader never sees half a file; a write killed before
its rename leaves only such a temporary, which later writers sweep away.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from fitsense_luigi.config import DATA_ROOT_ENV
from fitsense_luigi.contracts.dataroot import RunLog
from fitsense_luigi.errors import DataRootError

TEMPORARY_NAME = re.compile(r"^\..+\.tmp-(\d+)-[0-9a-f]+$")
SCHEDULER_STATE_FILE = "luigi-state.pickle"  # luigid's state (see pipeline.scheduler)


def temporary_name(final_name: str) -> str:
    """Unique per write: pid and time repeat across containers (``luigi`` is pid 1 in each) that share a root."""
    return f".{final_name}.tmp-{os.getpid()}-{secrets.token_hex(6)}"


class LocalRoot:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"LocalRoot({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalRoot) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def file(self, key: str) -> Path:
        return self.path / key if key else self.path

    def uri(self, key: str = "") -> str:
        return str(self.file(key))

    def scoped(self, prefix: str) -> LocalRoot:
        return LocalRoot(self.file(prefix))

    def check(self) -> None:
        """The nearest existing ancestor must be a writable directory: probed for real, nothing left behind."""
        root = self.path
        probe = root
        while not probe.exists():
            if probe.parent == probe:
                break
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            raise DataRootError(f"data root {root}: {probe} is a file, not a directory")
        what = "data root" if probe == root else f"data root {root}: parent directory"
        if not os.access(probe, os.W_OK | os.X_OK):
            raise DataRootError(f"{what} {probe} is not writable (set {DATA_ROOT_ENV} or run.data_root)")
        try:  # os.access says yes to root even on read-only mounts
            with tempfile.TemporaryFile(dir=probe, prefix=".fitsense-probe-"):
                pass
        except OSError as exc:
            raise DataRootError(
                f"{what} {probe} takes no new files (creating one there failed: {exc.strerror}); "
                f"set {DATA_ROOT_ENV} or run.data_root"
            ) from None

    # -- reading
    def is_file(self, key: str) -> bool:
        return self.file(key).is_file()

    def read_bytes(self, key: str) -> bytes:
        return self.file(key).read_bytes()

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        yield self.file(key)

    def subdirectories(self, key: str) -> Iterator[str]:
        directory = self.file(key)
        if directory.is_dir():
            yield from sorted(entry.name for entry in directory.iterdir() if entry.is_dir())

    # -- writing
    def write_bytes(self, key: str, data: bytes, *, durable: bool = False) -> None:
        with self.staged(key) as tmp, open(tmp, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())

    @contextlib.contextmanager
    def staged(self, key: str) -> Iterator[Path]:
        final = self.file(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(temporary_name(final.name))
        try:
            yield tmp
            os.replace(tmp, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def sweep_temporaries(self, directory: str, *, older_than_s: float | None = None) -> None:
        folder = self.file(directory)
        if not folder.is_dir():
            return
        cutoff = time.time() - older_than_s if older_than_s is not None else None
        for entry in os.scandir(folder):
            match = TEMPORARY_NAME.match(entry.name)
            if not match:
                continue
            with contextlib.suppress(FileNotFoundError):
                abandoned = entry.stat().st_mtime < cutoff if cutoff is not None else not _pid_alive(int(match[1]))
                if abandoned:
                    os.unlink(entry.path)

    def discard_temporaries_of(self, key: str) -> None:
        final = self.file(key)
        if not final.parent.is_dir():
            return
        prefix = f".{final.name}.tmp-"
        for entry in final.parent.iterdir():
            if entry.name.startswith(prefix) and TEMPORARY_NAME.match(entry.name):
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()

    # -- what must be local: it is
    def lock_path(self, key: str) -> Path:
        return self.file(key)

    def scheduler_state_path(self) -> Path:
        return self.file(f"scheduler/{SCHEDULER_STATE_FILE}")

    def run_log(self, key: str) -> RunLog:
        path = self.file(key).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return RunLogFile(str(path), encoding="utf-8")


class RunLogFile(logging.FileHandler, RunLog):
    """The run log appended to in place; every process of the run shares the file."""

    def sync(self, final: bool = False) -> None:
        self.flush()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
