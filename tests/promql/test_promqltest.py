"""The promqltest runner itself: the file format, the checks, the report and exit code."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from kubeprom.cli.main import main
from kubeprom.errors import FormatError
from kubeprom.model import STALE_NAN, Labels, is_stale
from kubeprom.model.series_notation import parse_items, parse_series
from kubeprom.promql import promqltest
from kubeprom.promql.promqltest_format import parse_file


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("0+10x3", [0.0, 10.0, 20.0, 30.0]),
        ("1 _ 3", [1.0, None, 3.0]),
        ("1x2", [1.0, 1.0, 1.0]),
        ("5-2x2", [5.0, 3.0, 1.0]),
        ("_x3 7", [None, None, None, 7.0]),
        ("-1e1+1e1x1", [-10.0, 0.0]),
    ],
    ids=["increment", "blank", "repeat", "decrement", "blanks", "exponents"],
)
def test_value_sequences_expand_like_upstream(text: str, want: list[float | None]) -> None:
    assert parse_items(text, 1) == want


def test_expansion_is_repeated_addition() -> None:
    got = parse_items("0+0.1x10", 1)
    assert got[10] == 0.9999999999999999  # ten additions of 0.1, not 10 * 0.1
    assert got[10] != 10 * 0.1


def test_special_values() -> None:
    got = parse_items("stale NaN -Inf", 1)
    assert isinstance(got[0], float)
    assert is_stale(got[0])
    assert isinstance(got[1], float)
    assert math.isnan(got[1])
    assert not is_stale(got[1])
    assert got[2] == -math.inf


def test_series_identifiers() -> None:
    labels, items = parse_series('foo:bar{a="x\\"y", b="2",} 1', 1)
    assert labels == Labels([("__name__", "foo:bar"), ("a", 'x"y'), ("b", "2")])
    assert items == [1.0]
    assert parse_series("{} 3", 1)[0] == Labels()


def test_malformed_command_names_the_line() -> None:
    with pytest.raises(FormatError, match=r"^f.test:4: invalid command"):
        parse_file("load 1m\n  x 1\n\nfrobnicate\n", "f.test")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.test"
    path.write_text(text)
    return path


GOOD = """
load 1m
  metric{a="1"} 0+1x10
  metric{a="2"} 0+2x10

eval instant at 5m sum(metric)
  {} 15

eval range from 0 to 2m step 1m metric{a="2"}
  metric{a="2"} 0 2 4

eval instant at 5m rate(metric[5m] anchored)
  {} 1
"""


def test_file_results_and_summary_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD)
    assert main(["test", "promql", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "2 passed, 0 failed, 1 skipped"
    assert "t.test: 2 passed, 0 failed, 1 skipped" in out
    assert any("feature flag promql-extended-range-selectors" in line for line in out)


def test_a_wrong_expectation_fails_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, GOOD.replace("{} 15", "{} 16"))
    assert main(["test", "promql", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL t.test:6: sum(metric)" in out
    assert "expected 16.0 for {} but got 15.0" in out
    assert out.splitlines()[-1] == "1 passed, 1 failed, 1 skipped"


def test_malformed_file_exits_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "eval instant at 1x2 foo\n")
    assert main(["test", "promql", str(path)]) == 1
    assert "malformed" in capsys.readouterr().out


NON_COUNTER = (
    "PromQL info: metric might not be a counter, name does not end in "
    '_total/_sum/_count/_bucket: "gauge" (1:6)'
)
DUPLICATE = (
    'found duplicate series for the match group {x="1"} on the right hand-side of the '
    'operation: [{__name__="b", x="1"}, {__name__="b", x="1", y="2"}];many-to-many matching '
    "not allowed: matching labels must be unique on one side"
)


def test_annotations_expected_exactly(tmp_path: Path) -> None:
    text = f"""
load 1m
  gauge 0+1x10

eval instant at 5m rate(gauge[5m])
  expect info msg: {NON_COUNTER}
  {{}} 0.016666666666666666

eval instant at 5m rate(gauge[5m])
  expect no_info
  {{}} 0.016666666666666666
"""
    report = promqltest.run_file(write(tmp_path, text))
    assert [o.status for o in report.outcomes] == ["passed", "failed"]
    assert "unexpected info annotations" in report.outcomes[1].detail


def test_expected_failure(tmp_path: Path) -> None:
    text = f"""
load 1m
  a{{x="1"}} 1
  b{{x="1"}} 1
  b{{x="1", y="2"}} 1

eval instant at 0 a + ignoring(y) b
  expect fail msg: {DUPLICATE}
"""
    report = promqltest.run_file(write(tmp_path, text))
    assert [o.status for o in report.outcomes] == ["passed"], report.outcomes


def test_histogram_data_skips_with_reason(tmp_path: Path) -> None:
    text = """
load 1m
  h {{count:1}}
  f 1

eval instant at 0 h
  {} 1

eval instant at 0 f
  f 1
"""
    report = promqltest.run_file(write(tmp_path, text))
    assert [(o.status, o.detail) for o in report.outcomes] == [
        ("skipped", "native histograms (selects histogram series)"),
        ("passed", ""),
    ]


def test_almost_equal_is_upstreams() -> None:
    assert promqltest.almost_equal(1.0, 1.0 + 1e-9)
    assert not promqltest.almost_equal(0.0, 1e-300)
    assert promqltest.almost_equal(math.nan, math.nan)
    assert not promqltest.almost_equal(STALE_NAN, math.nan)
    assert promqltest.almost_equal(math.inf, math.inf)


def test_differential_regressions_pass() -> None:
    """Cases the differential tester found, with Prometheus' answers (none skipped)."""
    report = promqltest.run_file(Path(__file__).parent / "testdata" / "differential.test")
    failures = [f"{o.line}: {o.expr}: {o.detail}" for o in report.outcomes if o.status != "passed"]
    assert failures == []
    assert len(report.outcomes) == 13
