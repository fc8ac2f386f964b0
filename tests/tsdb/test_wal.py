from __future__ import annotations

import logging
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom.clock import VirtualClock
from kubeprom.errors import StorageError
from kubeprom.model.labels import Labels
from kubeprom.model.samples import STALE_NAN_BITS
from kubeprom.tsdb.wal import (
    WAL,
    FsyncPolicy,
    MetadataRecord,
    MultiSamplesRecord,
    Record,
    SamplesRecord,
    SeriesRecord,
)

LOGGER = "kubeprom.tsdb.wal"


def f64(*bits: int) -> np.ndarray:
    return np.array(bits, dtype=np.uint64).view(np.float64)


# Bit patterns that a float round trip through Python would lose or merge.
ODD_VALUES = f64(
    STALE_NAN_BITS,  # Prometheus StaleNaN
    0x7FF8000000000001,  # quiet NaN, payload 1
    0xFFF0000000000BAD,  # negative signalling NaN with payload
    0x8000000000000000,  # -0.0
    0x7FF0000000000000,  # +inf
    0x0000000000000001,  # smallest subnormal
)


def i64(*xs: int) -> np.ndarray:
    return np.array(xs, dtype=np.int64)


def sample_records() -> list[Record]:
    return [
        SeriesRecord(1, Labels((("__name__", "up"), ("job", "node")))),
        SeriesRecord(2, Labels((("__name__", "température"), ("zone", "Zürich 🌡")))),
        SeriesRecord(3, Labels(())),
        SamplesRecord(1_700_000_000_000, i64(1, 2, 3, 4, 5, 6), ODD_VALUES),
        SamplesRecord(-5, i64(2**40, -1), np.array([1.5, -2.5])),  # int64 refs column
        MultiSamplesRecord(i64(1, 1, 2), i64(10, 20, -(2**62)), np.array([0.0, -0.0, np.inf])),
        MultiSamplesRecord(i64(2**33), i64(7), f64(STALE_NAN_BITS)),
        MetadataRecord((("up", "gauge", "whether the target is up", ""), ("x", "", "", "s"))),
    ]


def write(w: WAL, records: list[Record]) -> None:
    """Log records one call each, consecutive series records batched as the head would."""
    for rec in records:
        if isinstance(rec, SeriesRecord):
            w.log_series([rec])
        elif isinstance(rec, SamplesRecord):
            w.log_samples(rec.t_ms, rec.refs, rec.values)
        elif isinstance(rec, MultiSamplesRecord):
            w.log_multi_samples(rec.refs, rec.t, rec.values)
        else:
            w.log_metadata(rec.entries)


def replay_all(d: Path) -> list[Record]:
    w = WAL(d)
    try:
        return list(w.replay())
    finally:
        w.close()


def samples(t_ms: int, n: int = 3) -> SamplesRecord:
    return SamplesRecord(t_ms, np.arange(n, dtype=np.int64), np.full(n, float(t_ms)))


def warnings_about(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == level]


# --- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "zstd"])
def test_round_trip_every_record_kind_bit_exact(tmp_path: Path, compress: bool) -> None:
    big = SamplesRecord(
        9, np.arange(5000, dtype=np.int64), np.repeat(ODD_VALUES, 5000 // 6 + 1)[:5000]
    )
    records = [*sample_records(), big]
    with WAL(tmp_path, compress=compress) as w:
        write(w, records)
    got = replay_all(tmp_path)
    assert got == records
    assert isinstance(got[3], SamplesRecord)
    assert got[3].values.view(np.uint64).tolist() == ODD_VALUES.view(np.uint64).tolist()
    assert all(r.refs.dtype == np.int64 for r in got if isinstance(r, SamplesRecord))


def test_compression_shrinks_compressible_samples(tmp_path: Path) -> None:
    refs = np.arange(10_000, dtype=np.int64)
    with WAL(tmp_path / "plain") as w:
        w.log_samples(1, refs, np.zeros(10_000))
        plain = w.size_bytes
    with WAL(tmp_path / "zstd", compress=True) as w:
        w.log_samples(1, refs, np.zeros(10_000))
        packed = w.size_bytes
    assert plain == 9 + 16 + 10_000 * 12
    assert packed < plain // 10


@pytest.mark.parametrize(
    "refs",
    [
        np.array([2**63 - 1, -(2**63), 0, -1, 2**62] * 200, dtype=np.int64),
        np.array([2**32 - 1, 0, 5, 2**31] * 250, dtype=np.int64),
    ],
    ids=["int64-wrapping-deltas", "uint32-wrapping-deltas"],
)
def test_compressed_ref_deltas_wrap_exactly(tmp_path: Path, refs: np.ndarray) -> None:
    values = np.repeat(ODD_VALUES, refs.size // 6 + 1)[: refs.size]
    with WAL(tmp_path, compress=True) as w:
        w.log_samples(1, refs, values)
        w.log_multi_samples(refs, refs, values)
        assert w.size_bytes < 2 * refs.size * 12  # compression actually happened
    assert replay_all(tmp_path) == [
        SamplesRecord(1, refs, values),
        MultiSamplesRecord(refs, refs, values),
    ]


def test_log_batch_writes_series_then_samples_in_one_os_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = WAL(tmp_path)
    w.log_samples(1, i64(0), np.array([0.0]))  # open the segment outside the count
    calls: list[int] = []
    real_write = os.write

    def counting_write(fd: int, data: bytes) -> int:
        calls.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", counting_write)
    series = [SeriesRecord(7, Labels((("a", "b"),))), SeriesRecord(8, Labels((("a", "c"),)))]
    w.log_batch(series, 2, i64(7, 8), np.array([1.0, 2.0]))
    monkeypatch.undo()
    w.close()
    assert len(calls) == 1
    assert replay_all(tmp_path)[1:] == [*series, SamplesRecord(2, i64(7, 8), np.array([1.0, 2.0]))]


def test_empty_batches_write_nothing(tmp_path: Path) -> None:
    with WAL(tmp_path) as w:
        w.log_samples(1, i64(), np.array([]))
        w.log_series([])
        w.log_metadata([])
        w.log_multi_samples(i64(), i64(), np.array([]))
        w.log_batch([], 1, i64(), np.array([]))
        assert w.segments == []
        assert w.size_bytes == 0


@pytest.mark.parametrize(
    ("refs", "values", "match"),
    [
        (i64(1, 2), np.array([1.0]), r"got values of shape \(1,\) for 2 refs"),
        (np.zeros((2, 2), dtype=np.int64), np.zeros(4), "refs must be one-dimensional"),
    ],
    ids=["length-mismatch", "2d-refs"],
)
def test_log_samples_rejects_bad_shapes(
    tmp_path: Path, refs: np.ndarray, values: np.ndarray, match: str
) -> None:
    with WAL(tmp_path) as w, pytest.raises(ValueError, match=match):
        w.log_samples(1, refs, values)


label_text = st.text(max_size=12)
series_st = st.builds(
    SeriesRecord,
    st.integers(-(2**63), 2**63 - 1),
    st.dictionaries(label_text, label_text, max_size=4).map(lambda d: Labels(d.items())),
)


@st.composite
def samples_st(draw: st.DrawFn) -> SamplesRecord:
    n = draw(st.integers(1, 40))
    refs = draw(
        st.lists(
            st.integers(-(2**63), 2**63 - 1) | st.integers(0, 2**32 - 1), min_size=n, max_size=n
        )
    )
    bits = draw(st.lists(st.integers(0, 2**64 - 1), min_size=n, max_size=n))
    return SamplesRecord(draw(st.integers(-(2**63), 2**63 - 1)), i64(*refs), f64(*bits))


@st.composite
def multi_st(draw: st.DrawFn) -> MultiSamplesRecord:
    s = draw(samples_st())
    t = draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=s.refs.size, max_size=s.refs.size))
    return MultiSamplesRecord(s.refs, i64(*t), s.values)


metadata_st = st.builds(
    MetadataRecord,
    st.lists(st.tuples(label_text, label_text, label_text, label_text), min_size=1, max_size=3).map(
        tuple
    ),
)


@settings(max_examples=60, deadline=None)
@given(
    records=st.lists(series_st | samples_st() | multi_st() | metadata_st, max_size=12),
    segment_size=st.sampled_from([64, 512, 1 << 20]),
)
def test_replay_returns_what_was_logged(records: list[Record], segment_size: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        with WAL(d, segment_size=segment_size) as w:
            write(w, records)
        assert replay_all(Path(d)) == records


# --- segments ---------------------------------------------------------------------------


def test_segments_rotate_and_replay_in_order(tmp_path: Path) -> None:
    records: list[Record] = [samples(t) for t in range(40)]
    with WAL(tmp_path, segment_size=200) as w:
        write(w, records)
        segments = w.segments
    record_bytes = 9 + 16 + 3 * 12
    assert segments == list(range(1, len(segments) + 1))
    assert len(segments) == -(-40 // (200 // record_bytes))  # ceil: 3 records a segment
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"{n:08d}" for n in segments]
    assert all((tmp_path / n).stat().st_size <= 200 for n in names)
    assert replay_all(tmp_path) == records


def test_record_larger_than_segment_size_gets_its_own_segment(tmp_path: Path) -> None:
    with WAL(tmp_path, segment_size=100) as w:
        write(w, [samples(1, 1), samples(2, 50), samples(3, 1)])
        assert w.segments == [1, 2, 3]
    assert [r.t_ms for r in replay_all(tmp_path)] == [1, 2, 3]  # type: ignore[union-attr]


def test_writing_to_a_used_dir_needs_a_full_replay(tmp_path: Path) -> None:
    with WAL(tmp_path) as w:
        w.log_samples(1, i64(1), np.array([1.0]))
    w = WAL(tmp_path)
    with pytest.raises(StorageError, match="run replay"):
        w.log_samples(2, i64(1), np.array([1.0]))
    it = w.replay()
    next(it)  # a replay that stopped early does not count
    with pytest.raises(StorageError, match="run replay"):
        w.write_checkpoint([])
    assert list(w.replay()) == [SamplesRecord(1, i64(1), np.array([1.0]))]
    w.log_samples(2, i64(1), np.array([2.0]))
    w.close()
    assert [r.t_ms for r in replay_all(tmp_path)] == [1, 2]  # type: ignore[union-attr]


def test_writes_after_replay_go_to_a_new_segment(tmp_path: Path) -> None:
    with WAL(tmp_path) as w:
        write(w, [samples(1)])
    w = WAL(tmp_path)
    assert list(w.replay()) == [samples(1)]
    w.log_samples(2, i64(0, 1, 2), np.full(3, 2.0))
    assert w.segments == [1, 2]
    assert list(w.replay()) == [samples(1), samples(2)]  # replay closes the writer ...
    w.log_samples(3, i64(0, 1, 2), np.full(3, 3.0))
    assert w.segments == [1, 2, 3]  # ... so the next write starts segment 3
    w.close()
    assert replay_all(tmp_path) == [samples(1), samples(2), samples(3)]


def test_an_empty_last_segment_is_reused(tmp_path: Path) -> None:
    with WAL(tmp_path) as w:
        write(w, [samples(1)])
    (tmp_path / "00000002").touch()
    w = WAL(tmp_path)
    list(w.replay())
    w.log_samples(2, i64(0, 1, 2), np.full(3, 2.0))
    assert w.segments == [1, 2]
    w.close()
    assert replay_all(tmp_path) == [samples(1), samples(2)]


def test_close_is_idempotent_and_final(tmp_path: Path) -> None:
    w = WAL(tmp_path)
    w.log_samples(1, i64(1), np.array([1.0]))
    w.close()
    w.close()
    with pytest.raises(StorageError, match="closed"):
        w.log_samples(2, i64(1), np.array([1.0]))


async def test_fsync_interval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = VirtualClock(100_000)
    w = WAL(tmp_path, fsync=FsyncPolicy(interval_s=5.0), clock=clock)
    fsyncs: list[int] = []
    monkeypatch.setattr(os, "fsync", fsyncs.append)
    w.log_samples(1, i64(1), np.array([1.0]))  # creating the segment fsyncs the dir only
    fsyncs.clear()
    await clock.advance_ms(4_000)
    w.log_samples(2, i64(1), np.array([1.0]))
    assert fsyncs == []
    await clock.advance_ms(1_000)
    w.log_samples(3, i64(1), np.array([1.0]))
    assert len(fsyncs) == 1
    w.log_samples(4, i64(1), np.array([1.0]))
    assert len(fsyncs) == 1  # the clock restarted at the last fsync
    w.sync()
    w.close()
    assert len(fsyncs) == 3


def test_fsync_policy_rejects_negative_interval() -> None:
    with pytest.raises(ValueError, match="interval_s must be >= 0"):
        FsyncPolicy(interval_s=-1.0)


# --- recovery ---------------------------------------------------------------------------


def test_torn_tail_is_truncated_at_every_offset(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good: list[Record] = [SeriesRecord(1, Labels((("job", "a"),))), samples(1), samples(2)]
    last = MultiSamplesRecord(i64(1, 2), i64(3, 4), np.array([5.0, 6.0]))
    src = tmp_path / "src"
    with WAL(src) as w:
        write(w, good)
        start = (src / "00000001").stat().st_size
        write(w, [last])
        end = (src / "00000001").stat().st_size
    for cut in range(start + 1, end):
        d = tmp_path / f"cut{cut}"
        shutil.copytree(src, d)
        seg = d / "00000001"
        os.truncate(seg, cut)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            w = WAL(d)
            assert list(w.replay()) == good, cut
        msgs = warnings_about(caplog, logging.WARNING)
        assert len(msgs) == 1, msgs
        assert f"file={seg}" in msgs[0]
        assert f"offset={start}" in msgs[0]
        assert "torn record" in msgs[0]
        assert seg.stat().st_size == start
        w.log_samples(9, i64(0, 1, 2), np.full(3, 9.0))
        w.close()
        assert replay_all(d) == [*good, samples(9)]


def test_zero_filled_tail_reads_as_corruption(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with WAL(tmp_path) as w:
        write(w, [samples(1)])
    seg = tmp_path / "00000001"
    size = seg.stat().st_size
    with open(seg, "ab") as f:
        f.write(bytes(4096))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert replay_all(tmp_path) == [samples(1)]
    assert "unknown record type 0x00" in warnings_about(caplog, logging.WARNING)[0]
    assert seg.stat().st_size == size


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def test_flipped_byte_in_last_segment_keeps_records_before_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records: list[Record] = [samples(t) for t in range(5)]
    with WAL(tmp_path) as w:
        write(w, records)
    seg = tmp_path / "00000001"
    size = 9 + 16 + 3 * 12
    flip_byte(seg, 2 * size + 30)  # inside the values of the third record
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert replay_all(tmp_path) == records[:2]
    (msg,) = warnings_about(caplog, logging.WARNING)
    assert f"file={seg} offset={2 * size}" in msg
    assert "checksum mismatch" in msg
    assert seg.stat().st_size == 2 * size


def test_flipped_byte_in_an_earlier_segment_drops_later_segments(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records: list[Record] = [samples(t) for t in range(12)]
    with WAL(tmp_path, segment_size=200) as w:  # three records per segment
        write(w, records)
        assert w.segments == [1, 2, 3, 4]
    size = 9 + 16 + 3 * 12
    seg2 = tmp_path / "00000002"
    flip_byte(seg2, size + 5)  # the checksum of segment 2's second record
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert replay_all(tmp_path) == records[:4]
    msgs = warnings_about(caplog, logging.WARNING)
    assert f"file={seg2} offset={size}" in msgs[0]
    assert "later_segments_deleted=2" in msgs[0]
    assert [m for m in msgs if "deleting wal segment" in m] == [
        f"deleting wal segment after corruption: file={tmp_path / n} size_bytes={3 * size}"
        for n in ("00000003", "00000004")
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00000001", "00000002"]
    assert seg2.stat().st_size == size


def test_record_with_valid_checksum_but_bad_payload_is_truncated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with WAL(tmp_path) as w:
        write(w, [samples(1)])
    seg = tmp_path / "00000001"
    size = seg.stat().st_size
    payload = b"\x01\x02\x03"
    crc = zlib.crc32(payload, zlib.crc32(bytes([2])))
    with open(seg, "ab") as f:
        f.write(struct.pack("<BII", 2, len(payload), crc) + payload)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert replay_all(tmp_path) == [samples(1)]
    assert "malformed samples payload" in warnings_about(caplog, logging.WARNING)[0]
    assert seg.stat().st_size == size


def test_gap_in_segment_numbers_drops_segments_after_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with WAL(tmp_path, segment_size=100) as w:
        write(w, [samples(t) for t in range(4)])
    (tmp_path / "00000002").unlink()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert replay_all(tmp_path) == [samples(0)]
    assert "wal segment gap" in warnings_about(caplog, logging.WARNING)[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00000001"]


# --- checkpoints ------------------------------------------------------------------------


def test_checkpoint_replaces_old_segments(tmp_path: Path) -> None:
    with WAL(tmp_path, segment_size=200) as w:
        write(w, [samples(t) for t in range(7)])
        assert w.segments == [1, 2, 3]
        head: list[Record] = [
            SeriesRecord(1, Labels((("a", "1"),))),
            SeriesRecord(2, Labels((("a", "2"),))),
            MultiSamplesRecord(i64(1, 2), i64(5, 6), f64(STALE_NAN_BITS, 0x8000000000000000)),
            MetadataRecord((("m", "counter", "", ""),)),
        ]
        w.write_checkpoint(head)
        assert w.segments == [4]
        write(w, [samples(10), samples(11)])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["00000004", "checkpoint.00000003"]
    assert replay_all(tmp_path) == [*head, samples(10), samples(11)]

    w = WAL(tmp_path)
    list(w.replay())
    w.write_checkpoint([samples(99)])
    w.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00000005", "checkpoint.00000004"]
    assert replay_all(tmp_path) == [samples(99)]


def test_checkpoint_splits_large_sample_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kubeprom.tsdb.wal._CHECKPOINT_SAMPLES_PER_FRAME", 2)
    refs, t, v = i64(1, 2, 3, 4, 5), i64(10, 11, 12, 13, 14), ODD_VALUES[:5]
    with WAL(tmp_path) as w:
        w.write_checkpoint([MultiSamplesRecord(refs, t, v), SamplesRecord(7, refs[:3], v[:3])])
    assert replay_all(tmp_path) == [
        MultiSamplesRecord(refs[:2], t[:2], v[:2]),
        MultiSamplesRecord(refs[2:4], t[2:4], v[2:4]),
        MultiSamplesRecord(refs[4:], t[4:], v[4:]),
        SamplesRecord(7, refs[:2], v[:2]),
        SamplesRecord(7, refs[2:3], v[2:3]),
    ]


def test_failed_checkpoint_leaves_no_file(tmp_path: Path) -> None:
    def broken() -> Iterator[Record]:
        yield samples(1)
        raise RuntimeError("head went away")

    with WAL(tmp_path) as w:
        write(w, [samples(1)])
        with pytest.raises(RuntimeError, match="head went away"):
            w.write_checkpoint(broken())
        write(w, [samples(2)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00000001", "00000002"]
    assert replay_all(tmp_path) == [samples(1), samples(2)]


def test_corrupt_checkpoint_is_skipped_with_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with WAL(tmp_path) as w:
        write(w, [samples(1)])
        w.write_checkpoint([SeriesRecord(1, Labels((("a", "b"),))), samples(1)])
        write(w, [samples(2)])
    cp = tmp_path / "checkpoint.00000001"
    flip_byte(cp, cp.stat().st_size - 1)  # the last record: nothing of it may be yielded
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        w = WAL(tmp_path)
        assert list(w.replay()) == [samples(2)]
    errors = warnings_about(caplog, logging.ERROR)
    assert f"wal checkpoint corrupt, skipping it: file={cp}" in errors[0]
    assert "no usable wal checkpoint" in errors[1]
    w.log_samples(3, i64(0, 1, 2), np.full(3, 3.0))
    assert w.segments == [2, 3]
    w.close()
    assert replay_all(tmp_path) == [samples(2), samples(3)]


def test_corrupt_checkpoint_falls_back_to_an_older_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with WAL(tmp_path) as w:
        write(w, [samples(1)])
        w.write_checkpoint([samples(1)])  # checkpoint.00000001, segment 2
        write(w, [samples(2)])
    # A crash after renaming the next checkpoint but before deleting what it replaced.
    keep = tmp_path / "keep"
    keep.mkdir()
    shutil.copy(tmp_path / "checkpoint.00000001", keep)
    shutil.copy(tmp_path / "00000002", keep)
    w = WAL(tmp_path)
    list(w.replay())
    w.write_checkpoint([samples(1), samples(2)])  # checkpoint.00000002, segment 3
    w.close()
    for f in keep.iterdir():
        shutil.copy(f, tmp_path)
    shutil.rmtree(keep)
    flip_byte(tmp_path / "checkpoint.00000002", 3)
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        assert replay_all(tmp_path) == [samples(1), samples(2)]
    (error,) = warnings_about(caplog, logging.ERROR)
    assert "checkpoint.00000002" in error


# --- crash ------------------------------------------------------------------------------

CHILD = """
import sys
import numpy as np
from kubeprom.tsdb.wal import WAL
w = WAL(sys.argv[1], segment_size=4096)
for t in range(1_000_000):
    w.log_samples(t, np.arange(3, dtype=np.int64), np.full(3, float(t)))
    print(t, flush=True)
"""


@pytest.mark.slow
def test_sigkill_loses_nothing_acknowledged(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            acked = int(line)
            if acked >= 300:
                break
        child.send_signal(signal.SIGKILL)
        child.wait()
    got = replay_all(tmp_path)
    assert len(got) >= acked + 1
    assert got == [samples(t) for t in range(len(got))]
