"""The head's series registry and postings index.

A series has a *ref*, handed out in creation order and never reused (a ref held by an
appender or a WAL record names one series for good, as in Prometheus), and a *slot*, its
row in the head's per-series arrays. Slots are the live series in ref order, so a ref's
slot is its rank among the live refs (:meth:`HeadIndex.slots`): the identity until the
first garbage collection, a ``searchsorted`` after. :meth:`HeadIndex.remove` drops series
and closes the gaps, keeping that order.

Postings are ``array('q')`` lists of refs: refs only grow, so they stay sorted without any
work, and converting one to numpy is a zero-copy view.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from kubeprom.model.labels import Labels
from kubeprom.model.samples import I64Array
from kubeprom.tsdb.postings import EMPTY_IDS, union_ids

_INITIAL_REFS = 1024


class HeadIndex:
    """Labels by slot, ref by labels, refs by slot, and postings; not thread-safe (the head
    locks)."""

    __slots__ = ("_by_labels", "_identity", "_labels", "_next_ref", "_postings", "_refs")

    def __init__(self) -> None:
        self._labels: list[Labels] = []  # by slot
        self._by_labels: dict[Labels, int] = {}  # labels -> ref
        self._refs: I64Array = np.zeros(_INITIAL_REFS, dtype=np.int64)  # by slot, ascending
        self._next_ref = 0
        self._identity = True  # every ref ever handed out is live: slot == ref
        # A value carried by one series (pod names, container ids) maps to that ref as a
        # plain int; an array is made only for the second ref. Saves ~100 bytes per value.
        self._postings: dict[str, dict[str, int | array[int]]] = {}

    def __len__(self) -> int:
        """The number of live series (slots in use)."""
        return len(self._labels)

    @property
    def next_ref(self) -> int:
        """The ref the next new series gets."""
        return self._next_ref

    def get(self, labels: Labels) -> int | None:
        return self._by_labels.get(labels)

    def add(self, labels: Labels) -> int:
        """Register a new series (the caller checked it is new); returns its ref."""
        return self._insert(self._next_ref, labels)

    def add_with_ref(self, ref: int, labels: Labels) -> None:
        """Register a series under a known ref (WAL replay), newer than every ref so far;
        raises ValueError for an older one."""
        if ref < self._next_ref:
            raise ValueError(f"series ref {ref} replayed out of order (next is {self._next_ref})")
        if ref > self._next_ref:
            self._identity = False
        self._insert(ref, labels)

    def _insert(self, ref: int, labels: Labels) -> int:
        slot = len(self._labels)
        if slot == len(self._refs):
            self._refs = np.concatenate([self._refs, np.zeros(len(self._refs), dtype=np.int64)])
        self._refs[slot] = ref
        self._next_ref = ref + 1
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

    # ---- refs and slots ---------------------------------------------------------------------
    def slots(self, refs: I64Array) -> tuple[I64Array, NDArray[np.bool_] | None]:
        """The slot of each ref, and whether the ref is live (a dead ref's slot is 0); the
        mask is None when every ref is live (no series was ever collected).

        Raises ValueError for a ref that was never handed out.
        """
        refs = np.asarray(refs, dtype=np.int64)
        if refs.size and (int(refs.min()) < 0 or int(refs.max()) >= self._next_ref):
            raise ValueError("unknown series ref")
        if self._identity:
            return refs, None
        n = len(self._labels)
        live = self._refs[:n]
        pos = np.searchsorted(live, refs)
        ok = pos < n
        ok[ok] = live[pos[ok]] == refs[ok]
        return np.where(ok, pos, 0), ok

    def refs(self, slots: I64Array | None = None) -> I64Array:
        """The refs of the given slots (all live refs, ascending, when None); a copy."""
        n = len(self._labels)
        return self._refs[:n].copy() if slots is None else self._refs[:n][slots]

    def labels(self, ref: int) -> Labels:
        slots, ok = self.slots(np.array([ref], dtype=np.int64))
        if ok is not None and not ok[0]:
            raise KeyError(ref)
        return self._labels[int(slots[0])]

    def labels_list(self, refs: Sequence[int]) -> list[Labels]:
        """Labels of live refs (KeyError for a dead one)."""
        if self._identity:
            lab = self._labels
            return [lab[r] for r in refs]
        slots, ok = self.slots(np.asarray(refs, dtype=np.int64))
        if ok is not None and not ok.all():
            raise KeyError(int(np.asarray(refs)[~ok][0]))
        lab = self._labels
        return [lab[s] for s in slots.tolist()]

    def remove(self, dead_slots: I64Array) -> I64Array:
        """Forget the series in ``dead_slots`` (ascending); the other slots close up in
        order. Returns the removed refs; the caller compacts its per-slot arrays the same
        way (``keep = ~isin(arange(n), dead_slots)``)."""
        n = len(self._labels)
        dead_refs = self._refs[dead_slots].copy()
        if dead_refs.size == 0:
            return dead_refs
        touched: dict[tuple[str, str], None] = {}
        for slot in dead_slots.tolist():
            labels = self._labels[slot]
            del self._by_labels[labels]
            for pair in labels:
                touched[pair] = None
        for name, value in touched:
            values = self._postings[name]
            lst = values[value]
            if isinstance(lst, int):
                del values[value]
            else:
                arr = np.frombuffer(lst, dtype=np.int64)
                kept = arr[~np.isin(arr, dead_refs, assume_unique=True)]
                if kept.size == 0:
                    del values[value]
                elif kept.size == 1:
                    values[value] = int(kept[0])
                else:
                    values[value] = array("q", kept.tobytes())
            if not values:
                del self._postings[name]
        keep = np.ones(n, dtype=np.bool_)
        keep[dead_slots] = False
        kept_refs = self._refs[:n][keep]
        self._refs[: len(kept_refs)] = kept_refs
        self._labels = [lab for lab, k in zip(self._labels, keep.tolist(), strict=True) if k]
        self._identity = False
        return dead_refs

    # ---- PostingsIndex ----------------------------------------------------------------------
    def all_ids(self) -> I64Array:
        return self.refs()

    def label_values_of(self, name: str) -> Sequence[str]:
        return list(self._postings.get(name, ()))

    def postings(self, name: str, value: str) -> I64Array:
        lst = self._postings.get(name, {}).get(value)
        if lst is None:
            return EMPTY_IDS
        if isinstance(lst, int):
            return np.array([lst], dtype=np.int64)
        return np.frombuffer(lst, dtype=np.int64).copy()

    def postings_matching(self, name: str, accept: Callable[[str], bool]) -> I64Array:
        return union_ids(
            [self.postings(name, v) for v in self._postings.get(name, ()) if accept(v)]
        )

    def label_names(self) -> list[str]:
        return sorted(self._postings)

    def postings_counts(self) -> dict[str, dict[str, int]]:
        """Number of series per label value, per label name (a copy)."""
        return {
            name: {v: 1 if isinstance(p, int) else len(p) for v, p in values.items()}
            for name, values in self._postings.items()
        }
