"""The bulk WriteRequest encoder and the remote-read encoder against the protobuf library."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom.model.labels import Labels
from kubeprom.model.samples import STALE_NAN
from kubeprom.remote.protocol import (
    ProtocolError,
    SeriesEncoder,
    compress,
    decode_read_request,
    decode_write_request,
    decompress,
    encode_metadata_request,
    encode_query_result,
    encode_read_response,
    message_class,
    varint,
    varint_lengths,
)

label_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40
)
names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True)
label_sets = st.dictionaries(names, label_text, min_size=1, max_size=6).map(
    lambda d: Labels(d.items())
)
timestamps = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(1_600_000_000_000, 1_900_000_000_000),
    st.integers(0, 200),
)
values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, STALE_NAN]),
)


def bits(x: float) -> int:
    return int(np.array([x], dtype=np.float64).view(np.uint64)[0])


@settings(max_examples=150, deadline=None)
@given(
    series=st.lists(label_sets, min_size=1, max_size=8, unique=True),
    samples=st.lists(st.tuples(st.integers(0, 7), timestamps, values), min_size=1, max_size=40),
)
def test_write_request_parses_as_prometheus_would(
    series: list[Labels], samples: list[tuple[int, int, float]]
) -> None:
    enc = SeriesEncoder()
    for ref, labels in enumerate(series):
        enc.set(ref * 3, labels)  # refs need not be dense
    refs = np.array([(i % len(series)) * 3 for i, _, _ in samples], dtype=np.int64)
    t = np.array([s[1] for s in samples], dtype=np.int64)
    v = np.array([s[2] for s in samples], dtype=np.float64)
    req = message_class("WriteRequest").FromString(enc.write_request(refs, t, v))
    assert len(req.timeseries) == len(samples)  # one TimeSeries per sample, in order
    for ts, ref, ti, vi in zip(req.timeseries, refs.tolist(), t.tolist(), v.tolist(), strict=True):
        assert [(lb.name, lb.value) for lb in ts.labels] == list(series[ref // 3].to_dict().items())
        assert len(ts.samples) == 1
        assert ts.samples[0].timestamp == ti
        assert bits(ts.samples[0].value) == bits(vi)  # NaN payloads, -0.0 and StaleNaN exact


def test_unknown_ref_is_a_key_error() -> None:
    enc = SeriesEncoder()
    enc.set(1, Labels({"__name__": "up"}.items()))
    with pytest.raises(KeyError):
        enc.write_request(np.array([2]), np.array([5]), np.array([1.0]))


def test_varint_lengths_match_the_encoding() -> None:
    t = np.array([0, 1, 127, 128, 2**35 - 1, 2**35, 1_700_000_000_000, -1, 2**63 - 1])
    assert varint_lengths(t).tolist() == [len(varint(int(x) % 2**64)) for x in t.tolist()]


def test_snappy_block_format_round_trip_and_limit() -> None:
    data = b"remote write " * 1000
    packed = compress(data)
    assert packed[:2] == varint(len(data))  # block format: the length first, no stream header
    assert decompress(packed, len(data)) == data
    with pytest.raises(ProtocolError, match="exceeds the limit of 100 bytes"):
        decompress(packed, 100)
    with pytest.raises(ProtocolError, match="snappy: corrupt input"):
        decompress(b"\xff\xff\xff\xff\xff\xff\xff", 1000)


def test_decode_write_request_keeps_order_and_counts() -> None:
    req = message_class("WriteRequest")()
    ts = req.timeseries.add()
    ts.labels.add(name="job", value="a")
    ts.labels.add(name="__name__", value="up")
    ts.samples.add(value=1.0, timestamp=10)
    ts.samples.add(value=2.0, timestamp=20)
    ts.histograms.append(b"")
    ts2 = req.timeseries.add()
    ts2.labels.add(name="__name__", value="x")
    ts2.samples.add(value=-0.0, timestamp=5)
    req.metadata.add(type=1, metric_family_name="up", help="h", unit="")
    out = decode_write_request(compress(req.SerializeToString()), 1 << 20)
    assert out.series == [
        Labels({"__name__": "up", "job": "a"}.items()),
        Labels({"__name__": "x"}.items()),
    ]
    assert out.series_index.tolist() == [0, 0, 1]
    assert out.t.tolist() == [10, 20, 5]
    assert [bits(x) for x in out.v.tolist()] == [bits(1.0), bits(2.0), bits(-0.0)]
    assert out.histograms == 1
    assert out.metadata == [("up", "counter", "h", "")]


def test_decode_rejects_garbage_and_repeated_label_names() -> None:
    with pytest.raises(ProtocolError, match="cannot parse WriteRequest"):
        decode_write_request(compress(b"\x0a\x05\x0a"), 1 << 20)
    req = message_class("WriteRequest")()
    ts = req.timeseries.add()
    ts.labels.add(name="a", value="1")
    ts.labels.add(name="a", value="2")
    with pytest.raises(ProtocolError, match="duplicate label name 'a'"):
        decode_write_request(compress(req.SerializeToString()), 1 << 20)


def test_metadata_request() -> None:
    body = encode_metadata_request([("up", "gauge", "help me", ""), ("x", "weird", "", "bytes")])
    req = message_class("WriteRequest").FromString(body)
    got = [(m.metric_family_name, m.type, m.help, m.unit) for m in req.metadata]
    assert got == [("up", 2, "help me", ""), ("x", 0, "", "bytes")]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(label_sets, st.lists(st.tuples(timestamps, values), min_size=1, max_size=6)),
        min_size=0,
        max_size=5,
    )
)
def test_query_result_parses_back(series: list[tuple[Labels, list[tuple[int, float]]]]) -> None:
    labels = [s[0] for s in series]
    t = np.array([p[0] for s in series for p in s[1]], dtype=np.int64)
    v = np.array([p[1] for s in series for p in s[1]], dtype=np.float64)
    offsets = np.concatenate([[0], np.cumsum([len(s[1]) for s in series])]).astype(np.int64)
    body = encode_read_response([encode_query_result(labels, t, v, offsets), b""])
    resp = message_class("ReadResponse").FromString(body)
    assert len(resp.results) == 2
    assert len(resp.results[1].timeseries) == 0
    got = resp.results[0].timeseries
    assert len(got) == len(series)
    for ts, (ls, pts) in zip(got, series, strict=True):
        assert {lb.name: lb.value for lb in ts.labels} == ls.to_dict()
        assert [(s.timestamp, bits(s.value)) for s in ts.samples] == [(a, bits(b)) for a, b in pts]


def test_read_request_decoding() -> None:
    req = message_class("ReadRequest")()
    q = req.queries.add(start_timestamp_ms=1, end_timestamp_ms=2)
    q.matchers.add(type=0, name="__name__", value="up")
    q.matchers.add(type=3, name="job", value="a.*")
    req.accepted_response_types.append(1)
    queries, accepted = decode_read_request(compress(req.SerializeToString()), 1 << 20)
    assert accepted == [1]
    assert (queries[0].start_ms, queries[0].end_ms) == (1, 2)
    assert queries[0].matchers == [("=", "__name__", "up"), ("!~", "job", "a.*")]
