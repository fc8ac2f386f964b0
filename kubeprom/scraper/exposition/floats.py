"""Sample values and timestamps: Prometheus' float syntax, in bulk and one at a time.

Prometheus parses values with Go's ``strconv.ParseFloat`` after rejecting ``p``, ``P`` and
``_`` (so no hex floats, no digit separators). What is left is decimal floats plus ``Inf`` /
``Infinity`` (optionally signed) and ``NaN`` (unsigned), case-insensitively; overflow such as
``1e999`` is an error. Python's ``float()`` accepts a superset (underscores, signed NaN, and
overflow to inf), so the bulk converters run ``float()`` over a whole column in C and then
re-check the few rows where the two could disagree.

Every parsed NaN becomes Prometheus' ``value.NormalNaN`` bit pattern, so a scraped NaN can never
look like a staleness marker.
"""

from __future__ import annotations

import math
import re
import struct

import numpy as np
from numpy.typing import NDArray

from kubeprom.model.samples import F64Array, I64Array

#: Timestamp of a sample whose line had none.
MISSING: int = int(np.iinfo(np.int64).min)

#: Prometheus' ``value.NormalNaN``: the NaN every parsed NaN is normalised to.
NORMAL_NAN_BITS = 0x7FF8000000000001
NORMAL_NAN: float = struct.unpack("<d", struct.pack("<Q", NORMAL_NAN_BITS))[0]

# Go ParseFloat syntax minus what Prometheus' parseFloat rejects (hex, '_').
_GO_FLOAT = re.compile(
    rb"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:inf(?:inity)?))|(?i:nan)"
)
_INF_TOKEN = re.compile(rb"[+-]?(?i:inf(?:inity)?)")
_NAN_TOKEN = re.compile(rb"(?i:nan)")

# int64 bounds as float64: ms values must lie strictly inside (MISSING is the lower bound).
_I64_LIMIT = 9223372036854775808.0

BoolArray = NDArray[np.bool_]


def parse_float(token: bytes) -> float:
    """One value as Prometheus parses it; raises ``ValueError`` otherwise."""
    if _GO_FLOAT.fullmatch(token) is None:
        raise ValueError("not a float")
    value = float(token)
    if math.isinf(value) and _INF_TOKEN.fullmatch(token) is None:
        raise ValueError("value out of range")
    return NORMAL_NAN if value != value else value


def parse_seconds_ms(token: bytes) -> int:
    """An OpenMetrics timestamp (float seconds) as integer ms, truncated as Prometheus does.

    Prometheus computes ``int64(ts * 1000)``; doing the same stores the very timestamps a
    Prometheus fed the same file stores, so query answers can be compared exactly.
    """
    seconds = parse_float(token)
    if not math.isfinite(seconds):
        raise ValueError("timestamp must be finite")
    ms = math.trunc(seconds * 1000.0)
    if not -_I64_LIMIT < ms < _I64_LIMIT:
        raise ValueError("timestamp out of range")
    return int(ms)


def parse_int_ms(token: bytes) -> int:
    """A text-format timestamp: decimal digits only, integer ms."""
    if not token.isdigit():
        raise ValueError("not an integer")
    ms = int(token)
    if ms >= 2**63:
        raise ValueError("timestamp out of range")
    return ms


def floats_bulk(tokens: list[bytes]) -> tuple[F64Array, BoolArray | None]:
    """Parse a column of value tokens. Returns values and a mask of bad rows (None if none).

    Bad rows hold 0.0. Cost is one C-level pass for a clean column; the per-row Python
    fallback runs only when some token is not a plain float.
    """
    n = len(tokens)
    try:
        values = np.fromiter(map(float, tokens), np.float64, n)
    except ValueError:
        return _floats_slow(tokens)
    bad: BoolArray | None = None
    if b"_" in b"".join(tokens):  # float() takes digit separators, Prometheus does not
        bad = np.fromiter((b"_" in t for t in tokens), np.bool_, n)
    special = np.flatnonzero(~np.isfinite(values))
    if special.size:
        # NaN/Inf rows: check the spelling (no signed NaN, no overflow to inf).
        for i in special.tolist():
            pattern = _NAN_TOKEN if values[i] != values[i] else _INF_TOKEN
            if pattern.fullmatch(tokens[i]) is None:
                if bad is None:
                    bad = np.zeros(n, np.bool_)
                bad[i] = True
        _normalise_nan(values)
    if bad is not None:
        if not bad.any():
            return values, None
        values[bad] = 0.0
    return values, bad


def _floats_slow(tokens: list[bytes]) -> tuple[F64Array, BoolArray | None]:
    n = len(tokens)
    values = np.zeros(n, np.float64)
    bad = np.zeros(n, np.bool_)
    for i, token in enumerate(tokens):
        try:
            values[i] = parse_float(token)
        except ValueError:
            bad[i] = True
    return values, bad


def _normalise_nan(values: F64Array) -> None:
    nan = np.isnan(values)
    if nan.any():
        values.view(np.uint64)[nan] = NORMAL_NAN_BITS


def seconds_ms_bulk(tokens: list[bytes]) -> tuple[I64Array, BoolArray | None]:
    """OpenMetrics timestamps (float seconds) to int64 ms, truncated like Prometheus, in bulk."""
    seconds, bad = floats_bulk(tokens)
    with np.errstate(invalid="ignore", over="ignore"):
        ms = np.trunc(seconds * 1000.0)
        out_of_range = ~(np.abs(ms) < _I64_LIMIT)  # also catches NaN and Inf
    if out_of_range.any():
        bad = out_of_range if bad is None else bad | out_of_range
        ms[bad] = 0.0
    return ms.astype(np.int64), bad


def int_ms_bulk(tokens: list[bytes]) -> tuple[I64Array, BoolArray | None]:
    """Text-format timestamps (decimal integer ms) to int64, in bulk."""
    n = len(tokens)
    # Tokens come from bytes.split() and are never empty, so one isdigit covers them all.
    if b"".join(tokens).isdigit():
        try:
            return np.fromiter(map(int, tokens), np.int64, n), None
        except OverflowError:
            pass
    ms = np.zeros(n, np.int64)
    bad = np.zeros(n, np.bool_)
    for i, token in enumerate(tokens):
        try:
            ms[i] = parse_int_ms(token)
        except ValueError:
            bad[i] = True
    return ms, bad
