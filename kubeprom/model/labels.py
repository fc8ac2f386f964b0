"""Label sets: immutable, canonical (sorted by name), hashable and cheap to compare.

A :class:`Labels` holds its pairs as one flat tuple ``(name0, value0, name1, value1, ...)``
sorted by name. Labels with an empty value do not exist (Prometheus treats ``a=""`` as no
label ``a``), so they are dropped on construction. Strings are interned so that the many
series sharing ``job``, ``namespace`` or ``node`` values share one string object.

:meth:`Labels.hash` is Prometheus' ``Labels.Hash()`` of its default ``stringlabels`` build, the
one every Prometheus 3 release binary runs: XXH64 (seed 0) of the label set's encoding, each
name and value in turn as its UTF-8 length then its bytes. A length below 255 is one byte,
anything longer 0xff and three little-endian bytes (``encodeSize``, Prometheus >= 3.5;
3.0-3.4 wrote a uvarint, which differs only for strings of 128 bytes or more). Prometheus 2.x
and the ``slicelabels`` / ``dedupelabels`` builds hash ``name 0xff value 0xff ...`` instead
(what ``StableHash`` still does); upstream only promises the value within one build, so
``limit_ratio`` and the scrape offsets follow the build users run.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator, Mapping

import xxhash

from kubeprom.errors import ValidationError
from kubeprom.model.gofmt import quote

METRIC_NAME = "__name__"

# Prometheus' legacy character sets: what the text exposition format can carry unquoted.
_METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")

_intern = sys.intern


class Labels:
    """An immutable, sorted set of label pairs.

    Equality and hashing are by content; ordering (``<``) is Prometheus' ``labels.Compare``:
    pairwise by name, then value, shorter set first when one is a prefix of the other.
    """

    __slots__ = ("_hash", "_pairs")

    _pairs: tuple[str, ...]
    _hash: int

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        items = sorted((n, v) for n, v in pairs if v != "")
        flat: list[str] = []
        prev = None
        for name, value in items:
            if name == prev:
                raise ValidationError(f"duplicate label name {name!r}")
            prev = name
            flat.append(_intern(name))
            flat.append(_intern(value))
        self._pairs = tuple(flat)
        self._hash = hash(self._pairs)

    @classmethod
    def from_dict(cls, mapping: Mapping[str, str]) -> Labels:
        return cls(mapping.items())

    @classmethod
    def from_flat(cls, flat: tuple[str, ...]) -> Labels:
        """Build from an already sorted, deduplicated flat tuple (trusted input, no checks)."""
        obj = cls.__new__(cls)
        obj._pairs = flat
        obj._hash = hash(flat)
        return obj

    @property
    def flat(self) -> tuple[str, ...]:
        """The flat ``(name, value, ...)`` tuple, sorted by name."""
        return self._pairs

    @property
    def name(self) -> str:
        """The metric name (``__name__``), or ``""``."""
        return self.get(METRIC_NAME)

    def get(self, name: str, default: str = "") -> str:
        p = self._pairs
        for i in range(0, len(p), 2):
            if p[i] == name:
                return p[i + 1]
        return default

    def has(self, name: str) -> bool:
        return name in self._pairs[0::2]

    def names(self) -> tuple[str, ...]:
        return self._pairs[0::2]

    def to_dict(self) -> dict[str, str]:
        p = self._pairs
        return dict(zip(p[0::2], p[1::2], strict=True))

    def without(self, *names: str) -> Labels:
        drop = set(names)
        p = self._pairs
        flat: list[str] = []
        for i in range(0, len(p), 2):
            if p[i] not in drop:
                flat += (p[i], p[i + 1])
        return Labels.from_flat(tuple(flat))

    def keep(self, *names: str) -> Labels:
        wanted = set(names)
        p = self._pairs
        flat: list[str] = []
        for i in range(0, len(p), 2):
            if p[i] in wanted:
                flat += (p[i], p[i + 1])
        return Labels.from_flat(tuple(flat))

    def with_labels(self, updates: Mapping[str, str]) -> Labels:
        """A copy with ``updates`` applied; an empty value removes the label."""
        merged = self.to_dict()
        merged.update(updates)
        # Names are unique dict keys: sorting the names alone is the constructor's order,
        # without its pair sort and duplicate check (a binary operator's group_left labels
        # call this once per output series and evaluation).
        flat: list[str] = []
        for name in sorted(merged):
            value = merged[name]
            if value != "":
                flat += (_intern(name), _intern(value))
        return Labels.from_flat(tuple(flat))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        p = self._pairs
        return zip(p[0::2], p[1::2], strict=True)

    def __len__(self) -> int:
        return len(self._pairs) // 2

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Labels):
            return NotImplemented
        return self._hash == other._hash and self._pairs == other._pairs

    def __lt__(self, other: Labels) -> bool:
        # Tuple comparison of the flat pairs is exactly labels.Compare.
        return self._pairs < other._pairs

    def __reduce__(self) -> tuple[object, ...]:
        return (Labels.from_flat, (self._pairs,))

    def hash(self) -> int:
        """Prometheus' ``Labels.Hash()`` (``stringlabels`` build, see the module docstring):
        an unsigned 64-bit integer. Not Python's ``hash()``, which is per process."""
        buf = bytearray()
        for text in self._pairs:
            data = text.encode("utf-8", "surrogateescape")
            n = len(data)
            # encodeSize writes three bytes past 254, dropping what a 16 MiB label exceeds.
            buf += bytes((n,)) if n < 255 else b"\xff" + (n & 0xFFFFFF).to_bytes(3, "little")
            buf += data
        return xxhash.xxh64_intdigest(bytes(buf))

    def __repr__(self) -> str:
        return f"Labels({self})"

    def __str__(self) -> str:
        """prometheus/common's ``Metric.String()``: ``name{a="b", c="d"}``, values as
        ``strconv.Quote`` writes them, the ``name="value"`` texts sorted as strings."""
        name = self.name
        inner = ", ".join(sorted(f"{n}={quote(v)}" for n, v in self if n != METRIC_NAME))
        if name and not inner:
            return name
        return f"{name}{{{inner}}}"

    def braced(self) -> str:
        """Prometheus' ``labels.Labels.String()``: every label, the name included, inside
        braces (``{__name__="up", job="a"}``); values and any name outside the legacy
        character set as ``strconv.Quote`` writes them."""
        inner = ", ".join(f"{n if is_label_name(n) else quote(n)}={quote(v)}" for n, v in self)
        return "{" + inner + "}"


EMPTY = Labels()


def is_metric_name(name: str) -> bool:
    """Whether ``name`` is a legal metric name (legacy character set)."""
    return _METRIC_NAME_RE.match(name) is not None


def is_label_name(name: str) -> bool:
    """Whether ``name`` is a legal label name (legacy character set)."""
    return _LABEL_NAME_RE.match(name) is not None


def validate_metric_name(name: str) -> None:
    """Raise :class:`ValidationError` unless ``name`` is a legal metric name."""
    if not is_metric_name(name):
        raise ValidationError(f"invalid metric name {name!r}")


def validate_label_name(name: str) -> None:
    """Raise :class:`ValidationError` unless ``name`` is a legal label name."""
    if not is_label_name(name):
        raise ValidationError(f"invalid label name {name!r}")


def validate_labels(labels: Labels) -> None:
    """Check every name and value of a series' label set (values must be valid UTF-8 text)."""
    if not labels.name:
        raise ValidationError(f"series {labels} has no metric name")
    validate_metric_name(labels.name)
    for name, value in labels:
        if name != METRIC_NAME:
            validate_label_name(name)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise ValidationError(
                f"label {name!r} has a value that is not valid UTF-8: {value!r}"
            ) from err
