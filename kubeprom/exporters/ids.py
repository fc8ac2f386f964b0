"""Deterministic names, ids and noise for the simulated cluster.

Everything random derives from the cluster seed and a *purpose* string, never from the
process (``random.Random(str)`` hashes the string with SHA-512, so streams are the same on
every run and platform). Noise is counter-based: the value for (seed, container key, tick)
is a pure function of those three, so it does not depend on how many other containers exist
or on how often the model is advanced.
"""

from __future__ import annotations

import hashlib
import random
import uuid

import numpy as np
from numpy.typing import NDArray

from kubeprom.model.fnv import fnv1a_32

#: Kubernetes' ``rand.SafeEncodeString`` alphabet (no vowels, no 0/1/3: no words, no look-alikes).
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
POD_SUFFIX_LEN = 5

_U64 = np.uint64


def safe_encode(text: str) -> str:
    """``rand.SafeEncodeString``: each character mapped into :data:`SAFE_ALPHABET`."""
    return "".join(SAFE_ALPHABET[ord(c) % len(SAFE_ALPHABET)] for c in text)


def pod_template_hash(template: str) -> str:
    """The ReplicaSet name suffix for a pod template's canonical text (e.g. ``7d4b9c8f6d``)."""
    return safe_encode(str(fnv1a_32(template.encode())))


class IdStream:
    """A reproducible stream of ids for one purpose (``IdStream(seed, "pods/default/web")``)."""

    def __init__(self, seed: int, purpose: str) -> None:
        self._rng = random.Random(f"{seed}/{purpose}")

    def suffix(self, length: int = POD_SUFFIX_LEN) -> str:
        return "".join(self._rng.choice(SAFE_ALPHABET) for _ in range(length))

    def uid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def hex(self, chars: int = 64) -> str:
        return f"{self._rng.getrandbits(chars * 4):0{chars}x}"

    def key(self) -> int:
        """A 64-bit key for :func:`normal_noise`."""
        return self._rng.getrandbits(64)

    def uniform(self, low: float, high: float) -> float:
        return self._rng.uniform(low, high)


def image_ref(image: str) -> str:
    """The fully qualified reference a container runtime reports (``nginx:1.25`` ->
    ``docker.io/library/nginx:1.25``)."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and not digest:
        name += ":latest"
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    return f"{name}@{digest}" if digest else name


def image_id(image: str) -> str:
    """A stable ``repo@sha256:...`` digest reference for an image."""
    ref = image_ref(image)
    repo = ref.split("@", 1)[0]
    if ":" in repo.rsplit("/", 1)[-1]:
        repo = repo.rsplit(":", 1)[0]
    return f"{repo}@sha256:{hashlib.sha256(ref.encode()).hexdigest()}"


def _mix64(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """SplitMix64's finaliser: a bijective avalanche of 64-bit words (wraps modulo 2**64)."""
    x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def normal_noise(seed: int, keys: NDArray[np.uint64], tick: int) -> NDArray[np.float64]:
    """Standard normal draws, one per key, for one tick (Box-Muller over hashed uniforms)."""
    base = keys ^ _mix64(np.array([(seed & 0xFFFFFFFF) << 32 | (tick & 0xFFFFFFFF)], dtype=_U64))
    a = _mix64(base * _U64(2) + _U64(1))
    b = _mix64(base * _U64(2) + _U64(2))
    # 53 random bits -> (0, 1]; the +1 keeps log() finite.
    u1 = ((a >> _U64(11)).astype(np.float64) + 1.0) / 2.0**53
    u2 = (b >> _U64(11)).astype(np.float64) / 2.0**53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
