"""The head's series registry and postings index.

Series refs are dense integers handed out in creation order, so a ref indexes numpy arrays
directly. Postings are append-only ``array('q')`` lists: refs only grow, so they stay sorted
without any work, and converting one to numpy is a zero-copy view.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

import numpy as np

from kubeprom.model.labels import Labels
from kubeprom.model.samples import I64Array
from kubeprom.tsdb.postings import EMPTY_IDS


class HeadIndex:
    """Labels by ref, ref by labels, and postings; not thread-safe (the head locks)."""

    __slots__ = ("_by_labels", "_labels", "_postings")

    def __init__(self) -> None:
        self._labels: list[Labels] = []
        self._by_labels: dict[Labels, int] = {}
        # A value carried by one series (pod names, container ids) maps to that ref as a
        # plain int; an array is made only for the second ref. Saves ~100 bytes per value.
        self._postings: dict[str, dict[str, int | array[int]]] = {}

    def __len__(self) -> int:
        return len(self._labels)

    def get(self, labels: Labels) -> int | None:
        return self._by_labels.get(labels)

    def add(self, labels: Labels) -> int:
        """Register a new series and return its ref (caller checked it is new)."""
        ref = len(self._labels)
        self._labels.append(labels)
        self._by_labels[labels] = ref
        for name, value in labels:
            values = self._postings.get(name)
            if values is None:
                values = self._postings[name] = {}
            lst = values.get(value)
            if lst is None:
                values[value] = ref
            elif isinstance(lst, int):
                values[value] = array("q", (lst, ref))
            else:
                lst.append(ref)
        return ref

    def labels(self, ref: int) -> Labels:
        return self._labels[ref]

    def labels_list(self, refs: Sequence[int]) -> list[Labels]:
        lab = self._labels
        return [lab[r] for r in refs]

    # PostingsIndex
    def all_ids(self) -> I64Array:
        return np.arange(len(self._labels), dtype=np.int64)

    def label_values_of(self, name: str) -> Sequence[str]:
        return list(self._postings.get(name, ()))

    def postings(self, name: str, value: str) -> I64Array:
        lst = self._postings.get(name, {}).get(value)
        if lst is None:
            return EMPTY_IDS
        if isinstance(lst, int):
            return np.array([lst], dtype=np.int64)
        return np.frombuffer(lst, dtype=np.int64).copy()

    def label_names(self) -> list[str]:
        return sorted(self._postings)

    def postings_counts(self) -> dict[str, dict[str, int]]:
        """Number of series per label value, per label name (a copy)."""
        return {
            name: {v: 1 if isinstance(p, int) else len(p) for v, p in values.items()}
            for name, values in self._postings.items()
        }
