"""Reading the store's write-ahead log from the side, as Prometheus' ``wlog.Watcher`` does.

The watcher never writes, truncates or repairs anything in the WAL directory: it opens
segment files read-only and parses the frames that are complete (the writer appends each
record with one ``write``, so a frame still being written is simply not there yet). It
keeps the current segment's file open, so a checkpoint that deletes the segment under it
does not cut it short; the store's :meth:`~kubeprom.tsdb.wal.WAL.keep_segments_from` lets
remote write hold back the deletion of segments it has not read yet.

A :class:`Position` is ``(segment, byte offset)``: everything before it has been read.
Starting at a position, the watcher first reads the *series* records of the latest
checkpoint and of every segment up to the position (samples before it are skipped, as
Prometheus skips samples while it replays the WAL for series), then yields every record
from the position on: series records, and samples records with the position after them.

What cannot be read is logged and counted, never raised: a segment deleted before it was
read, a gap in the numbering, a corrupt record in a finished segment (the rest of that
segment is skipped; the writer's own replay truncates it at the next start).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from kubeprom.tsdb.walcodec import (
    MULTI_SAMPLES,
    SAMPLES,
    SERIES,
    MetadataRecord,
    MultiSamplesRecord,
    Record,
    SamplesRecord,
    SeriesRecord,
    TombstonesRecord,
    decode_frames,
)

log = logging.getLogger(__name__)

_SEGMENT_RE = re.compile(r"^(\d{8,})$")
_CHECKPOINT_RE = re.compile(r"^checkpoint\.(\d{8,})$")
_READ_CHUNK = 4 << 20


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A point in the WAL: byte ``offset`` of segment ``segment``."""

    segment: int
    offset: int


@dataclass(slots=True)
class WatcherStats:
    """Counters for ``prometheus_wal_watcher_*`` and the logs."""

    records_read: dict[str, int] = field(default_factory=dict)
    corruptions: int = 0
    segments_lost: int = 0


Item = tuple[Position, list[Record]]
"""Records of one frame and the position right after the frame."""


def list_wal(directory: Path) -> tuple[list[int], list[int]]:
    """Segment and checkpoint numbers in a WAL directory, ascending (none if it is absent)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return [], []
    segments = sorted(int(m.group(1)) for n in names if (m := _SEGMENT_RE.match(n)))
    checkpoints = sorted(int(m.group(1)) for n in names if (m := _CHECKPOINT_RE.match(n)))
    return segments, checkpoints


class WALWatcher:
    """Follows one WAL directory. Synchronous and cheap per call; one user at a time."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.stats = WatcherStats()
        self._segment = 0
        self._offset = 0
        self._fd: int | None = None
        self._pending = b""  # bytes read past the last complete frame

    @property
    def position(self) -> Position:
        """Everything before this has been returned by :meth:`read`."""
        return Position(self._segment, self._offset)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # ---- start ---------------------------------------------------------------------------

    def start(self, resume: Position | None) -> list[SeriesRecord]:
        """Position the watcher and return the series it needs to know first.

        ``resume`` None starts at the current end of the WAL (new samples only, as a new
        Prometheus queue does). A resume point in a segment that is gone moves to the next
        segment there is (logged: those samples are lost).
        """
        self.close()
        segments, checkpoints = list_wal(self.directory)
        series: list[SeriesRecord] = []
        base = checkpoints[-1] if checkpoints else None
        if base is not None:
            series += self._series_of(self.directory / f"checkpoint.{base:08d}", None)
        if resume is None:
            target = Position(segments[-1], self._size(segments[-1])) if segments else None
        else:
            target = self._clamp(resume, segments)
        for s in segments:
            if target is not None and s > target.segment:
                break
            limit = target.offset if target is not None and s == target.segment else None
            series += self._series_of(self.directory / f"{s:08d}", limit)
        if target is None:
            # An empty WAL: start with the segment the writer creates first.
            self._segment, self._offset = (base + 1 if base is not None else 1), 0
        else:
            self._segment, self._offset = target.segment, target.offset
        self._pending = b""
        return series

    def _clamp(self, resume: Position, segments: list[int]) -> Position | None:
        later = [s for s in segments if s >= resume.segment]
        if not later:
            if segments:
                log.warning(
                    "remote write position is past the wal, starting at its end: dir=%s "
                    "position=%s last_segment=%d",
                    self.directory,
                    resume,
                    segments[-1],
                )
                return Position(segments[-1], self._size(segments[-1]))
            return None
        if later[0] != resume.segment:
            self.stats.segments_lost += later[0] - resume.segment
            log.error(
                "wal segments deleted before remote write read them, their samples are lost: "
                "dir=%s from_segment=%d resumed_at=%d",
                self.directory,
                resume.segment,
                later[0],
            )
            return Position(later[0], 0)
        size = self._size(resume.segment)
        if resume.offset > size:
            log.warning(
                "wal segment shorter than the remote write position (repaired after a crash): "
                "segment=%d size=%d position=%d",
                resume.segment,
                size,
                resume.offset,
            )
            return Position(resume.segment, size)
        return resume

    def _size(self, segment: int) -> int:
        try:
            return (self.directory / f"{segment:08d}").stat().st_size
        except FileNotFoundError:
            return 0

    def _series_of(self, path: Path, limit: int | None) -> list[SeriesRecord]:
        """Series records of a file (up to byte ``limit``); samples are skipped undecoded."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        if limit is not None:
            data = data[:limit]
        frames, _, fault = decode_frames(data, only=frozenset({SERIES}))
        if fault is not None:
            self.stats.corruptions += 1
            log.warning(
                "wal record unreadable while reading series, skipping the rest: file=%s "
                "offset=%d reason=%s",
                path,
                fault.offset,
                fault.reason,
            )
        return [r for _, records in frames for r in records if isinstance(r, SeriesRecord)]

    # ---- tailing --------------------------------------------------------------------------

    def read(self, max_bytes: int = _READ_CHUNK) -> list[Item]:
        """The records written since the last call (about ``max_bytes`` at most).

        Returns an empty list when nothing new is complete. Moves to the next segment once
        the writer has started it and the current one is read to its end.
        """
        items: list[Item] = []
        budget = max_bytes
        while budget > 0:
            # Look for a later segment *before* reading: the writer finishes a segment before
            # it creates the next, so if one exists and nothing more is read, this one is done.
            later = self._later_segment()
            got, progressed = self._read_current(budget, finished=later is not None)
            items += got
            budget -= progressed
            if progressed:
                continue
            if later is None:
                break
            self._move(later)
        return items

    def _later_segment(self) -> int | None:
        segments, _ = list_wal(self.directory)
        return next((s for s in segments if s > self._segment), None)

    def _file(self) -> int | None:
        if self._fd is None:
            try:
                self._fd = os.open(self.directory / f"{self._segment:08d}", os.O_RDONLY)
            except FileNotFoundError:
                return None
        return self._fd

    def _read_current(self, budget: int, *, finished: bool) -> tuple[list[Item], int]:
        fd = self._file()
        if fd is None:
            return [], 0
        chunk = os.pread(fd, min(budget, _READ_CHUNK), self._offset + len(self._pending))
        if not chunk and not self._pending:
            return [], 0
        buf = self._pending + chunk if self._pending else chunk
        frames, consumed, fault = decode_frames(buf, only=_TAILED)
        items: list[Item] = []
        for end, records in frames:
            items.append((Position(self._segment, self._offset + end), records))
            for r in records:
                kind = _RECORD_NAMES[type(r)]
                self.stats.records_read[kind] = self.stats.records_read.get(kind, 0) + 1
        self._offset += consumed
        self._pending = buf[consumed:]
        if fault is not None and finished:
            # In a finished segment a bad frame is corruption, not a write in progress.
            self.stats.corruptions += 1
            log.error(
                "wal record corrupt, skipping the rest of the segment: segment=%d offset=%d "
                "reason=%s",
                self._segment,
                self._offset,
                fault.reason,
            )
            self._offset += len(self._pending)
            self._pending = b""
            return items, max(len(chunk), 1)
        return items, len(chunk)

    def _move(self, nxt: int) -> None:
        if self._pending:
            self.stats.corruptions += 1
            log.warning(
                "wal segment ends in a torn record, skipping it: segment=%d offset=%d bytes=%d",
                self._segment,
                self._offset,
                len(self._pending),
            )
        if nxt != self._segment + 1 and self._fd is not None:
            self.stats.segments_lost += nxt - self._segment - 1
            log.error(
                "wal segments deleted before remote write read them, their samples are lost: "
                "dir=%s missing_from=%d next=%d",
                self.directory,
                self._segment + 1,
                nxt,
            )
        self.close()
        self._segment, self._offset, self._pending = nxt, 0, b""


_TAILED = frozenset({SERIES, SAMPLES, MULTI_SAMPLES})
_RECORD_NAMES: dict[type, str] = {
    SeriesRecord: "series",
    SamplesRecord: "samples",
    MultiSamplesRecord: "samples",
    MetadataRecord: "metadata",
    TombstonesRecord: "tombstones",
}
