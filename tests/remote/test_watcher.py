"""The WAL watcher: a read-only tail that follows rotation, checkpoints and damage."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kubeprom.model.labels import Labels
from kubeprom.remote.watcher import Position, WALWatcher
from kubeprom.tsdb.wal import WAL, SamplesRecord, SeriesRecord


def labels(i: int) -> Labels:
    return Labels({"__name__": "m", "i": str(i)}.items())


def write(wal: WAL, t0: int, n: int, refs: int = 5) -> None:
    for k in range(n):
        wal.log_samples(t0 + k, np.arange(refs), np.full(refs, float(t0 + k)))


def samples_t(items: list[tuple[Position, list[object]]]) -> list[int]:
    return [r.t_ms for _, recs in items for r in recs if isinstance(r, SamplesRecord)]


def test_tail_follows_rotation_and_reports_positions(tmp_path: Path) -> None:
    wal = WAL(tmp_path / "wal", segment_size=300)
    wal.log_series([SeriesRecord(i, labels(i)) for i in range(5)])
    watcher = WALWatcher(tmp_path / "wal")
    assert watcher.start(None) == [SeriesRecord(i, labels(i)) for i in range(5)]
    start = watcher.position
    write(wal, 100, 20)
    items = watcher.read()
    assert samples_t(items) == list(range(100, 120))
    assert len(wal.segments) > 3  # the tail crossed segments
    positions = [p for p, _ in items]
    assert positions == sorted(positions)
    assert positions[0] > start
    assert watcher.read() == []  # nothing new
    write(wal, 200, 2)
    assert samples_t(watcher.read()) == [200, 201]
    wal.close()


def test_a_record_being_written_is_not_read_until_complete(tmp_path: Path) -> None:
    wal = WAL(tmp_path / "wal")
    wal.log_series([SeriesRecord(0, labels(0))])
    watcher = WALWatcher(tmp_path / "wal")
    watcher.start(None)
    write(wal, 1, 1, refs=1)
    segment = tmp_path / "wal" / f"{wal.segments[-1]:08d}"
    data = segment.read_bytes()
    whole = len(data)
    wal.close()
    # Cut the last record in half, as a concurrent reader may see it mid-write.
    half = whole - 10
    with open(segment, "r+b") as f:
        f.truncate(half)
    assert watcher.read() == []
    with open(segment, "ab") as f:
        f.write(data[half:])
    assert samples_t(watcher.read()) == [1]


def test_resume_replays_series_only_up_to_the_position(tmp_path: Path) -> None:
    wal = WAL(tmp_path / "wal")
    wal.log_series([SeriesRecord(0, labels(0))])
    write(wal, 10, 3, refs=1)
    first = WALWatcher(tmp_path / "wal")
    first.start(Position(1, 0))
    items = first.read()
    mid = items[1][0]  # after the series record and the first samples record
    wal.log_series([SeriesRecord(1, labels(1))])
    write(wal, 20, 1, refs=2)
    again = WALWatcher(tmp_path / "wal")
    assert again.start(mid) == [SeriesRecord(0, labels(0))]  # series 1 comes later
    rest = again.read()
    assert samples_t(rest) == [11, 12, 20]
    assert [r for _, recs in rest for r in recs if isinstance(r, SeriesRecord)] == [
        SeriesRecord(1, labels(1))
    ]
    wal.close()


def test_resume_in_a_deleted_segment_moves_on_and_counts_it(tmp_path: Path) -> None:
    wal = WAL(tmp_path / "wal", segment_size=200)
    wal.log_series([SeriesRecord(i, labels(i)) for i in range(5)])
    write(wal, 0, 10)
    segments = wal.segments
    wal.write_checkpoint([SeriesRecord(i, labels(i)) for i in range(5)])
    write(wal, 100, 2)
    watcher = WALWatcher(tmp_path / "wal")
    series = watcher.start(Position(segments[1], 0))
    assert len(series) == 5  # from the checkpoint
    assert watcher.stats.segments_lost == segments[-1] + 1 - segments[1]
    assert samples_t(watcher.read()) == [100, 101]
    wal.close()


def test_a_corrupt_record_in_a_finished_segment_is_skipped(tmp_path: Path) -> None:
    wal = WAL(tmp_path / "wal", segment_size=250)
    wal.log_series([SeriesRecord(i, labels(i)) for i in range(5)])
    watcher = WALWatcher(tmp_path / "wal")
    watcher.start(None)
    write(wal, 0, 8)
    # The first segment holds the series; the second the first two samples records.
    second = tmp_path / "wal" / f"{wal.segments[1]:08d}"
    raw = bytearray(second.read_bytes())
    raw[-5] ^= 0xFF  # flip a byte in the last record of a finished segment
    second.write_bytes(bytes(raw))
    assert samples_t(watcher.read()) == [0, 2, 3, 4, 5, 6, 7]  # that record is skipped
    assert watcher.stats.corruptions == 1
    wal.close()
