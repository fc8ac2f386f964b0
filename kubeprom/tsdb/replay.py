"""Rebuilding the head from WAL records, whatever the WAL lost.

Records name series by the ref the head gave them when they were logged. After a loss (a
corrupt checkpoint skipped, a segment truncated) later records may name refs whose series
record is gone, or create series out of order. Replay maps each WAL ref to a head ref: a
series record at or past the next free ref keeps it (the normal case, where the mapping is
the identity and costs nothing; refs may have gaps, as garbage collection leaves them); one
older than the newest ref gets the next free ref; samples and tombstones of refs never
defined are dropped and counted. A head
rebuilt with other refs than the WAL's is reported, so the caller can rewrite the WAL as a
checkpoint in the head's refs before logging anything new.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kubeprom.errors import ValidationError
from kubeprom.model.labels import Labels
from kubeprom.model.samples import I64Array
from kubeprom.tsdb.api import MetricMetadata, MetricType
from kubeprom.tsdb.head import Head
from kubeprom.tsdb.walcodec import (
    MetadataRecord,
    MultiSamplesRecord,
    Record,
    SamplesRecord,
    SeriesRecord,
    TombstonesRecord,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ReplayReport:
    """What a replay did. ``renumbered``: series whose head ref differs from their WAL ref;
    ``dropped_samples``: samples of refs no series record defined."""

    records: int = 0
    renumbered: int = 0
    dropped_samples: int = 0
    dropped_series: int = 0

    @property
    def rewrite_wal(self) -> bool:
        """Whether the WAL no longer matches the head and should be checkpointed."""
        return bool(self.renumbered or self.dropped_samples or self.dropped_series)


class _RefMap:
    """WAL ref -> head ref; the identity until a series lands somewhere else."""

    def __init__(self) -> None:
        self.to_head = np.full(1024, -1, dtype=np.int64)
        self.identity = True
        self.known = 0  # with identity: refs 0 .. known-1 are defined

    def add(self, wal_ref: int, head_ref: int) -> None:
        if wal_ref < 0:
            self.identity = False
            return
        if wal_ref >= len(self.to_head):
            grown = np.full(max(2 * len(self.to_head), wal_ref + 1), -1, dtype=np.int64)
            grown[: len(self.to_head)] = self.to_head
            self.to_head = grown
        self.to_head[wal_ref] = head_ref
        if wal_ref != head_ref or wal_ref != self.known:
            self.identity = False
        self.known = max(self.known, wal_ref + 1)

    def translate(self, refs: I64Array) -> tuple[I64Array, npt.NDArray[np.bool_] | None]:
        """Head refs for ``refs`` and which of them are defined (None: all of them)."""
        if refs.size == 0:
            return refs, None
        if self.identity and int(refs.min()) >= 0 and int(refs.max()) < self.known:
            return refs, None
        inside = (refs >= 0) & (refs < len(self.to_head))
        mapped = np.full(refs.shape, -1, dtype=np.int64)
        mapped[inside] = self.to_head[refs[inside]]
        keep = mapped >= 0
        return mapped, keep


def replay_into(head: Head, records: Iterable[Record]) -> ReplayReport:
    """Apply WAL records to an empty head; never raises for records that name lost series."""
    report = ReplayReport()
    refs = _RefMap()
    for rec in records:
        report.records += 1
        if isinstance(rec, SeriesRecord):
            head_ref = _series(head, rec.ref, rec.labels)
            if head_ref is None:
                report.dropped_series += 1
                continue
            report.renumbered += head_ref != rec.ref
            refs.add(rec.ref, head_ref)
        elif isinstance(rec, SamplesRecord):
            mapped, keep = refs.translate(rec.refs)
            values = rec.values
            if keep is not None:
                report.dropped_samples += int(np.count_nonzero(~keep))
                mapped, values = mapped[keep], values[keep]
            ok, _ = head.check(rec.t_ms, mapped, values)
            head.apply(rec.t_ms, mapped[ok], values[ok])
        elif isinstance(rec, MultiSamplesRecord):
            mapped, keep = refs.translate(rec.refs)
            t, values = rec.t, rec.values
            if keep is not None:
                report.dropped_samples += int(np.count_nonzero(~keep))
                mapped, t, values = mapped[keep], t[keep], values[keep]
            head.apply_many(mapped, t, values)
        elif isinstance(rec, MetadataRecord):
            for name, type_, help_, unit in rec.entries:
                head.metadata[name] = MetricMetadata(_metric_type(type_), help_, unit)
        elif isinstance(rec, TombstonesRecord):
            mapped, keep = refs.translate(rec.refs)
            lows, highs = rec.mint, rec.maxt
            if keep is not None:
                mapped, lows, highs = mapped[keep], lows[keep], highs[keep]
            head.add_tombstones(mapped, lows, highs)
    if report.rewrite_wal:
        log.warning(
            "wal records name series the wal lost; the head was rebuilt without them "
            "series_renumbered=%d samples_dropped=%d series_dropped=%d",
            report.renumbered,
            report.dropped_samples,
            report.dropped_series,
        )
    return report


def _series(head: Head, wal_ref: int, labels: Labels) -> int | None:
    existing = head.index.get(labels)
    if existing is not None:
        return existing
    # Refs need not be dense (garbage collection leaves gaps), only increasing: a series
    # record at or past the next free ref keeps its ref.
    if wal_ref >= head.index.next_ref:
        return head.create_with_ref(wal_ref, labels)
    try:
        ref, _ = head.get_or_create(labels)
    except ValidationError as err:
        log.warning("wal series record with invalid labels skipped ref=%d err=%s", wal_ref, err)
        return None
    return ref


def _metric_type(text: str) -> MetricType:
    try:
        return MetricType(text)
    except ValueError:
        return MetricType.UNKNOWN
