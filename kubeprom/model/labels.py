"""Label sets: immutable, canonical (sorted by name), hashable and cheap to compare.

A :class:`Labels` holds its pairs as one flat tuple ``(name0, value0, name1, value1, ...)``
sorted by name. Labels with an empty value do not exist (Prometheus treats ``a=""`` as no
label ``a``), so they are dropped on construction. Strings are interned so that the many
series sharing ``job``, ``namespace`` or ``node`` values share one string object.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator, Mapping

from kubeprom.errors import ValidationError

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
        return Labels(merged.items())

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

    def __repr__(self) -> str:
        return f"Labels({self})"

    def __str__(self) -> str:
        """Prometheus' metric notation: ``name{a="b", c="d"}``."""
        name = self.name
        inner = ", ".join(f"{n}={_quote(v)}" for n, v in self if n != METRIC_NAME)
        if name and not inner:
            return name
        return f"{name}{{{inner}}}"


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return f'"{escaped}"'


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
