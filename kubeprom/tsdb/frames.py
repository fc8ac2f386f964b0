"""Groups of series stored as compressed frames, and merging of CSR parts.

A :class:`FrameSet` is a run of series (ascending ids) whose samples were encoded together by
:mod:`kubeprom.tsdb.chunks`, cut into frames of about ``FRAME_TARGET_SAMPLES`` samples on
series boundaries. Head slabs and on-disk blocks are both FrameSets; they differ only in where
frame bytes live (a list in memory, or an mmap'd chunk file).
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from kubeprom.errors import CorruptionError
from kubeprom.model.csr import gather_ranges, offsets_from_counts, segment_bound
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.tsdb import chunks

# Frames of this many samples decode in ~1 ms and keep zstd's window well used; a query for
# a handful of series still reads only the frames holding them.
FRAME_TARGET_SAMPLES = 1 << 15


@dataclass(frozen=True, slots=True)
class Decoded:
    """One decoded frame: values, series offsets and the times, in one of two forms.

    Usually ``key`` is the time index ``(series << shift) | (t - base)``, ascending across
    the whole frame, so one ``searchsorted`` finds every series' window bounds, and the times
    are ``(key & mask) + base``: not keeping them as well saves a third of the cache (``t``
    is then empty). ``shift`` is the bit length of the frame's time span, so a frame of a
    30-minute slice (a few hundred series, 21 bits of milliseconds) packs its key into 32
    bits: 12 bytes per cached sample instead of 16. A frame spanning too long for 32-bit
    offsets has no ``key`` and keeps its times in ``t``.
    """

    v: F64Array
    offsets: I64Array
    key: npt.NDArray[np.uint32] | I64Array | None
    t: I64Array
    base: int
    shift: int = 32

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.v, self.offsets, self.key, self.t) if a is not None)

    def _times(self, key: npt.NDArray[np.uint32] | I64Array) -> I64Array:
        out: I64Array = (key & key.dtype.type((1 << self.shift) - 1)).astype(np.int64, copy=False)
        out += self.base
        return out

    def times(self, idx: I64Array) -> I64Array:
        """The timestamps of samples ``idx``."""
        if self.key is None:
            out: I64Array = self.t[idx]
            return out
        return self._times(self.key[idx])

    def times_of(self, spans: list[tuple[int, int]]) -> I64Array:
        """The timestamps of the samples in the index ranges ``spans``, one after another."""
        if self.key is None:
            return np.concatenate([self.t[a:b] for a, b in spans])
        key = self.key
        return self._times(np.concatenate([key[a:b] for a, b in spans]))

    def bounds(self, local: I64Array, mint: int, maxt: int) -> tuple[I64Array, I64Array]:
        """Index ranges ``[lo, hi)`` of series ``local`` (frame positions) in ``[mint, maxt]``;
        a frame with a key only."""
        key = self.key
        if key is None:
            raise ValueError("bounds of a frame without a time key")
        top = (1 << self.shift) - 1
        # top + 1 probes the next series' first key: every sample of the series is before mint.
        lo_t = min(max(mint - self.base, 0), top + 1)
        hi_t = min(max(maxt - self.base, -1), top)
        seg = local << self.shift
        lo = np.searchsorted(key, (seg + lo_t).astype(key.dtype, copy=False))
        if hi_t < 0:
            return lo, lo
        hi = np.searchsorted(key, (seg + hi_t).astype(key.dtype, copy=False), side="right")
        return lo, np.maximum(hi, lo)  # an empty (or inverted) range selects nothing


# Time spans a frame's key can index (its time offsets are at most 32 bits).
_KEY_SPAN = 1 << 32
# Reads copy a frame's runs as slices when they average this many samples (fewer: through
# one index array, cheaper than many tiny slices).
_MIN_SLICE_MEAN = 16


class FrameCache:
    """Decoded frames, least recently used first out, bounded by their bytes.

    Dashboards and rules re-read the same recent frames on every refresh; decoding a frame
    costs about a millisecond, a hit a dictionary lookup. Shared by every FrameSet of a store
    and safe to use from query threads. Cached arrays are read-only.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[int, int], tuple[Decoded, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._tokens = itertools.count(1)
        self.hits = self.misses = 0

    def token(self) -> int:
        """A key prefix no other FrameSet of this cache uses."""
        return next(self._tokens)

    def get(self, key: tuple[int, int]) -> Decoded | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: tuple[int, int], value: Decoded) -> None:
        size = value.nbytes
        if size > self.max_bytes:
            return
        for a in (value.v, value.offsets, value.key, value.t):
            if a is not None:
                a.flags.writeable = False
        with self._lock:
            if key in self._items:
                return
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    def resize(self, max_bytes: int) -> None:
        """Change the bound, dropping the least recently used frames beyond it."""
        with self._lock:
            self.max_bytes = max_bytes
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    @property
    def size_bytes(self) -> int:
        return self._bytes


@dataclass(slots=True)
class Part:
    """Samples of several series in CSR layout, keyed by an integer series id."""

    ids: I64Array
    t: I64Array
    v: F64Array
    offsets: I64Array

    @staticmethod
    def empty() -> Part:
        return Part(
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            np.empty(0, np.float64),
            np.zeros(1, np.int64),
        )

    def drop_empty(self) -> Part:
        counts = np.diff(self.offsets)
        if counts.all():
            return self
        keep = np.flatnonzero(counts)
        return Part(self.ids[keep], self.t, self.v, offsets_from_counts(counts[keep]))


def plan_frames(counts: I64Array, target: int = FRAME_TARGET_SAMPLES) -> I64Array:
    """Series-index boundaries (``len F + 1``) grouping consecutive series into frames."""
    if len(counts) == 0:
        return np.zeros(1, dtype=np.int64)
    before = np.cumsum(counts) - counts
    frame_of = before // target
    cuts = np.flatnonzero(np.diff(frame_of)) + 1
    return np.concatenate(([0], cuts, [len(counts)])).astype(np.int64)


def encode_frames(
    t: I64Array, v: F64Array, offsets: I64Array, target: int = FRAME_TARGET_SAMPLES
) -> tuple[list[bytes], I64Array]:
    """Encode CSR samples into frames; returns the frames and their series boundaries."""
    bounds = plan_frames(np.diff(offsets), target)
    frames = []
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        lo, hi = int(offsets[a]), int(offsets[b])
        frames.append(chunks.encode_frame(t[lo:hi], v[lo:hi], offsets[a : b + 1] - lo))
    return frames, bounds


@dataclass(slots=True)
class FrameSet:
    """Series ``ids`` (ascending) with per-series time bounds and their encoded frames."""

    ids: I64Array
    series_mint: I64Array
    series_maxt: I64Array
    frame_bounds: I64Array
    load_frame: Callable[[int], bytes]
    num_samples: int
    cache: FrameCache | None = None
    cache_token: int = field(default=0)
    # Frames that failed to decode, with the reason: reads skip them from then on.
    quarantined: dict[int, str] = field(default_factory=dict)
    # The number of the set's first frame in its file, for messages (a block's time slices
    # each hold a run of the block's frames).
    first_frame: int = 0

    def __post_init__(self) -> None:
        if self.cache is not None and not self.cache_token:
            self.cache_token = self.cache.token()

    def decode(self, f: int, *, cached: bool = True) -> Decoded:
        """Frame ``f`` decoded, through the cache when there is one (and ``cached``: bulk
        readers that see each frame once, compaction and merges, leave the cache to queries).

        A frame that fails its checks raises :class:`CorruptionError` (message naming the
        frame) and is quarantined: :meth:`read` leaves its series out from then on.
        """
        cache = self.cache if cached else None
        if cache is not None:
            hit = cache.get((self.cache_token, f))
            if hit is not None:
                return hit
        data = self.load_frame(f)
        try:
            t, v, offsets = chunks.decode_frame(data)
        except CorruptionError as err:
            a, b = int(self.frame_bounds[f]), int(self.frame_bounds[f + 1])
            first, last = int(self.ids[a]), int(self.ids[b - 1])
            message = f"frame {self.first_frame + f} (series {first} to {last}): {err.message}"
            self.quarantined[f] = message
            raise CorruptionError(message, path=err.path) from err
        decoded = _decoded(t, v, offsets)
        if cache is not None:
            cache.put((self.cache_token, f), decoded)
        return decoded

    @property
    def mint(self) -> int:
        return int(self.series_mint.min()) if self.ids.size else 0

    @property
    def maxt(self) -> int:
        return int(self.series_maxt.max()) if self.ids.size else -1

    @classmethod
    def build(
        cls,
        ids: I64Array,
        t: I64Array,
        v: F64Array,
        offsets: I64Array,
        target: int = FRAME_TARGET_SAMPLES,
        cache: FrameCache | None = None,
    ) -> FrameSet:
        """Encode in-memory samples (every series non-empty) into a FrameSet."""
        frames, bounds = encode_frames(t, v, offsets, target)
        return cls(
            ids=ids,
            series_mint=t[offsets[:-1]],
            series_maxt=t[offsets[1:] - 1],
            frame_bounds=bounds,
            load_frame=frames.__getitem__,
            num_samples=int(offsets[-1]),
            cache=cache,
        )

    def may_hold(self, want: I64Array) -> bool:
        """Whether the id ranges of ``want`` (sorted) and this set overlap: a cheap first
        test, as slabs of separate loads hold disjoint id ranges."""
        ids = self.ids
        return bool(want.size and ids.size and want[0] <= ids[-1] and want[-1] >= ids[0])

    def read(self, want: I64Array, mint: int, maxt: int, *, cached: bool = True) -> Part:
        """Samples in ``[mint, maxt]`` of the wanted ids (sorted) that this set holds;
        ``cached=False`` for a bulk read (see :meth:`decode`)."""
        if not self.may_hold(want):
            return Part.empty()
        pos = np.searchsorted(self.ids, want)
        inside = pos < len(self.ids)
        pos, want = pos[inside], want[inside]
        pos = pos[self.ids[pos] == want]
        pos = pos[(self.series_maxt[pos] >= mint) & (self.series_mint[pos] <= maxt)]
        if pos.size == 0:
            return Part.empty()
        if len(self.frame_bounds) == 2 and not self.quarantined:  # one frame: no grouping
            frame_of, frames = None, [0]
        else:
            frame_of = np.searchsorted(self.frame_bounds, pos, side="right") - 1
            if self.quarantined:
                usable = ~np.isin(frame_of, list(self.quarantined))
                pos, frame_of = pos[usable], frame_of[usable]
                if pos.size == 0:
                    return Part.empty()
            frames = np.unique(frame_of).tolist()
        ts, vs, counts = [], [], []
        for f in frames:
            d = self.decode(f, cached=cached)
            foff = d.offsets
            local = (pos if frame_of is None else pos[frame_of == f]) - self.frame_bounds[f]
            # Only the samples inside [mint, maxt] are copied out of the frame.
            if d.key is not None:
                lo, hi = d.bounds(local, mint, maxt)
            else:
                lo = segment_bound(d.t, foff[local], foff[local + 1], mint)
                hi = segment_bound(d.t, lo, foff[local + 1], maxt, right=True)
            n = hi - lo
            if len(n) * _MIN_SLICE_MEAN <= int(n.sum()):
                # Long runs (a day of a few series): one copy of slices, no index arrays.
                spans = list(zip(lo.tolist(), hi.tolist(), strict=True))
                ts.append(d.times_of(spans))
                vs.append(np.concatenate([d.v[a:b] for a, b in spans]))
            else:
                idx = gather_ranges(lo, n)
                ts.append(d.times(idx))
                vs.append(d.v[idx])
            counts.append(n)
        t, v = np.concatenate(ts), np.concatenate(vs)
        off = offsets_from_counts(np.concatenate(counts))
        return Part(self.ids[pos], t, v, off).drop_empty()

    def quarantined_in(self, want: I64Array, mint: int, maxt: int) -> list[int]:
        """The quarantined frames a :meth:`read` of these ids and times leaves out."""
        if not self.quarantined or want.size == 0 or self.ids.size == 0:
            return []
        pos = np.searchsorted(self.ids, want)
        inside = pos < len(self.ids)
        pos, want = pos[inside], want[inside]
        pos = pos[self.ids[pos] == want]
        pos = pos[(self.series_maxt[pos] >= mint) & (self.series_mint[pos] <= maxt)]
        frames = np.unique(np.searchsorted(self.frame_bounds, pos, side="right") - 1)
        return [f for f in frames.tolist() if f in self.quarantined]


def _decoded(t: I64Array, v: F64Array, offsets: I64Array) -> Decoded:
    if t.size == 0 or int(t.max()) - int(t.min()) >= _KEY_SPAN:
        return Decoded(v, offsets, None, t, 0)
    base = int(t.min())
    shift = max((int(t.max()) - base).bit_length(), 1)
    n_series = len(offsets) - 1
    series = np.repeat(np.arange(n_series, dtype=np.int64), np.diff(offsets))
    key: I64Array = (series << shift) | (t - base)
    if n_series << shift < _KEY_SPAN:  # strictly: a probe may be n_series << shift
        return Decoded(v, offsets, key.astype(np.uint32), np.empty(0, np.int64), base, shift)
    return Decoded(v, offsets, key, np.empty(0, dtype=np.int64), base, shift)


def merge_parts(parts: Sequence[Part]) -> Part:
    """Merge parts given in time order into one Part with ascending unique ids.

    When a series' pieces overlap in time (e.g. overlapping blocks from a backfill), samples
    are merged by timestamp and, for equal timestamps, the later part wins.
    """
    parts = [p for p in parts if p.ids.size]
    if not parts:
        return Part.empty()
    if len(parts) == 1:
        return parts[0]
    ids = np.concatenate([p.ids for p in parts])
    starts = np.concatenate([p.offsets[:-1] + base for p, base in _bases(parts)])
    lengths = np.concatenate([np.diff(p.offsets) for p in parts])
    t_all = np.concatenate([p.t for p in parts])
    v_all = np.concatenate([p.v for p in parts])
    order = np.argsort(ids, kind="stable")  # stable: keeps each id's pieces in time order
    idx = gather_ranges(starts[order], lengths[order])
    t, v = t_all[idx], v_all[idx]
    uniq, first = np.unique(ids[order], return_index=True)
    seg_counts = np.add.reduceat(lengths[order], first) if len(first) else first
    offsets = offsets_from_counts(seg_counts)
    seg_of_sample = np.repeat(np.arange(len(uniq)), seg_counts)
    same_seg = seg_of_sample[1:] == seg_of_sample[:-1]
    if np.all(t[1:][same_seg] > t[:-1][same_seg]):
        return Part(uniq, t, v, offsets)
    # Overlap: sort by (series, t, arrival) and keep the last arrival per timestamp.
    arrival = np.arange(len(t))
    o = np.lexsort((arrival, t, seg_of_sample))
    t, v, seg = t[o], v[o], seg_of_sample[o]
    last = np.ones(len(t), dtype=bool)
    last[:-1] = (seg[1:] != seg[:-1]) | (t[1:] != t[:-1])
    t, v, seg = t[last], v[last], seg[last]
    return Part(uniq, t, v, offsets_from_counts(np.bincount(seg, minlength=len(uniq))))


def concat_parts(parts: Sequence[Part]) -> Part:
    """Join parts that cover consecutive, disjoint time ranges (given in time order): each
    series' pieces follow one another, so no sample needs comparing, only moving."""
    parts = [p for p in parts if p.ids.size]
    if len(parts) <= 1:
        return parts[0] if parts else Part.empty()
    ids = np.concatenate([p.ids for p in parts])
    starts = np.concatenate([p.offsets[:-1] + base for p, base in _bases(parts)])
    lengths = np.concatenate([np.diff(p.offsets) for p in parts])
    order = np.argsort(ids, kind="stable")  # stable: each id's pieces stay in time order
    sorted_ids = ids[order]
    first = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    lengths = lengths[order]
    idx = gather_ranges(starts[order], lengths)
    t = np.concatenate([p.t for p in parts])[idx]
    v = np.concatenate([p.v for p in parts])[idx]
    return Part(sorted_ids[first], t, v, offsets_from_counts(np.add.reduceat(lengths, first)))


def _bases(parts: Sequence[Part]) -> list[tuple[Part, int]]:
    out, base = [], 0
    for p in parts:
        out.append((p, base))
        base += len(p.t)
    return out
