"""Checksummed write-ahead log for the head of the store.

Layout: ``<data>/wal/`` holds segment files named by 8-digit zero-padded numbers
(``00000001``, ``00000002``, ...) and at most one live checkpoint file ``checkpoint.<N>``
that stands for every record in segments ``<= N``. Replay reads the checkpoint, then the
segments numbered ``> N`` in order. The byte layout is in ``docs/tsdb-format.md``.

Durability (:class:`FsyncPolicy`):

- every ``log_*`` call hands its record(s) to the OS with one ``os.write`` before it
  returns, so a process crash (even SIGKILL) loses nothing that was acknowledged;
- ``fsync`` runs on segment rotation, on ``write_checkpoint``, on ``close`` and on
  ``sync()``; with ``FsyncPolicy(interval_s=x)`` a ``log_*`` call also fsyncs when ``x``
  seconds (the clock's monotonic reading) have passed since the last fsync;
- as in Prometheus, a power loss may lose the writes since the last fsync.

Recovery: ``replay()`` never raises for bad data. A torn or corrupt record in a segment is
logged (WARNING, with file, byte offset and reason), the segment is truncated at the last
good record and every later segment is deleted (each deletion logged), because their
records cannot be ordered after the gap. A corrupt checkpoint is logged at ERROR and
skipped: replay falls back to an older valid checkpoint if one is left, else replays the
segments alone, and the checkpointed data is lost.

Writing after replay: the first write after ``replay()`` goes to a NEW segment (the last
number + 1), never into a segment that may have just been truncated; an empty last segment
is reused. ``log_*`` on a directory with existing data raises :class:`StorageError` until a
``replay()`` has run to the end; on a fresh directory writing may start at once.

Task-safety: one writer; not thread-safe (the head serialises calls under its own lock).
Arrays in replayed records may be read-only views on the read buffer: copy before mutating.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import zstandard
from numpy.typing import ArrayLike

from kubeprom.clock import Clock, RealClock, elapsed_s
from kubeprom.errors import StorageError
from kubeprom.tsdb.walcodec import (
    ZSTD_LEVEL,
    Fault,
    MetadataRecord,
    MultiSamplesRecord,
    Part,
    Record,
    SamplesRecord,
    SeriesRecord,
    TombstonesRecord,
    as_refs,
    encode_metadata,
    encode_multi,
    encode_samples,
    encode_series,
    encode_tombstones,
    read_frames,
    read_records,
)

logger = logging.getLogger(__name__)

__all__ = [
    "WAL",
    "FsyncPolicy",
    "MetadataRecord",
    "MultiSamplesRecord",
    "Record",
    "SamplesRecord",
    "SeriesRecord",
    "TombstonesRecord",
]


@dataclass(frozen=True, slots=True)
class FsyncPolicy:
    """Extra fsyncs on top of rotation, checkpoint, close and ``sync()``.

    ``interval_s``: when set, a ``log_*`` call fsyncs the segment if at least this many
    seconds passed since the last fsync. ``None`` (default) leaves it to the OS.
    """

    interval_s: float | None = None

    def __post_init__(self) -> None:
        if self.interval_s is not None and not self.interval_s >= 0:
            raise ValueError(f"fsync interval_s must be >= 0, got {self.interval_s!r}")


DEFAULT_FSYNC = FsyncPolicy()
DEFAULT_SEGMENT_SIZE = (
    128 << 20
)  # Checkpoints group series into frames of this many so one frame stays small.
_CHECKPOINT_SERIES_PER_FRAME = 10_000
# ... and split sample records so a frame stays far below the 4 GiB length limit.
_CHECKPOINT_SAMPLES_PER_FRAME = 1 << 20
_CHECKPOINT_WRITE_BYTES = 4 << 20

_SEGMENT_RE = re.compile(r"^(\d{8,})$")
_CHECKPOINT_RE = re.compile(r"^checkpoint\.(\d{8,})$")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- the log ----------------------------------------------------------------------------


class WAL:
    """A segmented, checksummed write-ahead log in one directory. See the module docstring.

    Raises :class:`StorageError` for I/O failures while writing, for writes after
    ``close()``, and for writes to a non-empty directory before ``replay()`` finished.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
        fsync: FsyncPolicy = DEFAULT_FSYNC,
        compress: bool = False,
        clock: Clock | None = None,
    ) -> None:
        """Open or create ``directory``; does not replay.

        ``compress`` zstd-compresses sample payloads of 4 KiB or more when that makes them
        smaller (2-4x slower appends for 1.6-5x fewer bytes; off by default).
        ``clock`` measures ``fsync.interval_s`` (the real clock by default).
        """
        if segment_size <= 0:
            raise ValueError(f"segment_size must be positive, got {segment_size!r}")
        self._dir = Path(directory)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._segment_size = segment_size
        self._fsync = fsync
        self._clock: Clock = clock or RealClock()
        self._cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL) if compress else None
        self._group_cctx: zstandard.ZstdCompressor | None = None  # for log_group
        self._fd: int | None = None
        self._seg = 0  # number of the open segment (valid while _fd is set)
        self._seg_bytes = 0
        self._last_fsync_ns = self._clock.monotonic_ns()
        self._closed = False
        segments, checkpoints = self._scan()
        # Existing data must be replayed (and repaired) before anything is appended after it.
        self._writable = not segments and not checkpoints
        self._next_seg = 1
        self._keep_from: Callable[[], int | None] | None = None

    # -- introspection

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def segments(self) -> list[int]:
        """Segment numbers on disk, ascending."""
        return self._scan()[0]

    @property
    def size_bytes(self) -> int:
        """Bytes on disk in segments and checkpoints."""
        segments, checkpoints = self._scan()
        paths = [self._seg_path(n) for n in segments] + [self._cp_path(n) for n in checkpoints]
        return sum(p.stat().st_size for p in paths)

    def keep_segments_from(self, floor: Callable[[], int | None] | None) -> None:
        """Let a reader of the segments (remote write) hold back their deletion.

        ``floor()`` is asked at each checkpoint: segments numbered ``>= floor()`` that the
        checkpoint covers are kept on disk until a later checkpoint finds them below the
        floor (replay ignores them: the checkpoint stands for them). ``None`` releases all.
        """
        self._keep_from = floor

    # -- writing

    def log_series(self, records: Sequence[SeriesRecord]) -> None:
        """Log series definitions as one record; an empty sequence writes nothing."""
        if records:
            self._write(encode_series(records))

    def log_samples(self, t_ms: int, refs: ArrayLike, values: ArrayLike) -> None:
        """Log one value per ref at ``t_ms`` (copied); empty arrays write nothing."""
        r = as_refs(refs)
        if r.size:
            self._write(encode_samples(t_ms, r, values, self._cctx))

    def log_multi_samples(self, refs: ArrayLike, t: ArrayLike, values: ArrayLike) -> None:
        """Log samples with a timestamp each (equal-length arrays); empty writes nothing."""
        r = as_refs(refs)
        if r.size:
            self._write(encode_multi(r, t, values, self._cctx))

    def log_metadata(self, entries: Sequence[tuple[str, str, str, str]]) -> None:
        """Log (metric, type, help, unit) entries as one record."""
        if entries:
            self._write(encode_metadata(entries))

    def log_tombstones(self, refs: ArrayLike, mint: ArrayLike, maxt: ArrayLike) -> None:
        """Log deleted ``[mint, maxt]`` ranges, one per ref; empty arrays write nothing."""
        r = as_refs(refs)
        if r.size:
            self._write(encode_tombstones(r, mint, maxt))

    def log_group(
        self, series: Sequence[SeriesRecord], refs: ArrayLike, t: ArrayLike, values: ArrayLike
    ) -> None:
        """Log several commits at once: new series, then the samples with a timestamp each
        (one multi-samples record), in one ``os.write``. The record is zstd-compressed
        whatever ``compress`` says: its timestamp column would otherwise make the log 1.6x
        the per-commit records' size, and one large record compresses cheaply."""
        r = as_refs(refs)
        if self._group_cctx is None:
            self._group_cctx = self._cctx or zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        samples = encode_multi(r, t, values, self._group_cctx) if r.size else []
        self._log_with_series(series, samples)

    def log_batch(
        self, series: Sequence[SeriesRecord], t_ms: int, refs: ArrayLike, values: ArrayLike
    ) -> None:
        """Log an appender commit: new series, then samples, in one ``os.write``."""
        r = as_refs(refs)
        samples = encode_samples(t_ms, r, values, self._cctx) if r.size else []
        self._log_with_series(series, samples)

    def _log_with_series(self, series: Sequence[SeriesRecord], samples: list[Part]) -> None:
        parts = [*(encode_series(series) if series else []), *samples]
        if parts:
            self._write(parts)

    def flush(self) -> None:
        """No-op kept for the seam: every ``log_*`` call has already written to the OS."""
        self._check_open()

    def sync(self) -> None:
        """fsync the open segment (everything logged so far survives power loss)."""
        self._check_open()
        if self._fd is not None:
            self._do_fsync(self._fd)

    def write_checkpoint(self, records: Iterable[Record]) -> None:
        """Replace segments up to now with ``records``.

        Starts segment ``N+1`` first, so ``records`` must describe everything logged up to
        and including segment ``N``. Writes ``checkpoint.<N>`` atomically (tmp, fsync,
        rename, fsync dir), then deletes segments ``<= N`` (except those a reader holds, see
        :meth:`keep_segments_from`) and older checkpoints. If
        ``records`` raises (re-raised) or an I/O error occurs (:class:`StorageError`), the
        temporary file is removed and only the new segment remains.
        Runs of series and sample records of more than 2**20 samples are regrouped into
        frames, so replay yields the same series and samples, maybe in differently sized
        records.
        """
        self._check_writable()
        segments, checkpoints = self._scan()
        n = max([self._seg if self._fd is not None else 0, *segments, *checkpoints, 0])
        self._close_segment()
        self._open_segment(n + 1, create=True)
        final = self._cp_path(n)
        tmp = final.with_name(final.name + ".tmp")
        done = False
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                self._write_checkpoint_file(fd, records)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
            _fsync_dir(self._dir)
            done = True
        except OSError as err:
            raise StorageError(f"cannot write wal checkpoint {final}: {err}") from err
        finally:
            if not done:  # also when ``records`` raised: leave no half-written file
                tmp.unlink(missing_ok=True)
        floor = self._keep_from() if self._keep_from is not None else None
        kept = [s for s in segments if s <= n and floor is not None and s >= floor]
        for s in segments:
            if s <= n and s not in kept:
                self._seg_path(s).unlink(missing_ok=True)
        if kept:
            logger.info("wal segments kept for a reader: first=%d last=%d", kept[0], kept[-1])
        for c in checkpoints:
            if c < n:
                self._cp_path(c).unlink(missing_ok=True)
        for stale in self._dir.glob("checkpoint.*.tmp"):
            stale.unlink(missing_ok=True)
        _fsync_dir(self._dir)
        logger.info("wal checkpoint written: file=%s covers_segments<=%d", final, n)

    def close(self) -> None:
        """fsync and close the open segment; idempotent. Later writes raise."""
        if not self._closed:
            self._close_segment()
            self._closed = True

    def __enter__(self) -> WAL:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- replay

    def replay(self) -> Iterator[Record]:
        """Yield every record in write order: checkpoint first, then segments.

        Never raises for bad data; repairs the directory instead (module docstring). Must
        be consumed to the end before the next ``log_*`` on a non-fresh directory. Closes
        the open segment first, so later writes start a new segment.
        """
        self._check_open()
        self._close_segment()
        self._writable = False
        segments, checkpoints = self._scan()
        base = None
        for cp in sorted(checkpoints, reverse=True):
            try:
                # Verify the whole file first so a bad checkpoint yields nothing at all.
                for _ in read_frames(self._cp_path(cp)):
                    pass
            except Fault as fault:
                logger.error(
                    "wal checkpoint corrupt, skipping it: file=%s offset=%d reason=%s",
                    self._cp_path(cp),
                    fault.offset,
                    fault.reason,
                )
                continue
            base = cp
            break
        if base is not None:
            yield from self._replay_checkpoint(base)
            segments = [s for s in segments if s > base]
            if segments and segments[0] != base + 1:
                logger.warning(
                    "wal segments missing after checkpoint: file=%s first_segment=%s",
                    self._cp_path(base),
                    self._seg_path(segments[0]),
                )
        elif checkpoints:
            logger.error("no usable wal checkpoint: dir=%s; replaying segments only", self._dir)
        for i, s in enumerate(segments):
            if i and s != segments[i - 1] + 1:
                logger.warning(
                    "wal segment gap: file=%s follows %s",
                    self._seg_path(s),
                    self._seg_path(segments[i - 1]),
                )
                self._delete_segments(segments[i:])
                segments = segments[:i]
                break
            path = self._seg_path(s)
            try:
                yield from read_records(path)
            except Fault as fault:
                logger.warning(
                    "wal segment corrupt, truncating: file=%s offset=%d reason=%s "
                    "later_segments_deleted=%d",
                    path,
                    fault.offset,
                    fault.reason,
                    len(segments) - i - 1,
                )
                self._truncate(path, fault.offset)
                self._delete_segments(segments[i + 1 :])
                segments = segments[: i + 1]
                break
        last = max([*segments, *checkpoints, 0])
        empty_last = bool(segments) and self._seg_path(segments[-1]).stat().st_size == 0
        self._next_seg = last if empty_last and last == segments[-1] else last + 1
        self._writable = True

    # -- internals

    def _replay_checkpoint(self, n: int) -> Iterator[Record]:
        path = self._cp_path(n)
        try:
            yield from read_records(path)
        except Fault as fault:
            logger.error(
                "wal checkpoint record malformed, ignoring the rest: file=%s offset=%d reason=%s",
                path,
                fault.offset,
                fault.reason,
            )

    def _write_checkpoint_file(self, fd: int, records: Iterable[Record]) -> None:
        buf: list[Part] = []
        buffered = 0
        series: list[SeriesRecord] = []

        def emit(parts: list[Part]) -> None:
            nonlocal buffered
            buf.extend(parts)
            buffered += sum(len(p) if isinstance(p, bytes) else p.nbytes for p in parts)
            if buffered >= _CHECKPOINT_WRITE_BYTES:
                _write_all(fd, b"".join(buf))
                buf.clear()
                buffered = 0

        for rec in records:
            if isinstance(rec, SeriesRecord):
                series.append(rec)
                if len(series) >= _CHECKPOINT_SERIES_PER_FRAME:
                    emit(encode_series(series))
                    series = []
                continue
            if series:
                emit(encode_series(series))
                series = []
            step = _CHECKPOINT_SAMPLES_PER_FRAME
            if isinstance(rec, SamplesRecord):
                refs = as_refs(rec.refs)
                for i in range(0, refs.size, step):
                    vals = rec.values[i : i + step]
                    emit(encode_samples(rec.t_ms, refs[i : i + step], vals, self._cctx))
            elif isinstance(rec, MultiSamplesRecord):
                refs = as_refs(rec.refs)
                for i in range(0, refs.size, step):
                    t, vals = rec.t[i : i + step], rec.values[i : i + step]
                    emit(encode_multi(refs[i : i + step], t, vals, self._cctx))
            elif isinstance(rec, TombstonesRecord):
                if rec.refs.size:
                    emit(encode_tombstones(rec.refs, rec.mint, rec.maxt))
            elif rec.entries:
                emit(encode_metadata(rec.entries))
        if series:
            emit(encode_series(series))
        if buf:
            _write_all(fd, b"".join(buf))

    def _write(self, parts: list[Part]) -> None:
        self._check_writable()
        data = b"".join(parts)
        fd = self._fd
        if fd is None:
            fd = self._open_segment(
                self._next_seg, create=not self._seg_path(self._next_seg).exists()
            )
        elif self._seg_bytes and self._seg_bytes + len(data) > self._segment_size:
            self._close_segment()
            fd = self._open_segment(self._seg + 1, create=True)
        try:
            _write_all(fd, data)
        except OSError as err:
            # Cut off a partial record so later records are not stranded behind it.
            try:
                os.ftruncate(fd, self._seg_bytes)
            except OSError as trunc_err:
                logger.error(
                    "cannot roll back partial wal write: file=%s error=%s",
                    self._seg_path(self._seg),
                    trunc_err,
                )
            raise StorageError(
                f"cannot write wal segment {self._seg_path(self._seg)}: {err}"
            ) from err
        self._seg_bytes += len(data)
        interval = self._fsync.interval_s
        if interval is not None and elapsed_s(self._clock, self._last_fsync_ns) >= interval:
            self._do_fsync(fd)

    def _do_fsync(self, fd: int) -> None:
        try:
            os.fsync(fd)
        except OSError as err:
            raise StorageError(
                f"cannot fsync wal segment {self._seg_path(self._seg)}: {err}"
            ) from err
        self._last_fsync_ns = self._clock.monotonic_ns()

    def _open_segment(self, n: int, *, create: bool) -> int:
        path = self._seg_path(n)
        flags = os.O_WRONLY | os.O_APPEND | (os.O_CREAT | os.O_EXCL if create else 0)
        try:
            fd = os.open(path, flags, 0o644)
            if create:
                _fsync_dir(self._dir)  # the new name must survive a power loss too
        except OSError as err:
            raise StorageError(f"cannot open wal segment {path}: {err}") from err
        self._fd = fd
        self._seg = n
        self._seg_bytes = os.fstat(fd).st_size
        self._next_seg = n + 1
        return fd

    def _close_segment(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        except OSError as err:
            raise StorageError(
                f"cannot fsync wal segment {self._seg_path(self._seg)}: {err}"
            ) from err
        finally:
            os.close(fd)
        self._last_fsync_ns = self._clock.monotonic_ns()

    def _truncate(self, path: Path, offset: int) -> None:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, offset)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _delete_segments(self, numbers: Sequence[int]) -> None:
        for s in numbers:
            path = self._seg_path(s)
            logger.warning(
                "deleting wal segment after corruption: file=%s size_bytes=%d",
                path,
                path.stat().st_size,
            )
            path.unlink()
        if numbers:
            _fsync_dir(self._dir)

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"wal {self._dir} is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if not self._writable:
            raise StorageError(
                f"wal {self._dir} holds data that was not replayed; run replay() to the end "
                "before writing"
            )

    def _scan(self) -> tuple[list[int], list[int]]:
        segments: list[int] = []
        checkpoints: list[int] = []
        for name in os.listdir(self._dir):
            if m := _SEGMENT_RE.match(name):
                segments.append(int(m.group(1)))
            elif m := _CHECKPOINT_RE.match(name):
                checkpoints.append(int(m.group(1)))
        return sorted(segments), sorted(checkpoints)

    def _seg_path(self, n: int) -> Path:
        return self._dir / f"{n:08d}"

    def _cp_path(self, n: int) -> Path:
        return self._dir / f"checkpoint.{n:08d}"


def read_only_replay(directory: str | os.PathLike[str]) -> Iterator[Record]:
    """The records ``WAL.replay`` would yield, without repairing anything on disk.

    For readers of a directory another process may be writing: a torn or corrupt record
    ends the replay there (logged at WARNING), and nothing is truncated or deleted.
    """
    d = Path(directory)
    if not d.is_dir():
        return
    names = os.listdir(d)
    segments = sorted(int(m.group(1)) for n in names if (m := _SEGMENT_RE.match(n)))
    checkpoints = sorted(int(m.group(1)) for n in names if (m := _CHECKPOINT_RE.match(n)))
    try:
        if checkpoints:
            base = checkpoints[-1]
            yield from read_records(d / f"checkpoint.{base:08d}")
            segments = [s for s in segments if s > base]
        for s in segments:
            yield from read_records(d / f"{s:08d}")
    except Fault as fault:
        logger.warning(
            "wal record unreadable, ignoring the rest: dir=%s offset=%d reason=%s",
            d,
            fault.offset,
            fault.reason,
        )


def _write_all(fd: int, data: bytes) -> None:
    # A regular file takes the whole buffer in one write unless the disk fills up; loop
    # anyway so a short write is finished or surfaces as the OSError that caused it.
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
