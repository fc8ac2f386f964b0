"""The store's Querier: one view over the blocks and a head, merged by series labels.

:class:`StoreQuerier` reads a :class:`~kubeprom.tsdb.head.Head` plus whatever blocks a
callable returns at query time: the DB gives its block list, the in-memory store none. Both
therefore answer ``select`` with the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from kubeprom.errors import CorruptionError
from kubeprom.model.csr import take_segments
from kubeprom.model.labels import Labels
from kubeprom.model.matchers import Matcher
from kubeprom.model.samples import I64Array
from kubeprom.tsdb.api import MAX_TIME, MIN_TIME, MetricMetadata, SeriesSet
from kubeprom.tsdb.block import Block
from kubeprom.tsdb.frames import Part, merge_parts
from kubeprom.tsdb.head import Head
from kubeprom.tsdb.postings import select_ids


class _Source(Protocol):
    """What the querier needs of a block or of the head. ``in_label_order``: ids ascending
    are label sets ascending (a block's, not the head's creation order)."""

    in_label_order: bool

    def select(self, matchers: Sequence[Matcher]) -> I64Array: ...

    def read(self, ids: I64Array, mint: int, maxt: int) -> Part: ...

    def labels_list(self, ids: Sequence[int]) -> list[Labels]: ...

    def label_names(self) -> list[str]: ...

    def label_values_of(self, name: str) -> Sequence[str]: ...


class _HeadSource:
    """The head as a source. The head may collect series between two calls (the store's
    compaction runs in another thread): ``read`` takes the labels of what it read under the
    same lock, and ``labels_list`` of selected ids skips the ones collected meanwhile."""

    in_label_order = False

    def __init__(self, head: Head) -> None:
        self._head = head
        self._read: tuple[I64Array, list[Labels]] | None = None

    def select(self, matchers: Sequence[Matcher]) -> I64Array:
        return self._head.select_ids(matchers)

    def read(self, ids: I64Array, mint: int, maxt: int) -> Part:
        with self._head.lock:
            part = self._head.read(ids, mint, maxt)
            self._read = (part.ids, self._head.index.labels_list(part.ids.tolist()))
        return part

    def label_order(self, ids: I64Array, labels: list[Labels]) -> list[int]:
        """Positions of ``ids`` (with these ``labels``) in label order, remembered by the
        head: a ref names one label set for good, so the order of a set of refs never
        changes, and queries repeat the same sets (rules, the HPA's reads every sync)."""
        orders = self._head.label_orders
        key = ids.tobytes()
        order = orders.get(key)
        if order is None:
            order = sorted(range(len(labels)), key=labels.__getitem__)
            orders.put(key, order)
        return order

    def labels_list(self, ids: Sequence[int]) -> list[Labels]:
        refs = np.asarray(ids, dtype=np.int64)
        if self._read is not None and np.array_equal(self._read[0], refs):
            return self._read[1]
        with self._head.lock:
            return self._head.index.labels_list(refs[self._head.live(refs)].tolist())

    def label_names(self) -> list[str]:
        return self._head.index.label_names()

    def label_values_of(self, name: str) -> Sequence[str]:
        return self._head.index.label_values_of(name)


class _BlockSource:
    in_label_order = True

    def __init__(self, block: Block) -> None:
        self._block = block

    @property
    def closed(self) -> bool:
        return self._block.closed

    def quarantine_notes(self, ids: I64Array, mint: int, maxt: int) -> list[str]:
        return self._block.quarantine_notes(ids, mint, maxt)

    def select(self, matchers: Sequence[Matcher]) -> I64Array:
        return select_ids(self._block, matchers)

    def read(self, ids: I64Array, mint: int, maxt: int) -> Part:
        return self._block.read(ids, mint, maxt)

    def labels_list(self, ids: Sequence[int]) -> list[Labels]:
        return self._block.labels_list(ids)

    def label_names(self) -> list[str]:
        return self._block.label_names()

    def label_values_of(self, name: str) -> Sequence[str]:
        return self._block.label_values_of(name)


def _no_blocks() -> list[Block]:
    return []


class StoreQuerier:
    """Implements :class:`kubeprom.tsdb.api.Querier` over a head and its blocks.

    ``blocks()`` is called per query for the current block list (sorted by time). Blocks
    and head are read in time order; a series present in several of them is merged into
    one, and where they overlap the later source wins for equal timestamps.
    """

    def __init__(self, head: Head, blocks: Callable[[], list[Block]] = _no_blocks) -> None:
        self._head = head
        self._blocks = blocks

    def _sources(self, mint: int, maxt: int) -> list[_Source]:
        out: list[_Source] = [
            _BlockSource(b)
            for b in self._blocks()
            if b.meta.max_time > mint and b.meta.min_time <= maxt
        ]
        head = self._head
        if head.num_series and (head.num_samples == 0 or (head.maxt >= mint and head.mint <= maxt)):
            out.append(_HeadSource(head))
        return out

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> SeriesSet:
        # A compaction publishes a block and then drops the head's copy of its range; a
        # select that took the block list before the publication and read the head after the
        # drop would miss that range, so it reads again (the samples are in the new block by
        # then). A block closed under the read (retention, a reload) is retried the same way.
        while True:
            epoch = self._head.truncations
            sources = self._sources(mint, maxt)
            try:
                result = self._select(sources, matchers, mint, maxt)
            except CorruptionError:
                if not any(isinstance(s, _BlockSource) and s.closed for s in sources):
                    raise
                continue
            if self._head.truncations == epoch:
                return result

    def _select(
        self, sources: list[_Source], matchers: Sequence[Matcher], mint: int, maxt: int
    ) -> SeriesSet:
        parts: list[Part] = []
        labels: list[list[Labels]] = []
        in_order = False
        head: _HeadSource | None = None  # the source of the only part, if the head
        warnings: list[str] = []
        for src in sources:
            ids = src.select(matchers)
            if ids.size == 0:
                continue
            part = src.read(ids, mint, maxt)
            if isinstance(src, _BlockSource):
                warnings += src.quarantine_notes(ids, mint, maxt)
            if part.ids.size:
                parts.append(part)
                labels.append(src.labels_list(part.ids.tolist()))
                in_order = src.in_label_order
                head = src if isinstance(src, _HeadSource) else None
        if not parts:
            empty = SeriesSet.empty()
            empty.warnings = warnings
            return empty
        if len(parts) == 1 and in_order:
            merged = parts[0]
            merged.t.flags.writeable = False
            merged.v.flags.writeable = False
            return SeriesSet(labels[0], merged.t, merged.v, merged.offsets, warnings)
        if len(parts) == 1:
            merged, all_labels = parts[0], labels[0]
        else:
            # Re-key each source's local ids by label set, then merge.
            keys: dict[Labels, int] = {}
            all_labels = []
            for part, labs in zip(parts, labels, strict=True):
                new_ids = np.empty(len(labs), dtype=np.int64)
                for i, lab in enumerate(labs):
                    k = keys.get(lab)
                    if k is None:
                        k = keys[lab] = len(all_labels)
                        all_labels.append(lab)
                    new_ids[i] = k
                part.ids = new_ids
            merged = merge_parts(parts)
            all_labels = [all_labels[i] for i in merged.ids.tolist()]
        if len(parts) == 1 and head is not None:
            order = head.label_order(merged.ids, all_labels)
        else:
            order = sorted(range(len(all_labels)), key=all_labels.__getitem__)
        if order != list(range(len(order))):
            t, v, off = take_segments(merged.t, merged.v, merged.offsets, np.asarray(order))
            all_labels = [all_labels[i] for i in order]
        else:
            t, v, off = merged.t, merged.v, merged.offsets
        t.flags.writeable = False
        v.flags.writeable = False
        return SeriesSet(all_labels, t, v, off, warnings)

    def series(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Labels]:
        return self.select(matchers, mint, maxt).labels

    def label_names(
        self, matchers: Sequence[Matcher] = (), mint: int = MIN_TIME, maxt: int = MAX_TIME
    ) -> list[str]:
        names: set[str] = set()
        for src in self._sources(mint, maxt):
            if not matchers:
                names.update(src.label_names())
                continue
            for lab in src.labels_list(src.select(matchers).tolist()):
                names.update(lab.names())
        return sorted(names)

    def label_values(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        mint: int = MIN_TIME,
        maxt: int = MAX_TIME,
    ) -> list[str]:
        values: set[str] = set()
        for src in self._sources(mint, maxt):
            if not matchers:
                values.update(src.label_values_of(name))
                continue
            for lab in src.labels_list(src.select(matchers).tolist()):
                value = lab.get(name)
                if value:
                    values.add(value)
        return sorted(values)

    def metadata(self) -> dict[str, list[MetricMetadata]]:
        return {name: [meta] for name, meta in sorted(self._head.metadata.items())}
