"""A data root in an S3 bucket (``s3://bucket/prefix``), or any S3-compatible store.

What S3 cannot do is done around it: there is no rename, so a write is staged
in a local file and uploaded in one PUT (an object appears whole or not at all,
and no temporary ever lands in the bucket); there is no append, so each process
spools its run log locally and uploads it whole; there is no ``flock``, so
stage locks are per host (several hosts need luigid).

The connection comes from ``luigi.contrib.s3.S3Client``, so luigi's ``[s3]``
section (``endpoint_url``, ``region_name``, credentials) and boto3's standard
environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...) both apply. Calls
go through the client's low-level boto3 client, which, unlike the boto3
resource, is safe to share between the teacher stage's threads; a forked luigi
worker process builds its own. S3 failures that an operator can fix (no
bucket, no credentials, endpoint unreachable) become one-line ``DataRootError``s.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import posixpath
import secrets
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fitsense_luigi.contracts.dataroot import RunLog
from fitsense_luigi.contracts.files import RUN_LOGS_DIR
from fitsense_luigi.errors import DataRootError
from fitsense_luigi.pipeline.roots.local import SCHEDULER_STATE_FILE

_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_SINGLE_PUT_MAX = 64 << 20

_lock = threading.Lock()
_client: dict[int, Any] = {}  # pid -> luigi S3Client (a forked child must not reuse its parent's sockets)


def _reset_after_fork() -> None:
    global _lock
    _lock = threading.Lock()
    _client.clear()


os.register_at_fork(after_in_child=_reset_after_fork)


def reset_client() -> None:
    """Forget the connection, so that the next request reads ``[s3]`` and the environment again."""
    with _lock:
        _client.clear()


def s3_client() -> Any:
    """This process's ``luigi.contrib.s3.S3Client``, configured from ``[s3]`` and the environment."""
    pid = os.getpid()
    with _lock:
        client = _client.get(pid)
        if client is None:
            from luigi.contrib.s3 import S3Client

            logging.getLogger("botocore").setLevel(logging.WARNING)  # not a line per credential lookup
            client = S3Client()
            client.s3  # noqa: B018 - build the boto3 resource once, under the lock
            _client[pid] = client
    return client


def _api() -> Any:
    return s3_client().s3.meta.client


def _join(*parts: str) -> str:
    joined = "/".join(p.strip("/") for p in parts if p.strip("/"))
    return posixpath.normpath(joined) if joined else ""


class S3Root:
    def __init__(self, bucket: str, prefix: str = "") -> None:
        prefix = _join(prefix)
        if prefix.startswith("..") or not bucket:
            raise DataRootError(f"s3://{bucket}/{prefix}: not a valid S3 location (expected s3://bucket[/prefix])")
        self.bucket = bucket
        self.prefix = prefix

    @classmethod
    def from_uri(cls, uri: str) -> S3Root:
        parts = urlsplit(uri)
        if parts.scheme != "s3" or not parts.netloc:
            raise DataRootError(f"{uri}: not an S3 location (expected s3://bucket[/prefix])")
        return cls(parts.netloc, parts.path)

    def __repr__(self) -> str:
        return f"S3Root({self.uri()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, S3Root) and (other.bucket, other.prefix) == (self.bucket, self.prefix)

    def __hash__(self) -> int:
        return hash((self.bucket, self.prefix))

    def object_key(self, key: str) -> str:
        full = _join(self.prefix, key)
        if full.startswith("..") or (self.prefix and full != self.prefix and not full.startswith(self.prefix + "/")):
            raise ValueError(f"{key!r} is not under {self.uri()}")
        return full

    def uri(self, key: str = "") -> str:
        full = self.object_key(key)
        return f"s3://{self.bucket}/{full}" if full else f"s3://{self.bucket}"

    def scoped(self, prefix: str) -> S3Root:
        return S3Root(self.bucket, self.object_key(prefix))

    def check(self) -> None:
        """The bucket must exist and answer (head_bucket); nothing is created."""
        try:
            with _errors(self.uri()):
                _api().head_bucket(Bucket=self.bucket)
        except FileNotFoundError:  # head_bucket answers a bare 404 for a missing bucket
            raise DataRootError(
                f"data root {self.uri()}: bucket {self.bucket!r} does not exist (create it first)"
            ) from None

    # -- reading
    def is_file(self, key: str) -> bool:
        try:
            with _errors(self.uri(key)):
                _api().head_object(Bucket=self.bucket, Key=self.object_key(key))
        except FileNotFoundError:
            return False
        return True

    def read_bytes(self, key: str) -> bytes:
        with _errors(self.uri(key)):
            return _api().get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"].read()

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """Download once into a temporary file (pyarrow and hashing read it there)."""
        with _scratch(posixpath.basename(key)) as local:
            with _errors(self.uri(key)):
                _api().download_file(self.bucket, self.object_key(key), str(local))
            yield local

    def subdirectories(self, key: str) -> Iterator[str]:
        prefix = f"{self.object_key(key)}/" if self.object_key(key) else ""
        names: list[str] = []
        with _errors(self.uri(key)):
            pages = _api().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/")
            for page in pages:
                names += [entry["Prefix"][len(prefix) :].rstrip("/") for entry in page.get("CommonPrefixes", [])]
        yield from sorted(names)

    # -- writing
    def write_bytes(self, key: str, data: bytes, *, durable: bool = False) -> None:
        """One PUT: the object appears whole or not at all (and is durable once S3 answers)."""
        with _errors(self.uri(key)):
            _api().put_object(Bucket=self.bucket, Key=self.object_key(key), Body=data)

    @contextlib.contextmanager
    def staged(self, key: str) -> Iterator[Path]:
        with _scratch(posixpath.basename(key)) as local:
            yield local
            self.upload(local, key)

    def upload(self, local: Path, key: str) -> None:
        """One PUT up to 64 MiB (no transfer threads, so it also works at interpreter exit), multipart above."""
        with _errors(self.uri(key)), open(local, "rb") as fh:
            if os.fstat(fh.fileno()).st_size <= _SINGLE_PUT_MAX:
                _api().put_object(Bucket=self.bucket, Key=self.object_key(key), Body=fh)
            else:
                _api().upload_fileobj(Fileobj=fh, Bucket=self.bucket, Key=self.object_key(key))

    def move_aside(self, key: str, to: str) -> None:
        """Copy, then delete (S3 has no rename)."""
        with _errors(self.uri(key)):
            source = {"Bucket": self.bucket, "Key": self.object_key(key)}
            _api().copy_object(Bucket=self.bucket, Key=self.object_key(to), CopySource=source)
            _api().delete_object(Bucket=self.bucket, Key=self.object_key(key))

    def sweep_temporaries(self, directory: str, *, older_than_s: float | None = None) -> None:
        """Nothing to sweep: writes are staged outside the bucket."""

    def discard_temporaries_of(self, key: str) -> None:
        """Nothing to discard: writes are staged outside the bucket."""

    def failure(self, exc: OSError, key: str, doing: str = "write") -> DataRootError:
        return DataRootError(f"cannot {doing} {self.uri(key)}: {exc.strerror or exc}")

    # -- what must be local
    def database_path(self, key: str) -> Path | None:
        """None: an object cannot be written in place (the teacher cache keeps one object per entry here)."""
        return None

    def lock_path(self, key: str) -> Path:
        """Per host: flock needs a local file; across hosts luigid keeps two workers off one task."""
        return Path(tempfile.gettempdir()) / "fitsense-locks" / self.bucket / self.object_key(key)

    def scheduler_state_path(self) -> Path:
        """luigid rewrites its state in place, which an object cannot be: ``$XDG_STATE_HOME/fitsense``."""
        state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(state_home) / "fitsense" / SCHEDULER_STATE_FILE

    def run_log(self, key: str) -> RunLog:
        return SpooledRunLog(self, key)


class SpooledRunLog(logging.FileHandler, RunLog):
    """A local log file uploaded whole (an object store cannot append), one object per process:
    ``<reports>/run-logs/<host>-<pid>-<token>.log``."""

    def __init__(self, root: S3Root, key: str) -> None:
        name = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}.log"
        spool = Path(tempfile.gettempdir()) / f"fitsense-{root.bucket}-{name}"
        super().__init__(spool, encoding="utf-8")
        self.root = root
        self.remote = posixpath.join(posixpath.dirname(key), RUN_LOGS_DIR, name)

    def sync(self, final: bool = False) -> None:
        """Upload the spool; a forked task process (it exits after its task) or an exiting one removes it."""
        self.flush()
        spool = Path(self.baseFilename)
        try:
            self.root.upload(spool, self.remote)
        except Exception as exc:  # a log upload must never fail the task that wrote the log
            logging.getLogger("fitsense.logs").warning(
                "could not upload the run log to %s: %s", self.root.uri(self.remote), exc
            )
            return
        if final or multiprocessing.parent_process() is not None:
            spool.unlink(missing_ok=True)


@contextlib.contextmanager
def _scratch(name: str) -> Iterator[Path]:
    fd, raw = tempfile.mkstemp(prefix="fitsense-s3-", suffix=f"-{name}")
    os.close(fd)
    local = Path(raw)
    try:
        yield local
    finally:
        with contextlib.suppress(FileNotFoundError):
            local.unlink()


@contextlib.contextmanager
def _errors(where: str) -> Iterator[None]:
    """Missing object -> FileNotFoundError; what an operator must fix -> one-line DataRootError."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    bucket = urlsplit(where).netloc
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            raise FileNotFoundError(where) from None
        if code == "NoSuchBucket":
            raise DataRootError(f"{where}: bucket {bucket!r} does not exist (create it first)") from None
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise DataRootError(f"{where}: access denied ({code}); check the AWS credentials") from None
        raise
    except NoCredentialsError:
        raise DataRootError(f"{where}: no AWS credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)") from None
    except BotoCoreError as exc:
        raise DataRootError(
            f"{where}: S3 request failed: {exc} (check AWS_ENDPOINT_URL or [s3] endpoint_url)", permanent=False
        ) from None
