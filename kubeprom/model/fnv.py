"""Go's ``hash/fnv`` FNV-1a (``New32a``, ``New64a``), for hashes that must equal Go's.

Kubernetes' ``pod-template-hash`` is the 32-bit one; Prometheus' scrape target hash and
offset seed are the 64-bit one. Inputs are short (a pod template, a URL), hashed once each.
"""

from __future__ import annotations

_OFFSET_32, _PRIME_32 = 0x811C9DC5, 0x01000193
_OFFSET_64, _PRIME_64 = 0xCBF29CE484222325, 0x100000001B3


def _fnv1a(data: bytes, h: int, prime: int, mask: int) -> int:
    for byte in data:
        h = ((h ^ byte) * prime) & mask
    return h


def fnv1a_32(data: bytes) -> int:
    """``fnv.New32a`` ``Sum32`` of ``data``."""
    return _fnv1a(data, _OFFSET_32, _PRIME_32, 0xFFFFFFFF)


def fnv1a_64(data: bytes) -> int:
    """``fnv.New64a`` ``Sum64`` of ``data``."""
    return _fnv1a(data, _OFFSET_64, _PRIME_64, 0xFFFFFFFFFFFFFFFF)
