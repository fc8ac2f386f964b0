"""A block's meta.json, and its check against the block's index.

meta.json follows Prometheus' fields (``ulid``, ``minTime``, ``maxTime``, ``stats``,
``compaction`` with ``level``, ``sources`` and ``parents``, ``version``); byte layouts and
the index arrays are in ``docs/tsdb-format.md``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np

from kubeprom.errors import CorruptionError
from kubeprom.tsdb.api import MAX_TIME, MIN_TIME
from kubeprom.tsdb.blockindex import INDEX_ARRAYS, POSTINGS_ARRAYS

log = logging.getLogger(__name__)

META_VERSION = 1


@dataclass(frozen=True, slots=True)
class BlockDesc:
    """A block named by a merged block's meta.json as one of its parents."""

    ulid: str
    min_time: int
    max_time: int

    def to_json(self) -> dict[str, object]:
        return {"ulid": self.ulid, "minTime": self.min_time, "maxTime": self.max_time}


@dataclass(frozen=True, slots=True)
class BlockMeta:
    """meta.json. ``level``, ``sources`` and ``parents`` are Prometheus' ``compaction``
    object: a block cut from the head is level 1 and its own source; a merged block is one
    level above its highest parent, lists the parents it replaced and the union of their
    sources (the level-1 blocks its data came from)."""

    ulid: str
    min_time: int  # inclusive, ms
    max_time: int  # exclusive, ms (Prometheus' convention for block ranges)
    num_samples: int
    num_series: int
    num_frames: int
    level: int = 1
    sources: tuple[str, ...] = ()
    parents: tuple[BlockDesc, ...] = field(default=())

    def to_json(self) -> dict[str, object]:
        compaction: dict[str, object] = {
            "level": self.level,
            "sources": list(self.sources or (self.ulid,)),
        }
        if self.parents:
            compaction["parents"] = [p.to_json() for p in self.parents]
        return {
            "ulid": self.ulid,
            "minTime": self.min_time,
            "maxTime": self.max_time,
            "stats": {
                "numSamples": self.num_samples,
                "numSeries": self.num_series,
                "numFrames": self.num_frames,
            },
            "compaction": compaction,
            "version": META_VERSION,
        }

    @classmethod
    def from_json(cls, d: dict[str, object], path: str) -> BlockMeta:
        """Parse meta.json; one written before compaction levels reads as level 1."""
        try:
            stats = d["stats"]
            if not isinstance(stats, dict):
                raise TypeError(f"stats is {type(stats).__name__}, not an object")
            comp = d.get("compaction", {"level": 1, "sources": [d["ulid"]]})
            if not isinstance(comp, dict):
                raise TypeError(f"compaction is {type(comp).__name__}, not an object")
            parents = tuple(
                BlockDesc(str(p["ulid"]), int(p["minTime"]), int(p["maxTime"]))
                for p in comp.get("parents", ())
            )
            return cls(
                ulid=str(d["ulid"]),
                min_time=int(d["minTime"]),  # type: ignore[call-overload]
                max_time=int(d["maxTime"]),  # type: ignore[call-overload]
                num_samples=int(stats["numSamples"]),
                num_series=int(stats["numSeries"]),
                num_frames=int(stats["numFrames"]),
                level=int(comp.get("level", 1)),
                sources=tuple(str(u) for u in comp.get("sources", (d["ulid"],))),
                parents=parents,
            )
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            raise CorruptionError(f"invalid meta.json: {err}", path=path) from err

    @property
    def desc(self) -> BlockDesc:
        return BlockDesc(self.ulid, self.min_time, self.max_time)


def _ascending_from_zero(a: np.ndarray) -> bool:
    return bool(a.size) and int(a[0]) == 0 and bool(np.all(np.diff(a) >= 0))


def checked_meta(meta: BlockMeta, arrays: dict[str, np.ndarray], path: str) -> BlockMeta:
    """``meta`` checked against the index before anything is sized by it.

    The index has a checksum and meta.json has none, so counts come from the index: a
    meta.json claiming other counts is logged and corrected (``numSeries: 1e9`` must not
    allocate a billion entries). A time range that is empty, outside int64, or that does not
    hold the index's series raises :class:`CorruptionError`, as does an index whose arrays
    do not fit together.
    """
    missing = [name for name in (*INDEX_ARRAYS, *POSTINGS_ARRAYS) if name not in arrays]
    if missing:
        raise CorruptionError(f"index lacks arrays {missing}", path=path)
    pair_off, frame_bounds = arrays["series_pair_off"], arrays["frame_bounds"]
    frame_off, pairs = arrays["frame_off"], arrays["series_pairs"]
    n_series, n_frames = len(pair_off) - 1, len(frame_off) - 1
    mint, maxt = arrays["series_mint"], arrays["series_maxt"]
    symbols, sym_off = arrays["symbol_len"], arrays["symbol_off"]
    post_key, post_off = arrays["postings_key"], arrays["postings_off"]
    post_ids = arrays["postings_ids"]
    in_postings = post_ids.size == 0 or 0 <= int(post_ids.min()) <= int(post_ids.max()) < n_series
    in_symbols = pairs.size == 0 or 0 <= int(pairs.min()) <= int(pairs.max()) < len(symbols)
    # Time slices: each holds a run of frames over a subset of the series (version 1 reads
    # as one slice over every series).
    slice_frames, slice_id_off = arrays["slice_frames"], arrays["slice_id_off"]
    bounds = arrays["slice_bounds"]  # MIN_TIME..MAX_TIME for version 1: no np.diff (overflow)
    slice_ids, n_slices = arrays["slice_ids"], len(bounds) - 1
    in_series = slice_ids.size == 0 or 0 <= int(slice_ids.min()) <= int(slice_ids.max()) < n_series
    problems = [
        what
        for what, ok in (
            ("series pair offsets", _ascending_from_zero(pair_off)),
            ("frame offsets", _ascending_from_zero(frame_off)),
            ("frame bounds", _ascending_from_zero(frame_bounds)),
            ("frame count", len(frame_bounds) == n_frames + 1),
            ("series count", len(mint) == len(maxt) == n_series),
            ("frame bounds end", frame_bounds.size > 0 and int(frame_bounds[-1]) == slice_ids.size),
            ("slice bounds", n_slices >= 1 and bool(np.all(bounds[1:] > bounds[:-1]))),
            (
                "slice frames",
                _ascending_from_zero(slice_frames)
                and len(slice_frames) == n_slices + 1
                and int(slice_frames[-1]) == n_frames,
            ),
            (
                "slice series",
                _ascending_from_zero(slice_id_off)
                and len(slice_id_off) == n_slices + 1
                and int(slice_id_off[-1]) == slice_ids.size
                and in_series,
            ),
            (
                "slice times",
                len(arrays["slice_mint"]) == len(arrays["slice_maxt"]) == slice_ids.size,
            ),
            ("slice samples", len(arrays["slice_samples"]) == n_slices),
            ("label pairs", pair_off.size > 0 and 2 * int(pair_off[-1]) == len(pairs)),
            ("symbols", in_symbols),
            ("symbol lengths", bool(np.all(symbols >= 0))),
            ("symbol data", int(symbols.sum()) == len(arrays["symbol_data"])),
            (
                "symbol offsets",
                _ascending_from_zero(sym_off)
                and len(sym_off) == len(symbols) + 1
                and int(sym_off[-1]) == len(arrays["symbol_data"]),
            ),
            (
                "postings",
                _ascending_from_zero(post_off)
                and len(post_off) == len(post_key) + 1
                and int(post_off[-1]) == post_ids.size
                and bool(np.all(post_key[1:] > post_key[:-1]))
                and in_postings,
            ),
        )
        if not ok
    ]
    if problems:
        raise CorruptionError(f"inconsistent index: {', '.join(problems)}", path=path)
    if not MIN_TIME < meta.min_time < meta.max_time <= MAX_TIME:
        raise CorruptionError(
            f"invalid meta.json: time range [{meta.min_time}, {meta.max_time}) is empty or "
            "outside int64",
            path=path,
        )
    if n_series and (int(mint.min()) < meta.min_time or int(maxt.max()) >= meta.max_time):
        raise CorruptionError(
            f"invalid meta.json: samples from {int(mint.min())} to {int(maxt.max())} lie "
            f"outside the block's range [{meta.min_time}, {meta.max_time})",
            path=path,
        )
    if meta.num_samples < 0:
        raise CorruptionError(f"invalid meta.json: numSamples {meta.num_samples} < 0", path=path)
    if (meta.num_series, meta.num_frames) != (n_series, n_frames):
        log.warning(
            "meta.json counts disagree with the index, using the index's file=%s "
            "num_series=%d index_series=%d num_frames=%d index_frames=%d",
            path,
            meta.num_series,
            n_series,
            meta.num_frames,
            n_frames,
        )
        meta = dataclasses.replace(meta, num_series=n_series, num_frames=n_frames)
    return meta
