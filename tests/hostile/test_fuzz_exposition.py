"""Fuzzing the exposition parser and the scrape step (issue 11).

Bodies are valid expositions with bytes flipped, inserted, deleted or cut, or built from
the format's own tokens in random order, or random bytes. ``parse_text`` must return or raise
:class:`ExpositionError`, nothing else; a scrape of any such body must end with ``up`` set,
never an exception, and create no series when it fails.
"""

from __future__ import annotations

import gzip

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeprom.clock import VirtualClock
from kubeprom.errors import ExpositionError
from kubeprom.model import Labels, Matcher, MatchType
from kubeprom.scraper.exposition import parse_text
from kubeprom.scraper.fetch import FetchResult
from kubeprom.scraper.loop import ScrapeLoop, ScrapeOptions
from kubeprom.tsdb import MemStore

VALID = (
    b"# HELP http_requests_total The total.\n"
    b"# TYPE http_requests_total counter\n"
    b'http_requests_total{method="post",code="200"} 1027 1395066363000\n'
    b'http_requests_total{method="post",code="400"}    3 1395066363000\n'
    b'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",'
    b'error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9\n'
    b"metric_without_timestamp_and_labels 12.47\n"
    b'something_weird{problem="division by zero"} +Inf -3982045\n'
    b"# TYPE rpc_duration_seconds summary\n"
    b'rpc_duration_seconds{quantile="0.5"} 4773\n'
    b"rpc_duration_seconds_sum 1.7560473e+07\n"
    b"# TYPE h histogram\n"
    b'h_bucket{le="0.05"} 24054\n'
    b'h_bucket{le="+Inf"} 144320\n'
    b"h_count 144320\n"
)
OPENMETRICS = (
    b'# TYPE a counter\n# HELP a help\na_total 1 # {trace_id="x"} 1 1.5\nb{c="d"} 2 1.5\n# EOF\n'
)
TOKENS = [
    b"a", b"a_total", b"{", b"}", b",", b"=", b'"', b'"v"', b"\\", b"\\n", b"\n", b" ", b"\t",
    b"#", b"# HELP", b"# TYPE", b"# EOF", b"counter", b"histogram", b"le", b"1", b"-1",
    b"1e308", b"NaN", b"+Inf", b"-Inf", b"0x10", b"1_000", b"9223372036854775808", b"\xff",
    b"\xc3\xa9", b"\x00", b"\r",
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    body = bytearray(draw(st.sampled_from([VALID, OPENMETRICS])))
    for _ in range(draw(st.integers(1, 8))):
        if not body:
            break
        pos = draw(st.integers(0, len(body) - 1))
        op = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        if op == "flip":
            body[pos] ^= draw(st.integers(1, 255))
        elif op == "insert":
            body[pos:pos] = draw(st.sampled_from(TOKENS))
        elif op == "delete":
            del body[pos : pos + draw(st.integers(1, 8))]
        else:
            del body[pos:]
    return bytes(body)


bodies = st.one_of(
    mutated(),
    st.lists(st.sampled_from(TOKENS), max_size=60).map(b"".join),
    st.binary(max_size=300),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, openmetrics=st.booleans())
def test_the_parser_returns_or_raises_exposition_error(body: bytes, openmetrics: bool) -> None:
    try:
        parsed = parse_text(body, openmetrics=openmetrics, source="fuzz")
    except ExpositionError as err:
        error = str(err)
    else:
        assert len(parsed.series) == len(parsed.values) == len(parsed.timestamps_ms)
        return
    assert error.startswith("fuzz")


class Fixed:
    def __init__(self, result: FetchResult) -> None:
        self.result = result

    async def __call__(self, url: str, timeout_s: float, limit: int) -> FetchResult:
        return self.result


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=bodies,
    compress=st.booleans(),
    content_type=st.sampled_from(
        ["text/plain; version=0.0.4", "application/openmetrics-text; version=1.0.0", "x/y"]
    ),
    sample_limit=st.sampled_from([0, 1, 5]),
)
async def test_a_scrape_of_any_body_ends_with_up_set(
    body: bytes, compress: bool, content_type: str, sample_limit: int
) -> None:
    store = MemStore()
    result = FetchResult(gzip.compress(body) if compress else body, content_type,
                         "gzip" if compress else "")  # fmt: skip
    loop = ScrapeLoop(
        Labels.from_dict({"job": "fuzz", "instance": "f:1"}),
        "http://f:1/metrics",
        ScrapeOptions(sample_limit=sample_limit, label_limit=6),
        Fixed(result),
        store.appender,
        clock=VirtualClock(1_700_000_000_000),
    )
    await loop.scrape_once(1_700_000_000_000)
    up = store.select([Matcher(MatchType.EQUAL, "__name__", "up")], 0, 2**62)
    assert up.v.tolist() == [1.0 if loop.health.health == "up" else 0.0]
    if loop.health.health == "down":
        assert loop.health.last_error
        assert store.head.num_series == 5  # the report series alone
    else:
        assert sample_limit == 0 or store.head.num_series - 5 <= sample_limit
        assert np.all(np.isfinite(up.v))
