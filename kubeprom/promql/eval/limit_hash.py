"""The label-set hash ``limit_ratio`` samples by: Prometheus' ``Labels.Hash()``.

That is xxHash64 (seed 0) of ``name 0xff value 0xff ...`` over the sorted labels, so a series
is kept or dropped by ``limit_ratio`` exactly as Prometheus decides. Computed once per series.
"""

from __future__ import annotations

import struct

from kubeprom.model.labels import Labels

_P1 = 11400714785074694791
_P2 = 14029467366897019727
_P3 = 1609587929392839161
_P4 = 9650029242287828579
_P5 = 2870177450012600261
_M = (1 << 64) - 1
_SEP = b"\xff"
_U64_MAX_F = float(_M)


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M


def _round(acc: int, lane: int) -> int:
    acc = (acc + lane * _P2) & _M
    return (_rotl(acc, 31) * _P1) & _M


def _merge(acc: int, val: int) -> int:
    acc ^= _round(0, val)
    return (acc * _P1 + _P4) & _M


def xxh64(data: bytes, seed: int = 0) -> int:
    n = len(data)
    i = 0
    if n >= 32:
        v1 = (seed + _P1 + _P2) & _M
        v2 = (seed + _P2) & _M
        v3 = seed & _M
        v4 = (seed - _P1) & _M
        while i + 32 <= n:
            a, b, c, d = struct.unpack_from("<4Q", data, i)
            v1, v2, v3, v4 = _round(v1, a), _round(v2, b), _round(v3, c), _round(v4, d)
            i += 32
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & _M
        for v in (v1, v2, v3, v4):
            h = _merge(h, v)
    else:
        h = (seed + _P5) & _M
    h = (h + n) & _M
    while i + 8 <= n:
        (k,) = struct.unpack_from("<Q", data, i)
        h ^= _round(0, k)
        h = (_rotl(h, 27) * _P1 + _P4) & _M
        i += 8
    if i + 4 <= n:
        (k32,) = struct.unpack_from("<I", data, i)
        h ^= (k32 * _P1) & _M
        h = (_rotl(h, 23) * _P2 + _P3) & _M
        i += 4
    while i < n:
        h ^= (data[i] * _P5) & _M
        h = (_rotl(h, 11) * _P1) & _M
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _M
    h ^= h >> 29
    h = (h * _P3) & _M
    h ^= h >> 32
    return h


def labels_hash(lab: Labels) -> int:
    buf = b"".join(
        n.encode("utf-8", "surrogateescape") + _SEP + v.encode("utf-8", "surrogateescape") + _SEP
        for n, v in lab
    )
    return xxh64(buf)


def ratio_offset(lab: Labels) -> float:
    """Where a series falls in [0, 1] for ``limit_ratio``: its hash over the largest uint64."""
    return float(labels_hash(lab)) / _U64_MAX_F
