"""``DB.open_read_only``: blocks plus the WAL's head, without touching the directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kubeprom.errors import StorageError
from kubeprom.model import Labels
from kubeprom.tsdb import DB, Options


def _snapshot(path: Path) -> dict[str, int]:
    return {str(p.relative_to(path)): p.stat().st_size for p in path.rglob("*") if p.is_file()}


def test_reads_the_wal_and_leaves_a_torn_tail_alone(tmp_path: Path) -> None:
    db = DB.open(tmp_path, Options(retention_ms=None))
    app = db.appender()
    ref = app.ref(Labels.from_dict({"__name__": "up", "job": "a"}))
    for k in range(3):
        app.append(1000 * k, np.array([ref]), np.array([float(k)]))
    app.commit()
    db.close()
    segment = max((tmp_path / "wal").iterdir())
    with open(segment, "ab") as f:
        f.write(b"\x01torn record")
    before = _snapshot(tmp_path)

    ro = DB.open_read_only(tmp_path)
    try:
        ss = ro.querier().select([], 0, 10_000)
        assert ss.labels == [Labels.from_dict({"__name__": "up", "job": "a"})]
        assert ss.v.tolist() == [0.0, 1.0, 2.0]
    finally:
        ro.close()
    assert _snapshot(tmp_path) == before


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        DB.open_read_only(tmp_path / "nope")
    assert not (tmp_path / "nope").exists()


def test_appending_to_a_read_only_store_is_a_storage_error(tmp_path: Path) -> None:
    DB.open(tmp_path, Options(retention_ms=None)).close()
    before = _snapshot(tmp_path)
    ro = DB.open_read_only(tmp_path)
    try:
        app = ro.appender()
        ref = app.ref(Labels.from_dict({"__name__": "up"}))
        app.append(1000, np.array([ref]), np.array([1.0]))
        with pytest.raises(StorageError, match=r"^data directory '.*' is open read-only$"):
            app.commit()
    finally:
        ro.close()
    assert _snapshot(tmp_path) == before
