"""Exposition parsers: text format 0.0.4 and OpenMetrics 1.0 bodies."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

import kubeprom.scraper.exposition as exposition
import kubeprom.scraper.exposition.parser as parser_module
from kubeprom.errors import KubepromError
from kubeprom.model.labels import Labels
from kubeprom.scraper.exposition import (
    MISSING,
    ExpositionError,
    ParsedBody,
    content_type_format,
    family_name,
    parse_series,
    parse_text,
)
from kubeprom.scraper.exposition.floats import NORMAL_NAN_BITS
from kubeprom.tsdb.api import MetricMetadata, MetricType


def _samples(body: ParsedBody) -> list[tuple[bytes, float, int]]:
    return list(zip(body.series, body.values.tolist(), body.timestamps_ms.tolist(), strict=True))


def _bits(value: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", value))[0])


@pytest.fixture(params=[1 << 20, 64], ids=["one-piece", "tiny-pieces"])
def piece_bytes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Run a test with the default piece size and with pieces of a few lines each."""
    monkeypatch.setattr(parser_module, "PIECE_BYTES", request.param)
    return int(request.param)


# -- round trip through prometheus_client -----------------------------------------------------

_LABEL_VALUE = st.text(
    alphabet=st.sampled_from([*'ab z"\\\n#{},=é€😀\t ', "\u2028"]), max_size=12
) | st.text(max_size=8)
_FLOAT = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, 1.0, 0.1, 1e-300, 5e-324, 1.7976931348623157e308, 123456789.123]
)
_NAMES = ["alpha", "beta", "gamma"]


@st.composite
def _registries(draw: st.DrawFn) -> CollectorRegistry:
    registry = CollectorRegistry()
    for i, kind in enumerate(draw(st.lists(st.sampled_from("cghs"), min_size=1, max_size=4))):
        labelnames = draw(
            st.lists(st.sampled_from(["a", "b", "c_d", "E"]), max_size=3, unique=True)
        )
        name = f"{_NAMES[i % 3]}_{i}"
        ctor = {"c": Counter, "g": Gauge, "h": Histogram, "s": Summary}[kind]
        kwargs: dict[str, object] = {"registry": registry}
        if kind == "h":
            kwargs["buckets"] = draw(st.sampled_from([(0.5, 1.0, 1e6), (0.005, 0.1, 2.5, 10.0)]))
        metric = ctor(name, draw(st.text(max_size=10)), labelnames, **kwargs)
        for _ in range(draw(st.integers(0 if labelnames else 1, 3))):
            child = (
                metric.labels(*[draw(_LABEL_VALUE) for _ in labelnames]) if labelnames else metric
            )
            value = draw(_FLOAT)
            if kind == "c":
                child.inc(abs(value) if not math.isnan(value) else 1.0)
            elif kind == "g":
                child.set(value)
            elif not math.isnan(value):
                child.observe(value)
    return registry


def _expected(registry: CollectorRegistry) -> list[tuple[Labels, float]]:
    """Every sample the registry exposes, sorted by labels (the text format moves _created)."""
    out = []
    for family in registry.collect():
        for sample in family.samples:
            pairs = [*sample.labels.items(), ("__name__", sample.name)]
            out.append((Labels(pairs), sample.value))
    return sorted(out, key=lambda item: item[0])


def _check_roundtrip(parsed: ParsedBody, expected: list[tuple[Labels, float]]) -> None:
    got = sorted(
        ((parse_series(s), v) for s, v in zip(parsed.series, parsed.values.tolist(), strict=True)),
        key=lambda item: item[0],
    )
    assert [lab for lab, _ in got] == [lab for lab, _ in expected]
    for (_, value), (_, want) in zip(got, expected, strict=True):
        if math.isnan(want):
            assert _bits(value) == NORMAL_NAN_BITS
        else:
            assert _bits(value) == _bits(want)
    assert (parsed.timestamps_ms == MISSING).all()
    assert {s: parse_series(s) for s in parsed.series} == parsed.labels


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(registry=_registries())
def test_roundtrip_text_format(registry: CollectorRegistry) -> None:
    body = generate_latest(registry)
    _check_roundtrip(parse_text(body), _expected(registry))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(registry=_registries())
def test_roundtrip_openmetrics(registry: CollectorRegistry) -> None:
    body = generate_openmetrics(registry)
    _check_roundtrip(parse_text(body, openmetrics=True), _expected(registry))


def test_roundtrip_metadata_from_prometheus_client() -> None:
    registry = CollectorRegistry()
    Counter("requests", 'Requests with "quotes", \\ and\nnewline.', registry=registry).inc()
    Gauge("temperature", "Temp.", unit="celsius", registry=registry).set(21.5)
    Histogram("latency_seconds", "Latency.", registry=registry).observe(0.3)

    om = parse_text(generate_openmetrics(registry), openmetrics=True).metadata
    assert om["requests"] == MetricMetadata(
        MetricType.COUNTER, 'Requests with "quotes", \\ and\nnewline.'
    )
    assert om["temperature_celsius"] == MetricMetadata(MetricType.GAUGE, "Temp.", "celsius")
    assert om["latency_seconds"].type is MetricType.HISTOGRAM

    text = parse_text(generate_latest(registry)).metadata
    # The text format escapes only \\ and \n in HELP; a quote stays as written.
    assert text["requests_total"] == MetricMetadata(
        MetricType.COUNTER, 'Requests with "quotes", \\ and\nnewline.'
    )
    assert text["requests_created"].type is MetricType.GAUGE


# -- values, timestamps, exemplars -----------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("1", 1.0),
        ("-0", -0.0),
        ("1.5e3", 1500.0),
        ("1E-3", 0.001),
        (".5", 0.5),
        ("5.", 5.0),
        ("+7", 7.0),
        ("+Inf", math.inf),
        ("-Inf", -math.inf),
        ("Inf", math.inf),
        ("inf", math.inf),
        ("Infinity", math.inf),
        ("-infinity", -math.inf),
        ("1.7976931348623157e308", 1.7976931348623157e308),
        ("4.9e-324", 5e-324),
        ("1e-400", 0.0),
        ("0.1", 0.1),
    ],
    ids=lambda x: str(x),
)
def test_values(token: str, expected: float, piece_bytes: int) -> None:
    body = parse_text(f'a {token}\nb{{x="y z"}} {token}\n'.encode())  # tier 0 and careful parser
    assert [_bits(v) for v in body.values.tolist()] == [_bits(expected)] * 2


@pytest.mark.parametrize("token", ["NaN", "nan", "NAN"])
def test_nan_is_normalised_to_prometheus_normal_nan(token: str) -> None:
    body = parse_text(f'a {token}\nb{{x="y z"}} {token}\n'.encode())
    assert body.values.view(np.uint64).tolist() == [NORMAL_NAN_BITS] * 2


def test_text_timestamps_are_integer_ms() -> None:
    body = parse_text(b'a 1 1761955200123\nb 2\nc{x="a b"} 3 0\n')
    assert _samples(body) == [
        (b"a", 1.0, 1761955200123),
        (b"b", 2.0, MISSING),
        (b'c{x="a b"}', 3.0, 0),
    ]


@pytest.mark.parametrize(
    ("token", "ms"),
    [
        ("1761955200.123", 1761955200123),
        ("1761955200", 1761955200000),
        ("1.7619552e9", 1761955200000),
        # Truncated toward zero, as Prometheus' int64(ts * 1000).
        ("0.0005", 0),
        ("0.0019", 1),
        ("-0.0019", -1),
        ("-1.5", -1500),
    ],
    ids=lambda x: str(x),
)
def test_openmetrics_timestamps_are_seconds(token: str, ms: int, piece_bytes: int) -> None:
    body = parse_text(f'a 1 {token}\nb{{x="y z"}} 2 {token}\n# EOF\n'.encode(), openmetrics=True)
    assert body.timestamps_ms.tolist() == [ms, ms]


class _Stamped:
    """A collector whose samples carry explicit timestamps (seconds)."""

    def __init__(self, stamps: list[float]) -> None:
        self.stamps = stamps

    def collect(self) -> list[GaugeMetricFamily]:
        family = GaugeMetricFamily("stamped", "Explicit timestamps.", labels=["i"])
        for i, ts in enumerate(self.stamps):
            family.add_metric([str(i)], float(i), timestamp=ts)
        return [family]


@pytest.mark.parametrize("openmetrics", [False, True], ids=["text", "openmetrics"])
def test_explicit_timestamps_from_prometheus_client(openmetrics: bool) -> None:
    stamps = [1761955200.123, 0.5, 1e9, 1761955200.0]
    registry = CollectorRegistry()
    registry.register(_Stamped(stamps))
    body = (generate_openmetrics if openmetrics else generate_latest)(registry)
    parsed = parse_text(body, openmetrics=openmetrics)
    assert parsed.timestamps_ms.tolist() == [1761955200123, 500, 1_000_000_000_000, 1761955200000]
    assert parsed.values.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_exemplars_are_ignored() -> None:
    body = parse_text(
        b"# TYPE foo histogram\n"
        b'foo_bucket{le="0.5"} 1 # {trace_id="abc"} 0.3 1761955200.5\n'
        b'foo_bucket{le="+Inf"} 2 1761955201 # {trace_id="d e"} 0.7\n'
        b"foo_count 2\nfoo_sum 1.0\nfoo_created 1761955000.0\n# EOF\n",
        openmetrics=True,
    )
    assert _samples(body) == [
        (b'foo_bucket{le="0.5"}', 1.0, MISSING),
        (b'foo_bucket{le="+Inf"}', 2.0, 1761955201000),
        (b"foo_count", 2.0, MISSING),
        (b"foo_sum", 1.0, MISSING),
        (b"foo_created", 1761955000.0, MISSING),
    ]


def test_escapes_in_label_values() -> None:
    body = parse_text(b'a{x="q\\"uote",y="back\\\\slash",z="new\\nline",w="odd\\tkept"} 1\n')
    (series,) = body.series
    assert body.labels[series].to_dict() == {
        "__name__": "a",
        "x": 'q"uote',
        "y": "back\\slash",
        "z": "new\nline",
        "w": "odd\\tkept",  # Prometheus keeps unknown escapes verbatim
    }


def test_text_format_whitespace_and_quoted_names(piece_bytes: int) -> None:
    body = parse_text(
        b'\t first { a = "x" , } 1  2 \n'
        b'{"second", "b"="y"} 3\n'
        b'third{c="has space"}4\n'
        b"\n   \n"
        b"   # indented comment\n"
        b"   # TYPE fourth gauge\n"
        b"fourth 5\n"
    )
    assert _samples(body) == [
        (b'first { a = "x" , }', 1.0, 2),
        (b'{"second", "b"="y"}', 3.0, MISSING),
        (b'third{c="has space"}', 4.0, MISSING),
        (b"fourth", 5.0, MISSING),
    ]
    assert [str(body.labels[s]) for s in body.series] == [
        'first{a="x"}',
        'second{b="y"}',
        'third{c="has space"}',
        "fourth",
    ]
    assert body.metadata == {"fourth": MetricMetadata(MetricType.GAUGE)}


def test_le_and_quantile_are_normalised_like_prometheus_3() -> None:
    body = parse_text(
        b"# TYPE h histogram\n"
        b'h_bucket{le="1"} 1\nh_bucket{le="1000000"} 2\nh_bucket{le="+Inf"} 3\n'
        b"# TYPE s summary\n"
        b's{quantile="0.50"} 1\n'
        b"# TYPE g gauge\n"
        b'g{le="1"} 1\n'
    )
    assert [body.labels[s].get("le") or body.labels[s].get("quantile") for s in body.series] == [
        "1.0",
        "1e+06",
        "+Inf",
        "0.5",
        "1",  # not a histogram: left alone
    ]


# -- scrape cache -----------------------------------------------------------------------------


def test_known_series_are_not_parsed_again() -> None:
    body = b'# TYPE a counter\na_total{x="1"} 1\na_total{x="2"} 2\nb 3\n'
    first = parse_text(body)
    assert set(first.labels) == {b'a_total{x="1"}', b'a_total{x="2"}', b"b"}
    second = parse_text(body, known=set(first.labels))
    assert second.labels == {}
    assert second.series == first.series
    assert second.values.tolist() == [1.0, 2.0, 3.0]
    third = parse_text(body + b'a_total{x="3"} 4\n', known=dict.fromkeys(first.labels))
    assert list(third.labels) == [b'a_total{x="3"}']


def test_steady_state_scrape_takes_only_the_bulk_path(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [b"# HELP x_total Things.", b"# TYPE x_total counter"]
    lines += [b'x_total{pod="p%d",ns="n"} %d' % (i, i) for i in range(500)]
    body = b"\n".join(lines) + b"\n"
    first = parse_text(body)

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("left the bulk path")

    monkeypatch.setattr(parser_module, "parse_line", boom)
    monkeypatch.setattr(parser_module._Piece, "_tier1", boom)
    monkeypatch.setattr(parser_module, "labels_from_canonical", boom)
    second = parse_text(body, known=dict.fromkeys(first.labels))
    assert second.series == first.series
    assert second.values.tolist() == list(map(float, range(500)))
    assert second.labels == {}


def test_empty_bodies() -> None:
    for body in (
        parse_text(b""),
        parse_text(b"# only a comment\n"),
        parse_text(b"# EOF\n", openmetrics=True),
    ):
        assert len(body) == 0
        assert body.values.dtype == np.float64
        assert body.timestamps_ms.dtype == np.int64


# -- errors -----------------------------------------------------------------------------------

_BAD_BODIES = [
    (
        "bad-float",
        b'a 1\nb{x="y"} abc\n',
        False,
        2,
        "expected value after series 'b{x=\"y\"}', got 'abc'",
    ),
    ("bad-float-after-space-label", b'a{x="y z"} 1\nb 1.2.3\n', False, 2, "got '1.2.3'"),
    ("digit-separator", b"a 1_000\n", False, 1, "got '1_000'"),
    ("hex-float", b"a 0x1p-2\n", False, 1, "got '0x1p-2'"),
    ("overflow", b"a 1e999\n", False, 1, "got '1e999'"),
    ("signed-nan", b"a -NaN\n", False, 1, "got '-NaN'"),
    ("missing-value", b"a 1\nb\n", False, 2, "expected value after series 'b', got end of line"),
    (
        "unterminated-label-value",
        b'a 1\n\nfoo{a="b} 1\n',
        False,
        3,
        "unterminated value of label 'a'",
    ),
    (
        "missing-brace",
        b'# TYPE foo gauge\nfoo{a="b" 1\n',
        False,
        2,
        r"expected ',' or '}' after value of label 'a', got '1'",
    ),
    (
        "missing-brace-eol",
        b'foo{a="b",\n',
        False,
        1,
        r"expected label name or '}', got end of line",
    ),
    ("bad-label-name", b'a 1\nfoo{1a="b"} 1\n', False, 2, "invalid label name '1a'"),
    ("bad-label-name-dot", b'foo{a.b="c"} 1\n', False, 1, "invalid label name 'a.b'"),
    ("invalid-metric-name", b"a 1\nb 2\n1foo 3\n", False, 3, "invalid metric name '1foo'"),
    ("invalid-metric-name-dot", b"foo.bar 3\n", False, 1, "invalid metric name 'foo.bar'"),
    ("no-metric-name", b'{a="b"} 3\n', False, 1, "has no metric name"),
    ("duplicate-label", b'a{x="1",x="2"} 3\n', False, 1, "duplicate label name 'x'"),
    ("bad-utf8", b'a{x="\xff"} 3\n', False, 1, "value of label 'x' is not valid UTF-8"),
    ("negative-text-timestamp", b"a 1 -5\n", False, 1, r"expected integer timestamp \(ms\)"),
    ("float-text-timestamp", b"a 1 5.5\n", False, 1, "got '5.5'"),
    ("trailing-garbage", b"a 1 5 x\n", False, 1, "unexpected 'x' after the timestamp of 'a'"),
    ("two-samples-on-a-line", b"a 1\nb 2 c 3\n", False, 2, "got 'c'"),
    ("two-samples-on-a-line-om", b"a 1 1\nb 2 2 c 3 3\n# EOF\n", True, 2, "unexpected ' c 3 3'"),
    ("carriage-return", b"a 1\r\nb 2\r\n", False, 1, r"got '1\\r'"),
    ("carriage-return-line", b"a 1\n\r\n", False, 2, r"invalid metric name '\\r'"),
    ("bad-type", b"# TYPE a countr\na 1\n", False, 1, "invalid metric type 'countr' for 'a'"),
    ("bad-help-name", b"# HELP 9a x\n", False, 1, r"expected metric name after '# HELP'"),
    ("om-missing-eof", b"a 1\nb 2\n", True, 3, "expected '# EOF' at the end of the body"),
    ("om-missing-eof-no-newline", b"a 1\nb 2", True, 3, "expected '# EOF' at the end of the body"),
    ("om-line-after-eof", b"a 1\n# EOF\nb 2\n", True, 3, "unexpected data after '# EOF'"),
    ("om-blank-after-eof", b"a 1\n# EOF\n\n", True, 3, "unexpected data after '# EOF'"),
    ("om-blank-line", b"a 1\n\nb 2\n# EOF\n", True, 2, "empty line"),
    (
        "om-comment",
        b"a 1\n# hello\n# EOF\n",
        True,
        2,
        "expected '# HELP', '# TYPE', '# UNIT' or '# EOF'",
    ),
    ("om-double-space", b"a 1\nb  2\n# EOF\n", True, 2, "expected value after series 'b'"),
    ("om-tab", b"a 1\nb\t2\n# EOF\n", True, 2, "expected ' ' and a value after series 'b'"),
    ("om-nan-timestamp", b"a 1 NaN\n# EOF\n", True, 1, r"expected timestamp \(seconds\)"),
    ("om-bad-exemplar", b'a 1 # {x="y"} abc\n# EOF\n', True, 1, "bad exemplar of 'a'"),
    (
        "om-unit-suffix",
        b"# UNIT a seconds\n# EOF\n",
        True,
        1,
        "unit 'seconds' is not a suffix of metric 'a'",
    ),
    ("om-bad-type", b"# TYPE a untyped\n# EOF\n", True, 1, "invalid metric type 'untyped'"),
    ("om-space-in-labels", b'a{x="1", y="2"} 1\n# EOF\n', True, 1, "expected label name or '}'"),
]


@pytest.mark.parametrize(
    ("body", "openmetrics", "line", "message"),
    [case[1:] for case in _BAD_BODIES],
    ids=[case[0] for case in _BAD_BODIES],
)
def test_errors_name_the_line(
    body: bytes, openmetrics: bool, line: int, message: str, piece_bytes: int
) -> None:
    with pytest.raises(ExpositionError, match=message) as info:
        parse_text(body, openmetrics=openmetrics, source="body")
    assert info.value.line == line
    assert info.value.source == "body"
    assert str(info.value).startswith(f"body:{line}: ")


def test_error_rendering() -> None:
    with pytest.raises(ExpositionError) as info:
        parse_text(b'a 1\nb{x="y"} abc\n', source="node:9100")
    assert str(info.value) == "node:9100:2: expected value after series 'b{x=\"y\"}', got 'abc'"
    assert info.value.message == "expected value after series 'b{x=\"y\"}', got 'abc'"


def test_first_error_wins() -> None:
    with pytest.raises(ExpositionError, match="invalid metric type") as info:
        parse_text(b"a 1\n# TYPE a nope\nb abc\n")
    assert info.value.line == 2


def _big_body(lines: int, *, odd_label: bool) -> list[bytes]:
    out = []
    for i in range(lines):
        if i % 100 == 0:
            out.append(f"# HELP fam_{i} help for {i}".encode())
            out.append(f"# TYPE fam_{i} gauge".encode())
        label = "with space" if odd_label and i == 3 else f"pod-{i}"
        out.append(f'fam_{i - i % 100}{{pod="{label}",ns="n{i % 7}"}} {i}.5'.encode())
    return out


@settings(max_examples=60, deadline=None)
@given(
    lines=st.integers(1, 400),
    data=st.data(),
    odd_label=st.booleans(),
    corruption=st.sampled_from([b"abc", b"1 2 3", b'{x="1"}', b"1e999", b"1 -2"]),
)
def test_error_positions_in_large_bodies(
    lines: int, data: st.DataObject, odd_label: bool, corruption: bytes
) -> None:
    body_lines = _big_body(lines, odd_label=odd_label)
    sample_lines = [i for i, line in enumerate(body_lines) if not line.startswith(b"#")]
    victim = data.draw(st.sampled_from(sample_lines))
    series = body_lines[victim].rsplit(b" ", 1)[0]
    body_lines[victim] = series + b" " + corruption
    with pytest.raises(ExpositionError) as info:
        parse_text(b"\n".join(body_lines) + b"\n")
    assert info.value.line == victim + 1


@pytest.mark.parametrize("odd_label", [False, True], ids=["fast", "line-by-line"])
def test_large_body_matches_line_by_line_parse(odd_label: bool, piece_bytes: int) -> None:
    body_lines = _big_body(1000, odd_label=odd_label)
    body = parse_text(b"\n".join(body_lines))
    expected = [
        (parse_series(line.rsplit(b" ", 1)[0]), float(line.rsplit(b" ", 1)[1]))
        for line in body_lines
        if not line.startswith(b"#")
    ]
    assert [
        (body.labels[s], v) for s, v in zip(body.series, body.values.tolist(), strict=True)
    ] == expected
    assert len(body.metadata) == 10


# -- parse_series -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"up", {"__name__": "up"}),
        (
            b'up{job="node",instance="a:9100"}',
            {"__name__": "up", "job": "node", "instance": "a:9100"},
        ),
        ('up{job="nöde"}', {"__name__": "up", "job": "nöde"}),
        (b'up{job="x",}', {"__name__": "up", "job": "x"}),
        (b'up{job=""}', {"__name__": "up"}),
        (b'up { job = "x" }', {"__name__": "up", "job": "x"}),
        (b'{"up", job="x"}', {"__name__": "up", "job": "x"}),
        (b'{job="x", "up"}', {"__name__": "up", "job": "x"}),
        (b'{"up", "job"="x"}', {"__name__": "up", "job": "x"}),
        (
            b'up{a="\\\\",b="\\"",c="\\n",d="\\\\n"}',
            {"__name__": "up", "a": "\\", "b": '"', "c": "\n", "d": "\\n"},
        ),
    ],
    ids=lambda x: x.decode() if isinstance(x, bytes) else str(x),
)
def test_parse_series(text: bytes | str, expected: dict[str, str]) -> None:
    assert parse_series(text).to_dict() == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b'up{job="x"', "expected ',' or '}' after value of label 'job', got end of line"),
        (b'up{job="x} 1', "unterminated value of label 'job'"),
        (b"up x", "unexpected 'x' after series"),
        (b'{"up", "down"}', "metric name given twice"),
        (b'{"a.b"}', "invalid metric name 'a.b'"),
        (b'up{"a.b"="c"}', "invalid label name 'a.b'"),
        (b"", "expected metric name, got end of line"),
    ],
    ids=lambda x: x.decode() if isinstance(x, bytes) else str(x),
)
def test_parse_series_errors(text: bytes, message: str) -> None:
    with pytest.raises(ExpositionError, match=message) as info:
        parse_series(text, source="cache", line=7)
    assert str(info.value).startswith("cache:7: ")


def test_parse_series_without_line() -> None:
    with pytest.raises(ExpositionError) as info:
        parse_series(b"1up")
    assert str(info.value) == "<body>: invalid metric name '1up'"


def test_parse_series_metric_type_normalises_le() -> None:
    assert parse_series(b'h_bucket{le="5"}', metric_type=MetricType.HISTOGRAM).get("le") == "5.0"
    assert parse_series(b'h_bucket{le="5"}').get("le") == "5"


# -- families and content negotiation ---------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "family"),
    [
        ("h_bucket", "h"),
        ("h_count", "h"),
        ("h_created", "h"),
        ("c_total", "c"),
        ("c_created", "c"),
        ("s_sum", "s"),
        ("i_info", "i"),
        ("g_total", "g_total"),  # g is a gauge: no _total samples
        ("unknown_sum", "unknown_sum"),
        ("c", "c"),
    ],
    ids=lambda x: str(x),
)
def test_family_name(metric: str, family: str) -> None:
    metadata = {
        "h": MetricMetadata(MetricType.HISTOGRAM),
        "c": MetricMetadata(MetricType.COUNTER),
        "s": MetricMetadata(MetricType.SUMMARY),
        "i": MetricMetadata(MetricType.INFO),
        "g": MetricMetadata(MetricType.GAUGE),
    }
    assert family_name(metric, metadata) == family


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/openmetrics-text; version=1.0.0; charset=utf-8", "openmetrics"),
        ("application/openmetrics-text;version=0.0.1", "openmetrics"),
        ("Application/OpenMetrics-Text", "openmetrics"),
        ("text/plain; version=0.0.4; charset=utf-8", "text"),
        ("text/html", "text"),
        ("", "text"),
        (None, "text"),
    ],
    ids=lambda x: str(x),
)
def test_content_type_format(content_type: str | None, expected: str) -> None:
    assert content_type_format(content_type) == expected


def test_accept_header_is_prometheus() -> None:
    assert exposition.ACCEPT_HEADER == (
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
        "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    )


def test_exported_members() -> None:
    assert set(exposition.__all__) == {
        "ACCEPT_HEADER",
        "MISSING",
        "ExpositionError",
        "OpenMetricsFileReader",
        "ParsedBody",
        "content_type_format",
        "family_name",
        "parse_series",
        "parse_text",
    }
    assert np.iinfo(np.int64).min == MISSING
    assert issubclass(ExpositionError, KubepromError)
