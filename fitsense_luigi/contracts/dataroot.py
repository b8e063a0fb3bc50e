"""The data root: where runs, the teacher cache and run logs live, as one protocol.

The runtime resolves the data root once (``pipeline.roots.open_data_root``): a
local directory or an ``s3://bucket/prefix``. Everything else talks to it
through this protocol with keys, '/'-separated paths relative to the root
(``raw/synthetic_queries/<run>/queries.jsonl``), and never asks which kind it
is. Each operation is atomic the way the kind allows: a local file is written
to a temporary sibling and renamed; an object is uploaded in one PUT.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from fitsense_luigi.errors import DataRootError


class RunLog(logging.Handler):
    """A handler appending to a run's log; ``sync`` makes what was logged visible in the data root."""

    def sync(self, final: bool = False) -> None:  # pragma: no cover - every root's handler overrides
        raise NotImplementedError


class DataRoot(Protocol):
    def uri(self, key: str = "") -> str:
        """Where ``key`` is, as a user reads it: an absolute path, or ``s3://bucket/prefix/key``."""
        ...

    def scoped(self, prefix: str) -> DataRoot:
        """The same root with every key under ``prefix`` (e.g. the teacher cache)."""
        ...

    def check(self) -> None:
        """Fail early in one line (``DataRootError``), creating nothing, when the root cannot be written."""
        ...

    # -- reading
    def is_file(self, key: str) -> bool: ...

    def read_bytes(self, key: str) -> bytes:
        """The whole file; ``FileNotFoundError`` when it does not exist."""
        ...

    def local_copy(self, key: str) -> AbstractContextManager[Path]:
        """A local file with the content of ``key`` (the file itself, or one download), for hashing and pyarrow."""
        ...

    def subdirectories(self, key: str) -> Iterator[str]:
        """Names of the directories (prefixes) directly under ``key``, sorted."""
        ...

    # -- writing
    def write_bytes(self, key: str, data: bytes, *, durable: bool = False) -> None:
        """Whole or not at all; ``durable``: on disk (fsync) before the name appears."""
        ...

    def staged(self, key: str) -> AbstractContextManager[Path]:
        """A local file to write; it becomes ``key`` only if the block succeeds."""
        ...

    def move_aside(self, key: str, to: str) -> None:
        """Rename ``key`` to ``to`` (e.g. a damaged cache entry into quarantine, where a person can look at it)."""
        ...

    def sweep_temporaries(self, directory: str, *, older_than_s: float | None = None) -> None:
        """Remove temporaries of killed writes in ``directory``: those whose writer's pid is gone, or, where
        several hosts write and pids say nothing, those older than ``older_than_s``."""
        ...

    def discard_temporaries_of(self, key: str) -> None:
        """Remove every temporary of ``key`` whoever left it (for the one writer that holds the key's lock)."""
        ...

    def failure(self, exc: OSError, key: str, doing: str = "write") -> DataRootError:
        """One line for an operation on ``key`` the storage refused: where, why, what to do; ``permanent`` when
        it will recur until someone acts."""
        ...

    # -- what must be local
    def database_path(self, key: str) -> Path | None:
        """A local file for an SQLite database that every process under this root shares (made if missing), or
        None where the root cannot hold one (an object store)."""
        ...

    def lock_path(self, key: str) -> Path:
        """The local file to ``flock`` for ``key`` (for an object store: per host, in the temp directory)."""
        ...

    def scheduler_state_path(self) -> Path:
        """Where luigid keeps its state for this root (a local file it rewrites in place)."""
        ...

    def run_log(self, key: str) -> RunLog:
        """A handler that appends this process's log records to the run log at ``key``."""
        ...
