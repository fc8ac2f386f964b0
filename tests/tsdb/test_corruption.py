"""Damaged data directories: the store opens, says what is wrong, and serves everything else."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from kubeprom.errors import CorruptionError
from kubeprom.model import Labels, Matcher, MatchType
from kubeprom.tsdb import DB, MAX_TIME, MIN_TIME, BulkImporter, Options
from kubeprom.tsdb.block import Block, write_block

OPTS = Options(retention_ms=None, block_range_ms=1000)
SERIES = [Labels.from_dict({"__name__": "m", "i": str(i)}) for i in range(3)]
ALL = [Matcher(MatchType.EQUAL, "__name__", "m")]
BLOCK_MS = 1000
TIMES = np.arange(0, 2 * BLOCK_MS, 100, dtype=np.int64)  # 10 samples in each of two blocks


def value(t: np.ndarray, i: int) -> np.ndarray:
    return t * 10.0 + i


def make_two_blocks(data: Path) -> dict[str, Path]:
    """Blocks [0, 1000) ("older") and [1000, 2000) ("newer") holding SERIES at TIMES."""
    imp = BulkImporter(data, block_range_ms=BLOCK_MS)
    for i, s in enumerate(SERIES):
        imp.add(np.full(len(TIMES), imp.series_id(s)), TIMES, value(TIMES, i))
    older, newer = imp.finish()
    return {"older": older, "newer": newer}


RANGES = {"older": (0, BLOCK_MS - 1), "newer": (BLOCK_MS, 2 * BLOCK_MS - 1)}
OTHER = {"older": "newer", "newer": "older"}


def assert_serves(db: DB, mint: int, maxt: int) -> None:
    """The query returns exactly the imported samples in [mint, maxt]."""
    got = db.querier().select(ALL, mint, maxt)
    assert got.labels == SERIES
    t = TIMES
    want_t = t[(t >= mint) & (t <= maxt)]
    for i, s in enumerate(got):
        assert s.t.tolist() == want_t.tolist()
        assert s.v.tolist() == value(want_t, i).tolist()


def messages(caplog: pytest.LogCaptureFixture, logger: str, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelno == level]


# ---- (a) torn WAL tail -----------------------------------------------------------------------
@pytest.mark.parametrize("cut", ["1-byte", "5-bytes", "all-but-1-byte-of-the-record"])
def test_torn_wal_tail_loses_only_the_last_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, cut: str
) -> None:
    data = tmp_path / "data"
    db = DB.open(data, Options(retention_ms=None))
    sizes = []
    for k in range(1, 11):
        app = db.appender()
        refs = np.array([app.ref(s) for s in SERIES])
        app.append(k * 1000, refs, np.array([k + 0.5, -k, k * 1e9]))
        app.commit()
        segments = sorted((data / "wal").glob("0*"))
        sizes.append(segments[-1].stat().st_size)
    db.close()
    assert len(segments) == 1
    last_record = sizes[-1] - sizes[-2]
    n_cut = {"1-byte": 1, "5-bytes": 5, "all-but-1-byte-of-the-record": last_record - 1}[cut]
    with open(segments[-1], "r+b") as f:
        f.truncate(sizes[-1] - n_cut)

    caplog.set_level(logging.WARNING)
    db = DB.open(data, Options(retention_ms=None))
    try:
        (warning,) = messages(caplog, "kubeprom.tsdb.wal", logging.WARNING)
        assert "wal segment corrupt, truncating" in warning
        assert str(segments[-1]) in warning
        assert f"offset={sizes[-2]}" in warning
        got = db.querier().select(ALL, MIN_TIME, MAX_TIME)
        assert got.labels == SERIES
        assert [s.t.tolist() for s in got] == [[k * 1000 for k in range(1, 10)]] * 3
        assert got.v.tolist()[:9] == [k + 0.5 for k in range(1, 10)]
        # The repaired log takes new records, and they replay.
        app = db.appender()
        refs = np.array([app.ref(s) for s in SERIES])
        assert app.append(10_000, refs, np.array([1.0, 2.0, 3.0])).appended == 3
        app.commit()
    finally:
        db.close()
    caplog.clear()
    db = DB.open(data, Options(retention_ms=None))
    try:
        assert messages(caplog, "kubeprom.tsdb.wal", logging.WARNING) == []
        got = db.querier().select(ALL, 10_000, 10_000)
        assert got.v.tolist() == [1.0, 2.0, 3.0]
        assert db.querier().select(ALL, MIN_TIME, MAX_TIME).num_samples == 30
    finally:
        db.close()


# ---- (b) flipped byte in a chunk file ---------------------------------------------------------
@pytest.mark.parametrize("where", ["header", "payload"])
@pytest.mark.parametrize("bad", ["older", "newer"])
def test_flipped_chunk_byte_fails_the_first_query_then_is_quarantined(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, bad: str, where: str
) -> None:
    data = tmp_path / "data"
    blocks = make_two_blocks(data)
    meta = json.loads((blocks[bad] / "meta.json").read_bytes())
    assert meta["stats"]["numFrames"] == 1  # so the flipped byte is inside the first frame
    chunk_file = blocks[bad] / "chunks" / "000001"
    raw = bytearray(chunk_file.read_bytes())
    pos = 10 if where == "header" else len(raw) // 2
    raw[pos] ^= 0x40
    chunk_file.write_bytes(bytes(raw))

    caplog.set_level(logging.ERROR)
    db = DB.open(data, OPTS)
    try:
        assert db.corrupt_blocks == {}  # chunk contents are checked when read
        with pytest.raises(CorruptionError, match=re.escape(str(chunk_file))) as err:
            db.querier().select(ALL, *RANGES[bad])
        assert err.value.path == str(chunk_file)
        assert re.fullmatch(r"frame 0 \(series 0 to 2\): .*checksum mismatch", err.value.message)
        (logged,) = messages(caplog, "kubeprom.tsdb.block", logging.ERROR)
        assert logged.startswith(f"corrupt chunk frame quarantined block={blocks[bad]} ")
        # From now on the frame is left out, with a warning saying so.
        got = db.querier().select(ALL, MIN_TIME, MAX_TIME)
        assert got.warnings == [f"{err.value}; its samples are left out (quarantined)"]
        assert_serves(db, *RANGES[OTHER[bad]])
        assert db.querier().select(ALL, *RANGES[bad]).labels == []
    finally:
        db.close()


def test_a_quarantined_frame_leaves_the_rest_of_its_block_served(tmp_path: Path) -> None:
    data = tmp_path / "data"
    series = [Labels.from_dict({"__name__": "m", "i": str(i)}) for i in range(4)]
    t = np.tile(TIMES[:10], 4)
    offsets = np.arange(0, 41, 10, dtype=np.int64)
    path = write_block(
        data,
        series,
        t,
        t.astype(np.float64),
        offsets,
        min_time=0,
        max_time=BLOCK_MS,
        frame_samples=10,
    )
    block = Block.open(path)
    frame_off = block._frame_off.copy()
    block.close()
    chunk_file = path / "chunks" / "000001"
    raw = bytearray(chunk_file.read_bytes())
    raw[(int(frame_off[1]) + int(frame_off[2])) // 2] ^= 0x01  # inside frame 1: series 1
    chunk_file.write_bytes(bytes(raw))
    db = DB.open(data, OPTS)
    try:
        one = [Matcher(MatchType.EQUAL, "i", "0")]
        assert [s.labels for s in db.querier().select(one, MIN_TIME, MAX_TIME)] == series[:1]
        with pytest.raises(CorruptionError, match=r"frame 1 \(series 1 to 1\)"):
            db.querier().select(ALL, MIN_TIME, MAX_TIME)
        got = db.querier().select(ALL, MIN_TIME, MAX_TIME)
        assert got.labels == [series[0], series[2], series[3]]
        assert np.diff(got.offsets).tolist() == [10, 10, 10]
        assert len(got.warnings) == 1
        assert db.querier().select(one, MIN_TIME, MAX_TIME).warnings == []
    finally:
        db.close()


# ---- (c) missing block file ---------------------------------------------------------------
@pytest.mark.parametrize("missing", ["index", "chunks/000001", "meta.json"])
@pytest.mark.parametrize("bad", ["older", "newer"])
def test_block_missing_a_file_is_skipped_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, bad: str, missing: str
) -> None:
    data = tmp_path / "data"
    blocks = make_two_blocks(data)
    (blocks[bad] / missing).unlink()

    caplog.set_level(logging.ERROR)
    db = DB.open(data, OPTS)
    try:
        (error,) = messages(caplog, "kubeprom.tsdb.db", logging.ERROR)
        assert f"dir={blocks[bad]} " in error
        assert list(db.corrupt_blocks) == [blocks[bad].name]
        assert str(blocks[bad] / missing) in db.corrupt_blocks[blocks[bad].name]
        assert [b.path for b in db.blocks] == [blocks[OTHER[bad]]]
        assert_serves(db, *RANGES[OTHER[bad]])
        assert db.querier().select(ALL, *RANGES[bad]).labels == []
        assert blocks[bad].is_dir()  # kept on disk for inspection
    finally:
        db.close()


# ---- (d) leftover *.tmp block dir -------------------------------------------------------------
@pytest.mark.parametrize("state", ["empty", "chunks-only", "complete-but-not-renamed"])
def test_tmp_block_dir_from_a_crash_is_removed_on_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, state: str
) -> None:
    data = tmp_path / "data"
    blocks = make_two_blocks(data)
    tmp = data / f"{blocks['newer'].name}.tmp"
    if state == "complete-but-not-renamed":
        blocks["newer"].rename(tmp)
    else:
        shutil.rmtree(blocks["newer"])
        tmp.mkdir()
        if state == "chunks-only":
            (tmp / "chunks").mkdir()
            (tmp / "chunks" / "000001").write_bytes(b"\x00" * 100)

    caplog.set_level(logging.WARNING)
    db = DB.open(data, OPTS)
    try:
        assert not tmp.exists()
        warnings = messages(caplog, "kubeprom.tsdb.db", logging.WARNING)
        assert warnings == [f"removing incomplete block dir={tmp}"]
        assert [b.path for b in db.blocks] == [blocks["older"]]
        assert db.corrupt_blocks == {}
        assert_serves(db, MIN_TIME, BLOCK_MS - 1)
        assert db.querier().select(ALL, *RANGES["newer"]).labels == []
    finally:
        db.close()


# ---- (e) garbage meta.json --------------------------------------------------------------------
@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"",
        b"\xff\xfe\x00",
        b"[]",
        b"null",
        b'{"ulid": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}',
        b'{"ulid": "x", "minTime": "soon", "maxTime": 1000,'
        b' "stats": {"numSamples": 1, "numSeries": 1, "numFrames": 1}}',
        b'{"ulid": "x", "minTime": 0, "maxTime": 1000, "stats": []}',
    ],
    ids=[
        "truncated-json",
        "empty",
        "not-utf8",
        "list",
        "null",
        "missing-fields",
        "time-not-a-number",
        "stats-not-an-object",
    ],
)
def test_garbage_meta_json_is_a_corruption_error_naming_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    data = tmp_path / "data"
    blocks = make_two_blocks(data)
    meta_path = blocks["older"] / "meta.json"
    meta_path.write_bytes(content)

    with pytest.raises(CorruptionError, match=rf"^{re.escape(str(meta_path))}: ") as err:
        Block.open(blocks["older"])
    assert err.value.path == str(meta_path)

    caplog.set_level(logging.ERROR)
    db = DB.open(data, OPTS)
    try:
        assert db.corrupt_blocks == {blocks["older"].name: str(err.value)}
        assert str(blocks["older"]) in messages(caplog, "kubeprom.tsdb.db", logging.ERROR)[0]
        assert_serves(db, *RANGES["newer"])
    finally:
        db.close()


# ---- (f) meta.json that disagrees with the index (issue 11) -----------------------------------
def rewrite_meta(block: Path, **changes: object) -> None:
    meta = json.loads((block / "meta.json").read_bytes())
    for key, value in changes.items():
        if key in ("numSeries", "numSamples", "numFrames"):
            meta["stats"][key] = value
        else:
            meta[key] = value
    (block / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("field", "value"),
    [("numSeries", 1e9), ("numSeries", 10**15), ("numFrames", 1e9), ("numSeries", 0)],
    ids=["series-1e9", "series-10^15", "frames-1e9", "series-0"],
)
def test_meta_counts_are_taken_from_the_index_not_from_meta_json(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, field: str, value: object
) -> None:
    """meta.json has no checksum: a count in it sizes nothing, the index's counts win."""
    data = tmp_path / "data"
    blocks = make_two_blocks(data)
    rewrite_meta(blocks["older"], **{field: value})
    caplog.set_level(logging.WARNING)
    db = DB.open(data, OPTS)
    try:
        assert db.corrupt_blocks == {}
        (older,) = [b for b in db.blocks if b.path == blocks["older"]]
        assert (older.meta.num_series, older.meta.num_frames) == (3, 1)
        (warning,) = messages(caplog, "kubeprom.tsdb.blockmeta", logging.WARNING)
        assert "meta.json counts disagree with the index" in warning
        assert_serves(db, MIN_TIME, MAX_TIME)
    finally:
        db.close()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"minTime": 1000, "maxTime": 1000}, "time range [1000, 1000) is empty"),
        ({"minTime": 2000, "maxTime": 1000}, "time range [2000, 1000) is empty"),
        ({"maxTime": 2**63}, "outside int64"),
        ({"minTime": 500}, "samples from 0 to 900 lie outside the block's range [500, 1000)"),
        ({"maxTime": 1e400}, "invalid meta.json: cannot convert float infinity to integer"),
        ({"numSamples": -1}, "numSamples -1 < 0"),
    ],
    ids=["empty-range", "inverted-range", "beyond-int64", "samples-outside", "inf", "negative"],
)
def test_meta_json_that_cannot_hold_the_block_is_corruption(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    data = tmp_path / "data"
    blocks = make_two_blocks(data)
    rewrite_meta(blocks["older"], **changes)
    meta_path = blocks["older"] / "meta.json"
    with pytest.raises(CorruptionError, match=re.escape(message)) as err:
        Block.open(blocks["older"])
    assert err.value.path == str(meta_path)
    db = DB.open(data, OPTS)
    try:
        assert list(db.corrupt_blocks) == [blocks["older"].name]
        assert_serves(db, *RANGES["newer"])
    finally:
        db.close()


# ---- (g) a corrupt checkpoint whose series later records name (issue 11) ----------------------
def test_corrupt_checkpoint_with_segments_naming_its_series_opens(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Segments after a lost checkpoint append to series only the checkpoint defined and
    create series past the gap. The store opens, keeps what it can (a series past the gap
    keeps its ref: refs may have gaps, as garbage collection leaves them), and rewrites the
    WAL so the next open agrees."""
    data = tmp_path / "data"
    db = DB.open(data, Options(retention_ms=None, block_range_ms=BLOCK_MS))
    old = [Labels.from_dict({"__name__": "old", "i": str(i)}) for i in range(3)]
    app = db.appender()
    refs = np.array([app.ref(s) for s in old])
    for t in range(0, 3000, 100):
        app.append(t, refs, np.full(3, float(t)))
    app.commit()
    assert db.compact() == 2  # writes a checkpoint holding the old series
    new = Labels.from_dict({"__name__": "new"})
    app = db.appender()
    new_ref = app.ref(new)
    app.append(3000, np.array([*refs, new_ref]), np.array([1.0, 2.0, 3.0, 4.0]))
    app.commit()
    db.close()
    (checkpoint,) = (data / "wal").glob("checkpoint.*")
    raw = bytearray(checkpoint.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    checkpoint.write_bytes(bytes(raw))

    caplog.set_level(logging.WARNING)
    db = DB.open(data, Options(retention_ms=None, block_range_ms=BLOCK_MS))
    try:
        (warning,) = messages(caplog, "kubeprom.tsdb.replay", logging.WARNING)
        assert "series_renumbered=0 samples_dropped=3 series_dropped=0" in warning
        got = db.querier().select([Matcher(MatchType.EQUAL, "__name__", "new")], 0, MAX_TIME)
        assert [(s.labels, s.t.tolist(), s.v.tolist()) for s in got] == [(new, [3000], [4.0])]
        # The blocks written before still hold the old series' persisted ranges.
        old_got = db.querier().select([Matcher(MatchType.EQUAL, "__name__", "old")], 0, 1999)
        assert np.diff(old_got.offsets).tolist() == [20, 20, 20]
    finally:
        db.close()
    caplog.clear()
    db = DB.open(data, Options(retention_ms=None, block_range_ms=BLOCK_MS))
    try:
        assert messages(caplog, "kubeprom.tsdb.replay", logging.WARNING) == []
        got = db.querier().select([Matcher(MatchType.EQUAL, "__name__", "new")], 0, MAX_TIME)
        assert [(s.t.tolist(), s.v.tolist()) for s in got] == [([3000], [4.0])]
        app = db.appender()
        assert app.append(3100, np.array([app.ref(new)]), np.array([5.0])).appended == 1
        app.commit()
    finally:
        db.close()
