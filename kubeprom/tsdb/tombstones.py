"""Tombstones: time ranges of series deleted but not yet rewritten away.

A :class:`Tombstones` value maps a series key (a head ref or a block's local series id) to
sorted, merged, closed ``[mint, maxt]`` intervals in milliseconds. Readers drop samples inside
them (:meth:`Tombstones.filter`); ``clean_tombstones`` rewrites blocks without them
(Prometheus ``tsdb/tombstones``). Values are immutable: :meth:`Tombstones.add` returns a new
one, so a holder swaps one reference and concurrent readers never see a half-made update.

A block keeps its tombstones in ``<block>/tombstones``, JSON (``docs/tsdb-format.md``)::

    {"version": 1, "series": {"<local id>": [[mint, maxt], ...], ...}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from kubeprom.model.csr import gather_ranges
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.tsdb.frames import Part

TOMBSTONES_VERSION = 1

Interval = tuple[int, int]


def _merge(intervals: list[Interval]) -> tuple[Interval, ...]:
    """Sort and merge closed integer intervals; touching ones (``a.maxt + 1 == b.mint``) join."""
    out: list[Interval] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Tombstones:
    """Deleted ``[mint, maxt]`` (inclusive, ms) intervals per series key. Immutable."""

    series: Mapping[int, tuple[Interval, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.series)

    def __len__(self) -> int:
        return len(self.series)

    def add(self, keys: I64Array, mint: int | I64Array, maxt: int | I64Array) -> Tombstones:
        """A copy with ``[mint, maxt]`` deleted for every key (bounds scalar or per key).

        Intervals with ``maxt < mint`` are ignored.
        """
        keys = np.asarray(keys, dtype=np.int64)
        lows = np.broadcast_to(np.asarray(mint, dtype=np.int64), keys.shape)
        highs = np.broadcast_to(np.asarray(maxt, dtype=np.int64), keys.shape)
        new = dict(self.series)
        for k, lo, hi in zip(keys.tolist(), lows.tolist(), highs.tolist(), strict=True):
            if hi >= lo:
                new[k] = _merge([*new.get(k, ()), (lo, hi)])
        return Tombstones(new)

    def filter(
        self, part_ids: I64Array, t: I64Array, v: F64Array, offsets: I64Array
    ) -> tuple[I64Array, F64Array, I64Array]:
        """Drop the samples of a CSR (segment ``i`` is series ``part_ids[i]``) that fall
        inside this series' intervals. Segments may become empty; inputs are not modified
        and are returned as they are when nothing is dropped.
        """
        if not self.series or t.size == 0:
            return t, v, offsets
        keys = np.fromiter(self.series, dtype=np.int64, count=len(self.series))
        hit = np.flatnonzero(np.isin(part_ids, keys))
        if hit.size == 0:
            return t, v, offsets
        starts: list[I64Array] = []
        lengths: list[I64Array] = []
        # One small numpy step per tombstoned series, never per sample.
        for i, key in zip(hit.tolist(), part_ids[hit].tolist(), strict=True):
            a, b = int(offsets[i]), int(offsets[i + 1])
            iv = np.asarray(self.series[key], dtype=np.int64)
            lo = np.searchsorted(t[a:b], iv[:, 0], side="left")
            hi = np.searchsorted(t[a:b], iv[:, 1], side="right")
            starts.append(lo + a)
            lengths.append(hi - lo)
        drop = gather_ranges(np.concatenate(starts), np.concatenate(lengths))
        if drop.size == 0:
            return t, v, offsets
        keep = np.ones(t.size, dtype=bool)
        keep[drop] = False
        kept_before = np.zeros(t.size + 1, dtype=np.int64)
        np.cumsum(keep, out=kept_before[1:])
        return t[keep], v[keep], kept_before[offsets]

    def apply(self, part: Part) -> Part:
        """``part`` without deleted samples, and without series left empty."""
        t, v, offsets = self.filter(part.ids, part.t, part.v, part.offsets)
        if t is part.t:
            return part
        return Part(part.ids, t, v, offsets).drop_empty()

    # ---- the block file ------------------------------------------------------------------
    def to_json(self) -> bytes:
        series = {str(k): [list(iv) for iv in ivs] for k, ivs in sorted(self.series.items())}
        return json.dumps({"version": TOMBSTONES_VERSION, "series": series}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Tombstones:
        """Parse a tombstones file; raises ValueError (or TypeError) when malformed."""
        doc = json.loads(data)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        if doc.get("version") != TOMBSTONES_VERSION:
            raise ValueError(f"unsupported tombstones version {doc.get('version')!r}")
        series = doc["series"]
        if not isinstance(series, dict):
            raise ValueError("'series' is not an object")
        out: dict[int, tuple[Interval, ...]] = {}
        for key, ivs in series.items():
            out[int(key)] = _merge([(int(lo), int(hi)) for lo, hi in ivs])
        return cls(out)
