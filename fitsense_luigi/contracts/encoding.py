"""How rows and documents are written as JSON, and how JSONL is read back.

The byte-for-byte determinism of the data files rests on this one encoding:
compact rows (one JSON object per line, keys in the producer's order, UTF-8 as
is), and indented documents for reports and manifests. Every file is strict
JSON: Python's ``NaN`` and ``Infinity`` literals, which strict parsers (jq,
JavaScript, Go, DuckDB's JSON reader) reject, are refused when a file is
written, naming the key that holds one.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fitsense_luigi.errors import MalformedInputError


def json_default(value: Any) -> Any:
    """JSON for the numpy, date and decimal values that domain code hands over."""
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps_row(row: Any) -> str:
    return _strict(row, separators=(",", ":"))


def dumps_document(obj: Any) -> str:
    return _strict(obj, indent=2) + "\n"


def _strict(obj: Any, **layout: Any) -> str:
    try:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False, default=json_default, **layout)
    except ValueError as exc:
        found = first_non_finite(obj)
        if found is None:
            raise
        raise ValueError(f"{found[0]} is {found[1]}, which JSON cannot hold") from exc


def first_non_finite(obj: Any, path: str = "") -> tuple[str, float] | None:
    """(key path such as ``a.b[2]``, value) of the first NaN or infinite float in ``obj``, or None."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else (path or "the value", obj)
    if isinstance(obj, dict):
        items: Any = ((f"{path}.{k}" if path else str(k), v) for k, v in obj.items())
    elif isinstance(obj, list | tuple):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(obj))
    else:
        return None
    return next((found for where, value in items if (found := first_non_finite(value, where))), None)


def iter_jsonl(path: Path | str, *, name: str | None = None) -> Iterator[dict[str, Any]]:
    """Rows of a local JSONL file; a malformed line is reported with file and line.

    ``name`` is what messages call the file when ``path`` is a local copy (of an object on S3).
    """
    label = name or path
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield parse_row(line, label, number)


def parse_row(line: str | bytes, label: str | Path, number: int) -> dict[str, Any]:
    """One JSONL line as a row; a malformed one is reported with file and line."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise MalformedInputError(f"{label}:{number}: not a JSON object: {exc.msg}") from None
    except UnicodeDecodeError:
        raise MalformedInputError(f"{label}:{number}: not UTF-8") from None
    if not isinstance(row, dict):
        raise MalformedInputError(f"{label}:{number}: expected a JSON object, got {type(row).__name__}")
    return row
