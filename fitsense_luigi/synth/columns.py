"""Small converters from numpy columns to the Arrow types of the app schema."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from fitsense_luigi import ids


def uuid(values: np.ndarray) -> pa.Array:
    return ids.to_arrow(values)


def decimal(values: np.ndarray, precision: int, scale: int) -> pa.Array:
    return pa.array(np.round(np.asarray(values, dtype=np.float64), scale)).cast(pa.decimal128(precision, scale))


def timestamp(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values).astype("datetime64[us]")).cast(pa.timestamp("us", tz="UTC"))


def date(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values).astype("datetime64[D]"))


def day(as_of: dt.date) -> np.datetime64:
    return np.datetime64(as_of, "D")


def text(values: np.ndarray | list[str]) -> pa.Array:
    return pa.array(np.asarray(values, dtype=object), type=pa.string())


def nulls(n: int, kind: pa.DataType) -> pa.Array:
    return pa.nulls(n, type=kind)
