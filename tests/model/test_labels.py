"""Labels: canonical form, equality and ordering, rendering, and name validation."""

from __future__ import annotations

import functools

import pytest
import xxhash
from hypothesis import given
from hypothesis import strategies as st

from kubeprom.errors import ValidationError
from kubeprom.model import (
    EMPTY,
    Labels,
    validate_label_name,
    validate_labels,
    validate_metric_name,
)


def test_pairs_are_sorted_by_name_whatever_the_input_order() -> None:
    lab = Labels([("zone", "eu"), ("__name__", "up"), ("job", "node"), ("a", "1")])
    assert lab.flat == ("__name__", "up", "a", "1", "job", "node", "zone", "eu")
    assert list(lab) == [("__name__", "up"), ("a", "1"), ("job", "node"), ("zone", "eu")]
    assert lab.names() == ("__name__", "a", "job", "zone")


def test_empty_values_are_dropped() -> None:
    lab = Labels([("__name__", "up"), ("gone", ""), ("job", "node")])
    assert lab.flat == ("__name__", "up", "job", "node")
    assert len(lab) == 2
    assert not lab.has("gone")
    assert lab.get("gone", "default") == "default"
    assert Labels([("only", "")]) == EMPTY
    assert lab.with_labels({"job": ""}) == Labels([("__name__", "up")])


@pytest.mark.parametrize(
    "pairs",
    [
        [("a", "1"), ("a", "2")],
        [("a", "1"), ("a", "1")],
        [("b", "x"), ("a", "1"), ("b", "y")],
    ],
    ids=["different-values", "same-value", "not-adjacent-in-input"],
)
def test_duplicate_names_are_rejected(pairs: list[tuple[str, str]]) -> None:
    with pytest.raises(ValidationError, match=r"duplicate label name '(a|b)'"):
        Labels(pairs)


def test_equality_and_hash_are_by_content() -> None:
    a = Labels([("job", "node"), ("__name__", "up")])
    b = Labels.from_dict({"__name__": "up", "job": "node", "empty": ""})
    c = Labels([("__name__", "up"), ("job", "other")])
    assert a == b
    assert hash(a) == hash(b)
    assert a != c
    assert len({a, b, c}) == 2
    assert {a: 1}[b] == 1
    assert a != ("__name__", "up", "job", "node")  # not equal to its flat tuple
    assert Labels.from_flat(a.flat) == a


def _prometheus_compare(a: Labels, b: Labels) -> int:
    """Prometheus' labels.Compare, transcribed from model/labels/labels_slicelabels.go."""
    x, y = list(a), list(b)
    for (an, av), (bn, bv) in zip(x, y, strict=False):
        if an != bn:
            return -1 if an < bn else 1
        if av != bv:
            return -1 if av < bv else 1
    return len(x) - len(y)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"a": "1"}, {"b": "0"}),  # names decide before values
        ({"a": "1"}, {"a": "2"}),
        ({"a": "1"}, {"a": "1", "b": "0"}),  # a prefix sorts first
        ({"a": "1", "b": "0"}, {"a": "2"}),  # ... but only when it is a prefix
        ({"a": "1", "b": "9"}, {"a": "1", "c": "0"}),
        ({"a": "Z"}, {"a": "a"}),  # byte order, not case-insensitive
        ({"a": "10"}, {"a": "9"}),  # strings, not numbers
        ({}, {"a": "1"}),
    ],
    ids=[
        "name-first",
        "value",
        "prefix-first",
        "value-beats-length",
        "second-name",
        "case",
        "not-numeric",
        "empty-first",
    ],
)
def test_ordering_examples(a: dict[str, str], b: dict[str, str]) -> None:
    la, lb = Labels.from_dict(a), Labels.from_dict(b)
    assert la < lb
    assert not lb < la
    assert _prometheus_compare(la, lb) < 0


label_sets = st.dictionaries(
    st.sampled_from(["__name__", "a", "b", "job", "é"]),
    st.text(alphabet="ab9Zé\n", min_size=0, max_size=3),
    max_size=4,
).map(Labels.from_dict)


@given(st.lists(label_sets, max_size=12))
def test_ordering_equals_prometheus_labels_compare(sets: list[Labels]) -> None:
    got = sorted(sets)
    want = sorted(sets, key=functools.cmp_to_key(_prometheus_compare))
    assert [x.flat for x in got] == [x.flat for x in want]
    for x in sets:
        for y in sets:
            cmp = _prometheus_compare(x, y)
            assert (x < y) == (cmp < 0)
            assert (x == y) == (cmp == 0)


@pytest.mark.parametrize(
    ("pairs", "want"),
    [
        ({"__name__": "up", "a": "b", "c": "d\n"}, 'up{a="b", c="d\\n"}'),
        ({"__name__": "up"}, "up"),
        ({"a": "b"}, '{a="b"}'),
        ({}, "{}"),
        ({"__name__": "x", "q": 'say "hi"', "p": "C:\\dir"}, 'x{p="C:\\\\dir", q="say \\"hi\\""}'),
        ({"__name__": "x", "a": "\t\x01\u00a0é"}, 'x{a="\\t\\x01\\u00a0é"}'),
        # Metric.String sorts the `name="value"` texts: "a0=..." sorts before "a=...".
        ({"a": "1", "a0": "2"}, '{a0="2", a="1"}'),
    ],
    ids=[
        "newline-escaped",
        "name-only",
        "no-name",
        "empty",
        "quote-and-backslash",
        "strconv-quote",
        "sorted-as-text",
    ],
)
def test_str_is_prometheus_metric_notation(pairs: dict[str, str], want: str) -> None:
    assert str(Labels.from_dict(pairs)) == want


@pytest.mark.parametrize(
    ("pairs", "want"),
    [
        ({"__name__": "up", "job": "a"}, '{__name__="up", job="a"}'),
        ({}, "{}"),
        ({"a": 'x"y\\n'}, '{a="x\\"y\\\\n"}'),
        ({"a.b": "1", "c": "\n"}, '{"a.b"="1", c="\\n"}'),  # a name outside the legacy set
        ({"a": "1", "a0": "2"}, '{a="1", a0="2"}'),  # by name, unlike Metric.String
    ],
    ids=["name-inside", "empty", "escapes", "utf8-name-quoted", "name-order"],
)
def test_braced_is_prometheus_labels_string(pairs: dict[str, str], want: str) -> None:
    assert Labels.from_dict(pairs).braced() == want


# ---- Labels.hash: Prometheus' Labels.Hash() ---------------------------------------------------


@pytest.mark.parametrize(
    ("data", "want"),
    [
        (b"", 0xEF46DB3751D8E999),
        (b"a", 0xD24EC4F1A98C6E5B),
        (b"abc", 0x44BC2CF5AD770999),
        (b"Nobody inspects the spammish repetition", 0xFBCEA83C8A378BF1),
        # Prometheus' TestStableHash: {hello="world"} and {__name__="metric", label="value"}
        # in the 0xff-separated form (what 2.x's Labels.Hash() and StableHash() hash).
        (b"hello\xffworld\xff", 0x347C8EE7A9E29708),
        (b"__name__\xffmetric\xfflabel\xffvalue\xff", 0xCBAB40540F26097D),
    ],
    ids=["empty", "a", "abc", "long", "stablehash-hello", "stablehash-metric"],
)
def test_xxhash_package_computes_go_xxhash_sum64(data: bytes, want: int) -> None:
    # The vectors are XXH64's reference values and Prometheus' own expectations.
    assert xxhash.xxh64_intdigest(data) == want


@pytest.mark.parametrize(
    ("pairs", "encoded"),
    [
        ({}, b""),
        ({"hello": "world"}, b"\x05hello\x05world"),
        ({"label": "value", "__name__": "metric"}, b"\x08__name__\x06metric\x05label\x05value"),
        ({"a": "é"}, b"\x01a\x02\xc3\xa9"),  # lengths count UTF-8 bytes
        ({"a": "v" * 254}, b"\x01a\xfe" + b"v" * 254),  # the largest one-byte length
        ({"a": "v" * 255}, b"\x01a\xff\xff\x00\x00" + b"v" * 255),  # 0xff + 3 bytes LE
        ({"a": "v" * 70_000}, b"\x01a\xff\x70\x11\x01" + b"v" * 70_000),
    ],
    ids=["empty", "one", "sorted", "utf8", "254", "255", "70000"],
)
def test_hash_is_xxh64_of_the_stringlabels_encoding(pairs: dict[str, str], encoded: bytes) -> None:
    assert Labels.from_dict(pairs).hash() == xxhash.xxh64_intdigest(encoded)


def test_hash_values_pinned() -> None:
    # Computed from the encodings above with the reference XXH64 (the pure-Python one this
    # replaced agreed); a change here changes which series limit_ratio keeps.
    assert Labels.from_dict({"hello": "world"}).hash() == 0x69C0684E519BCEC4
    assert Labels.from_dict({"__name__": "metric", "label": "value"}).hash() == 0xBC49F7D3A647B9B5


def test_hash_carries_invalid_utf8_bytes_as_they_are() -> None:
    raw = b"a\xc5z"
    lab = Labels.from_dict({"v": raw.decode("utf-8", "surrogateescape")})
    assert lab.hash() == xxhash.xxh64_intdigest(b"\x01v\x03" + raw)


@given(st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=300), max_size=4))
def test_hash_is_by_content(pairs: dict[str, str]) -> None:
    a = Labels.from_dict(pairs)
    b = Labels(reversed(list(pairs.items())))
    assert a.hash() == b.hash()
    assert 0 <= a.hash() < 2**64


@pytest.mark.parametrize(
    "name",
    ["up", "node_cpu_seconds_total", "job:http_requests:rate5m", ":leading_colon", "_x", "A9"],
)
def test_valid_metric_names(name: str) -> None:
    validate_metric_name(name)


@pytest.mark.parametrize(
    "name",
    ["", "9up", "a-b", "a b", "a.b", "température", "up\n", "a{b}"],
    ids=["empty", "digit-first", "dash", "space", "dot", "non-ascii", "newline", "braces"],
)
def test_invalid_metric_names(name: str) -> None:
    with pytest.raises(ValidationError, match=r"^invalid metric name "):
        validate_metric_name(name)


@pytest.mark.parametrize("name", ["a", "_a", "__name__", "__meta_kubernetes_pod", "Pod9"])
def test_valid_label_names(name: str) -> None:
    validate_label_name(name)


@pytest.mark.parametrize(
    "name",
    ["", "a:b", ":a", "9a", "a-b", "é", "a\n"],
    ids=["empty", "colon", "leading-colon", "digit-first", "dash", "non-ascii", "newline"],
)
def test_invalid_label_names(name: str) -> None:
    with pytest.raises(ValidationError, match=r"^invalid label name "):
        validate_label_name(name)


def test_validate_labels_accepts_a_legal_series() -> None:
    validate_labels(Labels.from_dict({"__name__": "a:b", "job": "node", "v": "any text é\n"}))


@pytest.mark.parametrize(
    ("pairs", "match"),
    [
        ({"job": "node"}, r"series \{job=\"node\"\} has no metric name"),
        ({}, r"series \{\} has no metric name"),
        ({"__name__": "9up"}, r"invalid metric name '9up'"),
        ({"__name__": "up", "a:b": "x"}, r"invalid label name 'a:b'"),
        ({"__name__": "up", "v": "\ud800"}, r"label 'v' has a value that is not valid UTF-8"),
    ],
    ids=["name-missing", "empty-set", "bad-metric-name", "colon-in-label-name", "lone-surrogate"],
)
def test_validate_labels_rejects(pairs: dict[str, str], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        validate_labels(Labels.from_dict(pairs))
