"""Resolving label matchers to series ids through a postings index.

A postings list is the sorted array of series ids carrying one (label name, value) pair.
Head and blocks both implement :class:`PostingsIndex`; :func:`select_ids` answers a list of
matchers from it, as Prometheus' ``PostingsForMatchers`` does: intersect the postings of the
matchers that need the label, then subtract what the matchers that accept a missing label
rule out. Work is per label *value*, never per series.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from kubeprom.model.matchers import Matcher, MatchType
from kubeprom.model.samples import I64Array

EMPTY_IDS: I64Array = np.empty(0, dtype=np.int64)


class PostingsIndex(Protocol):
    def all_ids(self) -> I64Array:
        """Every series id, sorted."""
        ...

    def label_values_of(self, name: str) -> Sequence[str]:
        """Every value the label takes (unsorted is fine); empty when the label is unknown."""
        ...

    def postings(self, name: str, value: str) -> I64Array:
        """Sorted ids of the series with ``name=value``; empty when none."""
        ...

    def postings_matching(self, name: str, accept: Callable[[str], bool]) -> I64Array:
        """Sorted ids of the series whose label ``name`` has a value ``accept`` takes."""
        ...


def union_ids(arrays: list[I64Array]) -> I64Array:
    """The sorted union of sorted id arrays."""
    if not arrays:
        return EMPTY_IDS
    if len(arrays) == 1:
        return arrays[0]
    ids = np.concatenate(arrays)
    # A mark per id, not a sort: linear in the ids and their range.
    seen = np.zeros(int(ids.max()) + 1, dtype=bool)
    seen[ids] = True
    out: I64Array = np.flatnonzero(seen)
    return out


def _member(a: I64Array, b: I64Array) -> npt.NDArray[np.bool_]:
    """Which ids of sorted ``a`` are in sorted ``b``: a binary search each, no sort."""
    if b.size == 0:
        return np.zeros(a.size, dtype=bool)
    pos = np.minimum(np.searchsorted(b, a), b.size - 1)
    found: npt.NDArray[np.bool_] = b[pos] == a
    return found


def _intersect(a: I64Array, b: I64Array) -> I64Array:
    if a.size > b.size:
        a, b = b, a
    out: I64Array = a[_member(a, b)]
    return out


def _matching_values(index: PostingsIndex, m: Matcher) -> I64Array:
    """Ids of series that have label ``m.name`` with a value ``m`` accepts."""
    if m.type is MatchType.EQUAL:
        return index.postings(m.name, m.value)
    return index.postings_matching(m.name, m.matches)


def _inverse(m: Matcher) -> Matcher:
    inverse = {
        MatchType.EQUAL: MatchType.NOT_EQUAL,
        MatchType.NOT_EQUAL: MatchType.EQUAL,
        MatchType.REGEX: MatchType.NOT_REGEX,
        MatchType.NOT_REGEX: MatchType.REGEX,
    }
    return Matcher(inverse[m.type], m.name, m.value)


def select_ids(index: PostingsIndex, matchers: Sequence[Matcher]) -> I64Array:
    """Sorted ids of the series matching every matcher (all series for no matchers)."""
    result: I64Array | None = None
    subtract: list[I64Array] = []
    for m in matchers:
        if m.matches_empty:
            # Series without the label match; exclude those whose value the matcher rejects.
            subtract.append(_matching_values(index, _inverse(m)))
        else:
            ids = _matching_values(index, m)
            result = ids if result is None else _intersect(result, ids)
            if result.size == 0:
                return EMPTY_IDS
    if result is None:
        result = index.all_ids()
    for ids in subtract:
        if ids.size:
            result = result[~_member(result, ids)]
    return result
