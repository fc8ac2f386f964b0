"""Sample values: Prometheus' staleness marker and bit-exact helpers.

A staleness marker is one particular NaN bit pattern (``0x7ff0000000000002``, Prometheus'
``value.StaleNaN``). Any other NaN is an ordinary sample value, so stale detection must look
at the bits, never at ``isnan``.
"""

from __future__ import annotations

import struct

import numpy as np
from numpy.typing import NDArray

STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]

I64Array = NDArray[np.int64]
F64Array = NDArray[np.float64]


def is_stale(value: float) -> bool:
    """Whether one value is the staleness marker."""
    return struct.pack("<d", value) == struct.pack("<Q", STALE_NAN_BITS)


def stale_mask(values: F64Array) -> NDArray[np.bool_]:
    """Elementwise staleness test over an array, by bit pattern."""
    mask: NDArray[np.bool_] = np.ascontiguousarray(values).view(np.uint64) == np.uint64(
        STALE_NAN_BITS
    )
    return mask


def bits_equal(a: F64Array, b: F64Array) -> bool:
    """Bit-exact array equality (NaN payloads and -0.0 included)."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.array_equal(a.view(np.uint64), b.view(np.uint64)))
