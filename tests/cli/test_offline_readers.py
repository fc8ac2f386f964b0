"""Offline readers (``kubeprom query* --data``, ``kubeprom top --data``) open a data directory
read-only: they work beside the store that holds it open for writing, see what that store
has committed to its WAL, and leave every file as it was."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kubeprom.cli.main import main
from kubeprom.model import Labels
from kubeprom.model.timeutil import format_rfc3339 as rfc3339
from kubeprom.tsdb import DB, Options
from tests.top.cluster import END_MS, scrape_cluster

EXTRA_T_MS = END_MS + 60_000  # committed by the running store, in its WAL only


def snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file and directory under ``root``: size, mtime (ns) and content hash."""
    out: dict[str, tuple[int, int, str]] = {}
    for p in sorted(root.rglob("*")):
        st = p.stat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        out[str(p.relative_to(root))] = (st.st_size if p.is_file() else 0, st.st_mtime_ns, digest)
    return out


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A scraped cluster's data directory, held open for writing by a DB that has committed
    one more series since (WAL only, no block) and is caught mid-work: a block being
    written (``<ULID>.tmp``) and a WAL record half written. A writable open would delete the
    first and truncate the second under the running store's feet."""
    data = tmp_path_factory.mktemp("held")
    scrape_cluster(data)
    db = DB.open(data, Options(retention_ms=None))
    try:
        app = db.appender()
        ref = app.ref(Labels.from_dict({"__name__": "written_while_held", "by": "server"}))
        app.append(EXTRA_T_MS, np.array([ref]), np.array([42.0]))
        app.commit()
        (data / "01JCOMPACTING0000000000000.tmp").mkdir()
        (data / "01JCOMPACTING0000000000000.tmp" / "index").write_bytes(b"half an index")
        with open(max((data / "wal").glob("0*")), "ab") as segment:
            segment.write(b"\x01\x00\x00\x40half a record")
        yield data
    finally:
        db.close()


def test_query_and_top_read_beside_a_running_store(
    held: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(held)
    data = ["--data", str(held)]

    t_s = str(EXTRA_T_MS / 1000)
    assert main(["query", "written_while_held", "--time", t_s, "-o", "json", *data]) == 0
    assert json.loads(capsys.readouterr().out)["result"] == [
        {"metric": {"__name__": "written_while_held", "by": "server"}, "value": [float(t_s), "42"]}
    ]
    assert main(["query-labels", "by", *data]) == 0
    assert capsys.readouterr().out == "VALUE\nserver\n"
    assert main(["query-series", "--match", "written_while_held", *data]) == 0
    assert capsys.readouterr().out == 'SERIES\nwritten_while_held{by="server"}\n'

    end_s = str(END_MS / 1000)
    assert main(["top", "node", "--time", end_s, "--no-headers", *data]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == [
        "node-a",
        "node-b",
    ]
    assert main(["top", "pod", "-A", "--time", end_s, "--no-headers", *data]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 6  # 3 Deployments x 2 replicas

    assert snapshot(held) == before


def test_top_without_time_evaluates_at_the_newest_sample_of_the_wal(
    held: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The newest sample is the one only the running store's WAL holds."""
    before = snapshot(held)
    assert main(["top", "node", "-o", "json", "--data", str(held)]) == 0
    items = json.loads(capsys.readouterr().out)["items"]
    created = {item["metadata"]["creationTimestamp"] for item in items}
    assert created == {rfc3339(EXTRA_T_MS)}
    assert snapshot(held) == before


def test_a_missing_directory_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["top", "node", "--data", str(tmp_path / "nope")]) == 1
    assert (
        capsys.readouterr().err
        == f"error: data directory {str(tmp_path / 'nope')!r} does not exist\n"
    )
    assert main(["query", "up", "--data", str(tmp_path / "nope")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "nope").exists()
