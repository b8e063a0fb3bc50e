"""``s3://`` data roots: a path object that answers the slice of pathlib the run store uses.

Why a path object: the run store, the stage writer, the teacher cache and the
run log are written against :class:`pathlib.Path` (``/``, ``read_text``,
``is_file``, ``write_bytes`` ...). :class:`S3Path` answers the same calls with
S3 requests, so that code runs unchanged on a bucket, and the local case keeps
plain ``Path`` objects with no indirection. The two things S3 cannot do are
handled where they happen: a rename (``storage.atomic_path`` stages a local
file and uploads it; an S3 PUT is atomic, the object appears whole or not at
all) and an append (``logs`` spools the run log locally and uploads it).

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
import io
import os
import posixpath
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from fitsense_luigi.errors import DataRootError

SCHEME = "s3://"
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
            import logging

            from luigi.contrib.s3 import S3Client

            logging.getLogger("botocore").setLevel(logging.WARNING)  # not a line per credential lookup

            client = S3Client()
            client.s3  # noqa: B018 - build the boto3 resource once, under the lock
            _client[pid] = client
    return client


def _api() -> Any:
    return s3_client().s3.meta.client


def is_s3(value: object) -> bool:
    return isinstance(value, S3Path) or (isinstance(value, str) and value.startswith(SCHEME))


class S3Path:
    """An ``s3://bucket/key`` location with the pathlib methods the pipeline's storage code uses."""

    __slots__ = ("bucket", "key")

    def __init__(self, bucket: str, key: str = "") -> None:
        key = posixpath.normpath(key.strip("/")) if key.strip("/") else ""
        if key.startswith("..") or not bucket:
            raise DataRootError(f"s3://{bucket}/{key}: not a valid S3 location (expected s3://bucket[/prefix])")
        self.bucket = bucket
        self.key = key

    @classmethod
    def from_uri(cls, uri: str) -> S3Path:
        parts = urlsplit(uri)
        if parts.scheme != "s3" or not parts.netloc:
            raise DataRootError(f"{uri}: not an S3 location (expected s3://bucket[/prefix])")
        return cls(parts.netloc, parts.path)

    # -- pure path arithmetic
    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}" if self.key else f"{SCHEME}{self.bucket}"

    def __repr__(self) -> str:
        return f"S3Path({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, S3Path) and (self.bucket, self.key) == (other.bucket, other.key)

    def __hash__(self) -> int:
        return hash((self.bucket, self.key))

    def __truediv__(self, other: str | PurePosixPath) -> S3Path:
        part = str(other)
        if part.startswith("/") or part.startswith(SCHEME):
            raise ValueError(f"cannot join absolute path {part!r} onto {self}")
        return S3Path(self.bucket, f"{self.key}/{part}" if self.key else part)

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.key).suffix

    @property
    def parent(self) -> S3Path:
        return S3Path(self.bucket, posixpath.dirname(self.key))

    def with_name(self, name: str) -> S3Path:
        return self.parent / name

    def relative_to(self, other: S3Path) -> PurePosixPath:
        if not isinstance(other, S3Path) or other.bucket != self.bucket:
            raise ValueError(f"{self} is not under {other}")
        if not other.key:
            return PurePosixPath(self.key)
        if self.key != other.key and not self.key.startswith(other.key + "/"):
            raise ValueError(f"{self} is not under {other}")
        return PurePosixPath(self.key[len(other.key) + 1 :] or ".")

    def as_posix(self) -> str:
        return str(self)

    def absolute(self) -> S3Path:
        return self

    resolve = absolute

    # -- requests
    def read_bytes(self) -> bytes:
        with _errors(self):
            return _api().get_object(Bucket=self.bucket, Key=self.key)["Body"].read()

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> int:
        with _errors(self):
            _api().put_object(Bucket=self.bucket, Key=self.key, Body=data)
        return len(data)

    def write_text(self, text: str, encoding: str = "utf-8") -> int:
        return self.write_bytes(text.encode(encoding))

    def open(self, mode: str = "r", encoding: str | None = None) -> Any:
        """Read-only: the object is fetched whole (writes go through ``storage.atomic_path``)."""
        if mode not in ("r", "rb", "rt"):
            raise io.UnsupportedOperation(f"{self}: S3 objects open for reading only (mode {mode!r})")
        buffer = io.BytesIO(self.read_bytes())
        return buffer if "b" in mode else io.TextIOWrapper(buffer, encoding=encoding or "utf-8")

    def stat(self) -> SimpleNamespace:
        with _errors(self):
            head = _api().head_object(Bucket=self.bucket, Key=self.key)
        return SimpleNamespace(st_size=head["ContentLength"], st_mtime=head["LastModified"].timestamp())

    def is_file(self) -> bool:
        try:
            self.stat()
        except FileNotFoundError:
            return False
        return True

    def is_dir(self) -> bool:
        prefix = f"{self.key}/" if self.key else ""
        with _errors(self):
            listing = _api().list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)
        return not self.key or listing.get("KeyCount", 0) > 0

    def exists(self) -> bool:
        return self.is_file() or self.is_dir()

    def iterdir(self) -> Iterator[S3Path]:
        prefix = f"{self.key}/" if self.key else ""
        paginator = _api().get_paginator("list_objects_v2")
        with _errors(self):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
                for entry in page.get("CommonPrefixes", []):
                    yield S3Path(self.bucket, entry["Prefix"])
                for entry in page.get("Contents", []):
                    yield S3Path(self.bucket, entry["Key"])

    def unlink(self, missing_ok: bool = False) -> None:
        if not missing_ok and not self.is_file():
            raise FileNotFoundError(str(self))
        with _errors(self):
            _api().delete_object(Bucket=self.bucket, Key=self.key)

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to do: S3 has no directories, a key's prefix exists once an object is under it."""

    # -- transfers through a local file
    def upload(self, local: Path) -> None:
        """One PUT up to 64 MiB (no transfer threads, so it also works at interpreter exit), multipart above."""
        with _errors(self), open(local, "rb") as fh:
            if os.fstat(fh.fileno()).st_size <= _SINGLE_PUT_MAX:
                _api().put_object(Bucket=self.bucket, Key=self.key, Body=fh)
            else:
                _api().upload_fileobj(Fileobj=fh, Bucket=self.bucket, Key=self.key)

    @contextlib.contextmanager
    def staged(self) -> Iterator[Path]:
        """A local file to write; uploaded as this object only if the block succeeds."""
        with _scratch(self.name) as local:
            yield local
            self.upload(local)

    @contextlib.contextmanager
    def local_copy(self) -> Iterator[Path]:
        """Download once into a temporary file (pyarrow and hashing read it there)."""
        with _scratch(self.name) as local:
            with _errors(self):
                _api().download_file(self.bucket, self.key, str(local))
            yield local


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
def _errors(path: S3Path) -> Iterator[None]:
    """Missing object -> FileNotFoundError; what an operator must fix -> one-line DataRootError."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            raise FileNotFoundError(str(path)) from None
        if code == "NoSuchBucket":
            raise DataRootError(f"{path}: bucket {path.bucket!r} does not exist (create it first)") from None
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise DataRootError(f"{path}: access denied ({code}); check the AWS credentials") from None
        raise
    except NoCredentialsError:
        raise DataRootError(f"{path}: no AWS credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)") from None
    except BotoCoreError as exc:
        raise DataRootError(
            f"{path}: S3 request failed: {exc} (check AWS_ENDPOINT_URL or [s3] endpoint_url)", permanent=False
        ) from None


def check_bucket(root: S3Path) -> None:
    """Fail early, creating nothing, when the bucket behind a data root cannot be reached."""
    try:
        with _errors(root):
            _api().head_bucket(Bucket=root.bucket)
    except FileNotFoundError:  # head_bucket answers a bare 404 for a missing bucket
        raise DataRootError(f"data root {root}: bucket {root.bucket!r} does not exist (create it first)") from None
