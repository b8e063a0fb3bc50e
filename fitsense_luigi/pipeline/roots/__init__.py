"""Data roots: a local directory or an ``s3://bucket/prefix``, behind one protocol
(:class:`fitsense_luigi.contracts.dataroot.DataRoot`).

:func:`open_data_root` is the one place that looks at a root's spelling and
picks its kind; everything after it (run store, teacher cache, locks, run log,
luigid's state file) asks the root, never which kind it is.
"""

from __future__ import annotations

import os
from pathlib import Path

from fitsense_luigi.contracts.dataroot import DataRoot
from fitsense_luigi.pipeline.roots.local import LocalRoot

S3_SCHEME = "s3://"


def open_data_root(value: str | os.PathLike[str] | DataRoot) -> DataRoot:
    """``s3://bucket/prefix`` -> an S3 root (boto3 is imported only then); anything else -> a local directory."""
    if isinstance(value, str | os.PathLike):
        text = os.fspath(value)
        if text.startswith(S3_SCHEME):
            from fitsense_luigi.pipeline.roots.s3 import S3Root

            return S3Root.from_uri(text)
        return LocalRoot(Path(text).expanduser().absolute())  # data_root: ~/fitsense means the home directory
    return value


__all__ = ["DataRoot", "LocalRoot", "open_data_root"]
