"""A data root on a local (or mounted) file system.

Writes go to a temporary sibling, named ``.<name>.tmp-<pid>-<token>``, that is
renamed into place, so a reader never sees half a file; a write killed before
its rename leaves only such a temporary, which later writers sweep away.

**No link is followed below the root.** The root itself may be a symbolic link
(an operator's choice, e.g. ``/srv/fitsense -> /mnt/big``), but nothing under
it: every directory a write goes through is checked, component by component,
to be a real directory (:meth:`LocalRoot.directory`), temporaries are created
with ``O_EXCL | O_NOFOLLOW``, the run log and lock files are opened with
``O_NOFOLLOW``, and a rename replaces a link at the final name instead of
writing through it. So ``reports/<run>/run.log`` planted as a link to a file
elsewhere, or a dangling lock link, is refused in one line instead of being
appended to or created wherever it points.

**Disk errors are one line** (:func:`storage_error`): the path, the system's
words, and the free space of its file system; a full disk or quota
(``ENOSPC``, ``EDQUOT``) may pass (space is freed, Luigi's retry succeeds), a
read-only or forbidden path (``EROFS``, ``EACCES``, ``EPERM``) or a link
(``ELOOP``) will not until someone acts, so those are permanent.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import shutil
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from fitsense_luigi.config import DATA_ROOT_ENV
from fitsense_luigi.contracts.dataroot import RunLog
from fitsense_luigi.errors import DataRootError

TEMPORARY_NAME = re.compile(r"^\..+\.tmp-(\d+)-[0-9a-f]+$")
SCHEDULER_STATE_FILE = "luigi-state.pickle"  # luigid's state (see pipeline.scheduler)
NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# errors that retrying cannot mend: someone must act (remount, change permissions, remove a link)
# file systems of one host: an SQLite database with a write-ahead log is safe on them (not on NFS, SMB, FUSE)
LOCAL_FILE_SYSTEMS = frozenset(
    {"ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "f2fs", "bcachefs", "jfs", "reiserfs", "tmpfs", "ramfs", "overlay"}
)
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")
PERMANENT_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM, errno.ELOOP, errno.ENOTDIR, errno.ENAMETOOLONG})


def temporary_name(final_name: str) -> str:
    """Unique per write: pid and time repeat across containers (``luigi`` is pid 1 in each) that share a root."""
    return f".{final_name}.tmp-{os.getpid()}-{secrets.token_hex(6)}"


def storage_error(exc: OSError, path: Path | str, doing: str = "write") -> DataRootError:
    """One line for a failed file operation: the path, the reason, the free space; permanent when it will recur."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    code = exc.errno
    if code is None and "No space left" in reason:  # pyarrow's IO errors carry the text, not the errno
        code = errno.ENOSPC
    hint = {
        errno.ENOSPC: "free some space, then rerun (nothing already written is lost)",
        errno.EDQUOT: "raise the quota or free some space, then rerun",
        errno.EROFS: "the file system is read-only: remount it read-write or set a writable data root",
        errno.EACCES: f"give this user write access, or set {DATA_ROOT_ENV} to a writable directory",
        errno.EPERM: f"give this user write access, or set {DATA_ROOT_ENV} to a writable directory",
    }.get(code or 0, "")
    return DataRootError(
        f"cannot {doing} {path}: {reason} ({free_space(path)}){'; ' + hint if hint else ''}",
        permanent=code in PERMANENT_ERRNOS,
    )


def free_space(path: Path | str) -> str:
    """'12.0 MiB free of 8.0 GiB' for the file system holding ``path`` (its nearest existing ancestor)."""
    probe = Path(path)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError:
        return "free space unknown"
    return f"{_size(usage.free)} free of {_size(usage.total)}"


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"  # pragma: no cover


def file_system_of(path: Path) -> str | None:
    """The type of the file system holding ``path`` (``ext4``, ``nfs4``...), from ``/proc/self/mountinfo``;
    None where that cannot be told (not Linux)."""
    try:
        mounts = Path("/proc/self/mountinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    where = os.path.realpath(path)
    best, kind = "", None
    for line in mounts:
        fields = line.split(" ")
        try:
            point = _OCTAL_ESCAPE.sub(lambda m: chr(int(m[1], 8)), fields[4])  # a space is written \040
            fs_type = fields[fields.index("-", 6) + 1]
        except (IndexError, ValueError):
            continue
        inside = where == point or where.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fs_type
    return kind


def link_error(path: Path) -> DataRootError:
    try:
        target = f" (to {os.readlink(path)})"
    except OSError:
        target = ""
    return DataRootError(
        f"{path} is a symbolic link{target}: the pipeline follows no link under the data root; "
        f"remove it (the pipeline makes the file or directory itself)"
    )


class LocalRoot:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._verified: set[Path] = set()  # directories below the root known to be real directories
        self._folders: dict[str, str] = {}  # a key's directory part -> that directory, verified (for writes)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalRoot({str(self.path)!r})"

    def __reduce__(self) -> tuple[type[LocalRoot], tuple[Path]]:
        """Pickled as its path (a teacher helper process opens the same root, :mod:`fitsense_luigi.teacher.fanout`)."""
        return LocalRoot, (self.path,)

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

    # -- directories: made here, never through a link
    def directory(self, path: Path, *, create: bool = True) -> Path:
        """``path`` (the root or below it) as a real directory, made if missing; a link on the way is refused.

        ``create=False``: only the parts that exist are checked, nothing is made (building Luigi's graph
        asks where locks live and must write nothing)."""
        if path in self._verified:
            return path
        try:
            relative = path.relative_to(self.path)
        except ValueError:
            raise ValueError(f"{path} is not under the data root {self.path}") from None
        current = self.path
        try:
            if create:
                current.mkdir(parents=True, exist_ok=True)  # the root itself may be (or sit behind) a link
            for part in relative.parts:
                current = current / part
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(current)
                try:
                    info = os.lstat(current)
                except FileNotFoundError:
                    if create:
                        raise
                    return path  # the rest is made by the lock's holder, below a checked directory
                if stat.S_ISLNK(info.st_mode):
                    raise link_error(current)
                if not stat.S_ISDIR(info.st_mode):
                    raise DataRootError(f"{current} is a file where the pipeline keeps a directory; move it away")
        except OSError as exc:
            raise storage_error(exc, current, "make the directory") from None
        with self._lock:
            self._verified.add(path)
        return path

    # -- reading
    def is_file(self, key: str) -> bool:
        """A regular file, not a link to one."""
        try:
            return stat.S_ISREG(os.lstat(self.file(key)).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False

    def read_bytes(self, key: str) -> bytes:
        path = self.file(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise link_error(path) from None
            raise
        with os.fdopen(fd, "rb") as fh:
            return fh.read()

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        path = self.file(key)
        if path.is_symlink():
            raise link_error(path)
        yield path

    def subdirectories(self, key: str) -> Iterator[str]:
        directory = self.file(key)
        if directory.is_dir() and not directory.is_symlink():
            yield from sorted(entry.name for entry in os.scandir(directory) if entry.is_dir(follow_symlinks=False))

    # -- writing
    def write_bytes(self, key: str, data: bytes, *, durable: bool = False) -> None:
        """As :meth:`staged` does, in the fewest system calls (the teacher cache writes a thousand files a
        second): one exclusive open, the writes, a rename; the temporary is removed only when something failed.
        Paths are text here, not ``Path`` objects: their joins cost a third of a small write's CPU."""
        directory, _, name = key.rpartition("/")
        folder = self._folders.get(directory)
        if folder is None:
            folder = str(self.directory(self.file(directory)))
            with self._lock:
                self._folders[directory] = folder
        final = f"{folder}/{name}"
        tmp = f"{folder}/{temporary_name(name)}"
        try:
            fd = os.open(tmp, NEW_FILE, 0o644)
        except OSError as exc:
            raise storage_error(exc, final) from None
        renaming = False
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            renaming = True
            os.replace(tmp, final)  # a link at the final name is replaced, not written through
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise storage_error(exc, final, *(("rename into",) if renaming else ())) from None

    @contextlib.contextmanager
    def staged(self, key: str) -> Iterator[Path]:
        """A new temporary beside ``key`` (created here, exclusively, never through a link), renamed on success.

        Whatever the block writes, a disk error becomes one line (:func:`storage_error`) naming ``key``.
        """
        final = self.file(key)
        self.directory(final.parent)
        tmp = final.with_name(temporary_name(final.name))
        try:
            try:
                os.close(os.open(tmp, NEW_FILE, 0o644))
            except OSError as exc:
                raise storage_error(exc, final) from None
            try:
                yield tmp
            except DataRootError:
                raise
            except OSError as exc:
                raise storage_error(exc, final) from None
            try:
                os.replace(tmp, final)  # a link at the final name is replaced, not written through
            except OSError as exc:
                raise storage_error(exc, final, "rename into") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def move_aside(self, key: str, to: str) -> None:
        """Rename ``key`` to ``to`` (its directory made if missing), e.g. a damaged cache entry into quarantine."""
        target = self.file(to)
        self.directory(target.parent)
        try:
            os.replace(self.file(key), target)
        except OSError as exc:
            raise storage_error(exc, target, "move a file to") from None

    def sweep_temporaries(self, directory: str, *, older_than_s: float | None = None) -> None:
        folder = self.file(directory)
        if not folder.is_dir() or folder.is_symlink():
            return
        cutoff = time.time() - older_than_s if older_than_s is not None else None
        for entry in os.scandir(folder):
            match = TEMPORARY_NAME.match(entry.name)
            if not match:
                continue
            with contextlib.suppress(FileNotFoundError):
                if cutoff is not None:
                    abandoned = entry.stat(follow_symlinks=False).st_mtime < cutoff
                else:
                    abandoned = not _pid_alive(int(match[1]))
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

    def failure(self, exc: OSError, key: str, doing: str = "write") -> DataRootError:
        return storage_error(exc, self.file(key), doing)

    # -- what must be local: it is
    def database_path(self, key: str) -> Path | None:
        """The file, made here if missing (so a refusal is the system's own error, in one line), never a link;
        None on a network file system (NFS, SMB, FUSE...): SQLite's write-ahead log shares memory between the
        processes that use it, which a file system shared between hosts cannot give (sqlite.org/wal.html)."""
        path = self.file(key)
        self.directory(path.parent)
        if file_system_of(path.parent) not in LOCAL_FILE_SYSTEMS:
            return None
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644))
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise link_error(path) from None
            raise storage_error(exc, path, "create") from None
        return path

    def lock_path(self, key: str) -> Path:
        path = self.file(key)
        self.directory(path.parent, create=False)
        return path

    def scheduler_state_path(self) -> Path:
        path = self.file(f"scheduler/{SCHEDULER_STATE_FILE}")
        self.directory(path.parent)
        if path.is_symlink():
            raise link_error(path)
        return path

    def run_log(self, key: str) -> RunLog:
        path = self.file(key)
        self.directory(path.parent)
        return RunLogFile(str(path), encoding="utf-8")


class RunLogFile(logging.FileHandler, RunLog):
    """The run log appended to in place; every process of the run shares the file.

    Opened with ``O_NOFOLLOW`` (a link planted at its name is refused, not appended to). When the disk
    is full or the file system fails, the log says so once on stderr and keeps to stderr, trying the file
    again every ``RETRY_S``, instead of a ``--- Logging error ---`` traceback per record.
    """

    RETRY_S = 10.0

    def __init__(self, filename: str, encoding: str = "utf-8") -> None:
        self._failed_at: float | None = None
        path = Path(filename)
        if path.is_symlink():
            raise link_error(path)
        super().__init__(filename, encoding=encoding)

    def _open(self):  # type: ignore[no-untyped-def]
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.baseFilename, flags, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise link_error(Path(self.baseFilename)) from None
            raise
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)

    def emit(self, record: logging.LogRecord) -> None:
        if self._failed_at is not None and time.monotonic() - self._failed_at < self.RETRY_S:
            return
        super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):
            return super().handleError(record)
        first = self._failed_at is None
        self._failed_at = time.monotonic()
        with contextlib.suppress(Exception):
            if self.stream is not None:
                self.stream.close()
        self.stream = None  # reopened on the next try
        if first:
            problem = storage_error(exc, self.baseFilename, "append to the run log")
            print(f"{problem}; logging to stderr only", file=sys.stderr, flush=True)

    def sync(self, final: bool = False) -> None:
        with contextlib.suppress(OSError):
            self.flush()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
