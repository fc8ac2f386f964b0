"""``kubeprom tsdb import`` and ``analyze`` on small OpenMetrics files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kubeprom.cli.main import main
from kubeprom.model import Matcher, MatchType
from kubeprom.tsdb import DB, Options

BASE_S = 1_700_000_000


def write_om(path: Path, n_series: int = 3, steps: int = 1000, interval_s: int = 15) -> None:
    lines = ["# HELP http_requests_total Requests.", "# TYPE http_requests_total counter"]
    for k in range(steps):
        for i in range(n_series):
            ts = BASE_S + k * interval_s + i * 0.001
            lines.append(
                f'http_requests_total{{code="{200 + i}",path="/a b"}} {k * (i + 1)} {ts:.3f}'
            )
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n")


def test_import_then_query_returns_every_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.om.txt"
    write_om(src)
    assert main(["tsdb", "import", str(src), "--data", str(tmp_path / "d"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "imported 3,000 samples of 3 series into 3 block(s)" in out
    db = DB.open(tmp_path / "d", Options(retention_ms=None))
    try:
        ss = db.querier().select([Matcher(MatchType.EQUAL, "code", "201")], 0, 2**62)
        assert [str(lab) for lab in ss.labels] == ['http_requests_total{code="201", path="/a b"}']
        (series,) = list(ss)
        assert series.t.tolist() == [(BASE_S + k * 15) * 1000 + 1 for k in range(1000)]
        np.testing.assert_array_equal(series.v, np.arange(1000) * 2.0)
    finally:
        db.close()


def test_analyze_reports_series_samples_and_cardinality(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.om.txt"
    write_om(src, n_series=4, steps=10)
    main(["tsdb", "import", str(src), "--data", str(tmp_path / "d"), "--quiet"])
    capsys.readouterr()
    assert main(["tsdb", "analyze", "--data", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert "total: 1 block(s), 4 series, 40 samples" in out
    assert "         4 code" in out  # highest cardinality label
    assert "         4 http_requests_total" in out


def test_import_error_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "bad.om.txt"
    src.write_text('up{job="a"} 1 1700000000\nup{job="a" 2 1700000015\n# EOF\n')
    assert main(["tsdb", "import", str(src), "--data", str(tmp_path / "d"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"kubeprom: error: {src}:2:")


def test_import_of_a_missing_file_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tsdb", "import", str(tmp_path / "nope.txt"), "--data", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert err == f"kubeprom: error: {tmp_path / 'nope.txt'}: No such file or directory\n"
