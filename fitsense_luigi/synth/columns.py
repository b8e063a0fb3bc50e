"""Small converters from numpy columns to the Arrow types of the app schema, plus vectorised text helpers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from fitsense_luigi import ids

TEXT = np.dtypes.StringDType()


def uuid(values: np.ndarray, present: np.ndarray | None = None) -> pa.Array:
    """uuid column; where ``present`` is False the row is NULL (a nullable foreign key)."""
    if present is None or bool(np.all(present)):
        return ids.to_arrow(values)
    validity = pa.py_buffer(np.packbits(present, bitorder="little").tobytes())
    data = pa.py_buffer(np.ascontiguousarray(values).tobytes())
    storage = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), values.shape[0], [validity, data])
    return pa.ExtensionArray.from_storage(pa.uuid(), storage)


def decimal(values: np.ndarray, precision: int, scale: int, present: np.ndarray | None = None) -> pa.Array:
    """Rounded half-away-from-zero by numpy first, so the decimal cast never fails on excess digits."""
    values = np.round(np.asarray(values, dtype=np.float64), scale)
    if present is None:
        return pa.array(values).cast(pa.decimal128(precision, scale))
    return pa.array(np.where(present, values, 0.0), mask=~present).cast(pa.decimal128(precision, scale))


def int32(values: np.ndarray, present: np.ndarray | None = None) -> pa.Array:
    values = np.asarray(values)
    if present is None:
        return pa.array(values.astype(np.int32))
    return pa.array(np.where(present, values, 0).astype(np.int32), mask=~present)


def timestamp(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values).astype("datetime64[us]")).cast(pa.timestamp("us", tz="UTC"))


def date(values: np.ndarray, present: np.ndarray | None = None) -> pa.Array:
    days = np.asarray(values).astype("datetime64[D]")
    return pa.array(days) if present is None else pa.array(days, mask=~present)


def day(as_of: dt.date) -> np.datetime64:
    return np.datetime64(as_of, "D")


def window_start(as_of: dt.date, lookback: int) -> np.datetime64:
    """First day of the look-back window that ends on (and includes) the as-of date."""
    return day(as_of) - np.timedelta64(lookback - 1, "D")


def text(values: np.ndarray | list[str], present: np.ndarray | None = None) -> pa.Array:
    values = np.asarray(values, dtype=TEXT)
    return pa.array(values, type=pa.string()) if present is None else pa.array(values, pa.string(), mask=~present)


def optional_text(values: np.ndarray) -> pa.Array:
    """Empty strings become NULL: "nothing to say" is a missing value in the app, not an empty note."""
    values = np.asarray(values, dtype=TEXT)
    return text(values, present=values != "")


def nulls(n: int, kind: pa.DataType) -> pa.Array:
    return pa.nulls(n, type=kind)


def pick(rng: np.random.Generator, options: np.ndarray | list[str], n: int, p: list[float] | None = None) -> np.ndarray:
    """n draws from ``options`` (optionally weighted) as a numpy string column."""
    options = np.asarray(options, dtype=TEXT)
    return options[rng.choice(options.size, n, p=p)] if n else options[:0]


def join(parts: list[np.ndarray], sep: str = "; ") -> np.ndarray:
    """Join per-row text parts, skipping empty ones: ["a", "", "b"] -> "a; b"."""
    out = np.asarray(parts[0], dtype=TEXT)
    for part in parts[1:]:
        part = np.asarray(part, dtype=TEXT)
        both = np.strings.add(np.strings.add(out, sep), part)
        out = np.where(out == "", part, np.where(part == "", out, both))
    return out


def concat(*pieces: np.ndarray | str) -> np.ndarray:
    """Element-wise concatenation of string columns and constants."""
    out = np.asarray(pieces[0], dtype=TEXT)
    for piece in pieces[1:]:
        out = np.strings.add(out, np.asarray(piece, dtype=TEXT) if not isinstance(piece, str) else piece)
    return out


def numbers(values: np.ndarray) -> np.ndarray:
    """Integers as a string column."""
    return np.asarray(values).astype(np.int64).astype(TEXT)
