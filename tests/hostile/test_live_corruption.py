"""Every kind of file in a data directory damaged under a live ``kubeprom run`` (issue 11):
WAL segment, WAL checkpoint, block chunks, index, meta.json (unreadable, and counts that
would size gigabytes), tombstones and a remote-write queue's position file.

Each time the server starts, answers ``up`` within UP_LATENCY_S, serves what the damage did
not touch, answers queries over the damaged range with data or Prometheus' error envelope
(never a crash or a traceback page), and stays under PEAK_RSS_BYTES.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from kubeprom.config.remote import RemoteWriteConfig
from kubeprom.model import Labels, Matcher, MatchType
from kubeprom.tsdb import DB, BulkImporter, Options
from tests.hostile.live import SELF_SCRAPE, Live, live_server, wait_until

pytestmark = pytest.mark.slow

HOUR_MS = 3_600_000
CONFIG = SELF_SCRAPE
# Nothing listens on the discard port: the queue retries, and reads the WAL all the while.
DEAD_RECEIVER = "http://127.0.0.1:9/api/v1/write"
# Three 2 h blocks of imported history ending 6 h ago; tombstones in the middle one.
HISTORY_SERIES = 3


def build(data: Path, now_ms: int) -> dict[str, int]:
    """A data directory holding every kind of file; returns sample counts per metric."""
    end = (now_ms - 6 * HOUR_MS) // (2 * HOUR_MS) * (2 * HOUR_MS)
    imp = BulkImporter(data)
    ids = [imp.series_id(Labels.from_dict({"__name__": "hist", "i": str(i)})) for i in range(3)]
    t = np.arange(end - 6 * HOUR_MS, end, 60_000, dtype=np.int64)
    imp.add(np.repeat(ids, len(t)), np.tile(t, 3), np.ones(3 * len(t)))
    assert len(imp.finish()) == 3
    # No level compaction while building: the damage is aimed at one 2 h block of each kind.
    db = DB.open(data, Options(retention_ms=None, max_block_duration_ms=2 * HOUR_MS))
    try:
        deleted = db.delete_series(
            [Matcher(MatchType.EQUAL, "i", "0")], end - 3 * HOUR_MS, end - 3 * HOUR_MS + 59_999
        )
        assert deleted == 1
        # Head data over 4 h up to now: compaction persists one block and checkpoints the WAL,
        # the samples after it stay in WAL segments.
        app = db.appender()
        ref = np.array([app.ref(Labels.from_dict({"__name__": "recent"}))])
        first, split, last = now_ms - 4 * HOUR_MS, now_ms - 10 * 60_000, now_ms - 5 * 60_000
        for ts in range(first, split, 60_000):
            app.append(ts, ref, np.array([1.0]))
        app.commit()
        assert db.compact() >= 1
        app = db.appender()
        for ts in range(split, last, 60_000):
            app.append(ts, ref, np.array([2.0]))
        app.commit()
    finally:
        db.close()
    return {"hist": 3 * len(t) - 1, "recent": len(range(first, last, 60_000))}


def flip_middle(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def blocks(data: Path) -> list[Path]:
    """Block directories, oldest first."""
    dirs = [d for d in data.iterdir() if (d / "meta.json").exists()]
    return sorted(dirs, key=lambda d: json.loads((d / "meta.json").read_text())["minTime"])


def only(paths: list[Path]) -> Path:
    assert len(paths) == 1, paths
    return paths[0]


def garbage_tombstones(data: Path) -> None:
    block = only([b for b in blocks(data) if (b / "tombstones").exists()])
    (block / "tombstones").write_bytes(b"\x00garbage")


def meta_counts(data: Path) -> None:
    """The issue's case: counts that would have start-up allocate gigabytes."""
    meta = blocks(data)[2] / "meta.json"
    doc = json.loads(meta.read_text())
    doc["stats"] = {**doc.get("stats", {}), "numSeries": 1e9, "numSamples": 10**15}
    meta.write_text(json.dumps(doc))


def remote_write_position(data: Path) -> None:
    path = data / "remote_write" / f"{RemoteWriteConfig(url=DEAD_RECEIVER).config_hash()}.json"
    path.parent.mkdir()
    # A segment that exists: a position in a deleted one is moved on before it is read.
    segment = int(max((data / "wal").glob("0*")).name)
    path.write_text(f'{{"segment": {segment}, "offset": -5}}')


DAMAGE: dict[str, Callable[[Path], object]] = {
    "wal-segment": lambda d: flip_middle(max((d / "wal").glob("0*"))),
    "wal-checkpoint": lambda d: flip_middle(only(list((d / "wal").glob("checkpoint.*")))),
    "chunks": lambda d: flip_middle(blocks(d)[0] / "chunks" / "000001"),
    "index": lambda d: flip_middle(blocks(d)[1] / "index"),
    "meta.json": lambda d: (blocks(d)[2] / "meta.json").write_text('{"ulid": 1e999'),
    "meta.json-counts": meta_counts,
    "tombstones": garbage_tombstones,
    "remote-write-position": remote_write_position,
}  # fmt: skip


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    data = tmp_path_factory.mktemp("pristine") / "data"
    return data, build(data, int(time.time() * 1000))


def counts(live: Live) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in ("hist", "recent"):
        status, body = live.query(f"sum(count_over_time({name}[1d]))")
        assert status in (200, 500), body
        if status == 500:  # a corrupt chunk: Prometheus' envelope, and quarantined
            assert (body["status"], body["errorType"]) == ("error", "internal"), body
            status, body = live.query(f"sum(count_over_time({name}[1d]))")
            assert status == 200, body
            assert body["warnings"][0].endswith("its samples are left out (quarantined)")
        result = body["data"]["result"]
        out[name] = float(result[0]["value"][1]) if result else 0.0
    return out


def samples_read(live: Live) -> float:
    _, text = live.get("/metrics")
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("prometheus_wal_watcher_records_read_total{")
        and 'type="samples"' in line
    )


def test_undamaged_directory_serves_everything(
    tmp_path: Path, pristine: tuple[Path, dict[str, int]]
) -> None:
    data, want = pristine
    shutil.copytree(data, tmp_path / "data")
    with live_server(tmp_path, CONFIG, ["--retention-time", "100y"]) as live:
        assert counts(live) == want
        live.assert_healthy()


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_file_never_takes_the_server_down(
    tmp_path: Path, pristine: tuple[Path, dict[str, int]], kind: str
) -> None:
    data, want = pristine
    shutil.copytree(data, tmp_path / "data")
    DAMAGE[kind](tmp_path / "data")
    config = CONFIG
    if kind == "remote-write-position":
        config += f"remote_write:\n  - url: {DEAD_RECEIVER}\n"
    with live_server(tmp_path, config, ["--retention-time", "100y"]) as live:
        got = counts(live)
        # What lives elsewhere is served whole; the damaged part at most is missing.
        if kind in ("chunks", "index", "meta.json", "tombstones"):
            assert got["recent"] == want["recent"]
            assert 0 < got["hist"] < want["hist"]
        elif kind in ("meta.json-counts", "remote-write-position"):
            assert got == want
        else:
            assert got["hist"] == want["hist"]
            assert 0 < got["recent"] <= want["recent"]
        if kind == "remote-write-position":
            # The queue ignored the file and tails the WAL: the self-scrapes' samples.
            wait_until("the queue reads samples", lambda: samples_read(live) > 0)
        _, runtime = live.get("/api/v1/status/runtimeinfo")
        if kind in ("index", "meta.json", "tombstones"):
            assert runtime["data"]["corruptionCount"] == 1
        live.assert_healthy()
