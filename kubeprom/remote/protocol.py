"""Prometheus remote write 1.0 and remote read (samples): the protobuf messages, snappy framing.

Wire format (``prompb/remote.proto`` and ``types.proto`` of Prometheus): a request body is a
protobuf message compressed with snappy's *block* format (not the framed/stream format,
which receivers reject).

The messages are declared here with the ``protobuf`` package's descriptor API (no generated
code, no build step) and parsed with its C implementation (upb): that is how requests are
*decoded* (receiver, remote read). *Encoding* a WriteRequest on the send path does not build
one message object per sample, which would be a Python loop per sample; instead
:class:`SeriesEncoder` keeps, per series, the bytes that precede a sample in a one-sample
``TimeSeries`` (its labels, as Prometheus sends them, one ``TimeSeries`` per sample) and a
batch is assembled from those prefixes and a numpy-built block of sample bytes with one
``bytes.join``. Tests parse the result with the library and compare.

Every float is written with its exact bits (Prometheus' gogo encoder omits a 0.0 value,
which also drops the sign of -0.0; a receiver reads the same numbers either way).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from kubeprom import __version__
from kubeprom.errors import KubepromError
from kubeprom.model.labels import Labels
from kubeprom.model.samples import F64Array, I64Array

if TYPE_CHECKING:
    from google.protobuf import descriptor_pb2

__all__ = [
    "READ_HEADERS",
    "WRITE_HEADERS",
    "ProtocolError",
    "SeriesEncoder",
    "compress",
    "decompress",
    "encode_labels",
    "encode_metadata_request",
    "encode_read_response",
    "message_class",
]

USER_AGENT = f"kubeprom/{__version__}"
WRITE_HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "User-Agent": USER_AGENT,
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
"""The headers Prometheus' remote write client sends (``storage/remote/client.go``)."""
READ_HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
}
"""Headers of a samples remote-read response."""


class ProtocolError(KubepromError):
    """A request body is not valid snappy or protobuf, or is too large once decompressed."""


# ---- message declarations ----------------------------------------------------------------

# protobuf (33 modules and the descriptor pool, about 2.5 MiB of the server's resident memory)
# and cramjam (snappy, 1.7 MiB, most of it its library's pages) are imported when a
# remote-write queue or a remote read or write request first needs them, not by every
# ``kubeprom run``: the scalar types are FieldDescriptorProto's names until then.
_SCALARS = ("double", "int64", "uint64", "sint32", "uint32", "bool", "string", "bytes")

# (message, [(field, number, type, repeated)]); a type that is not a scalar names a message
# or enum of the package. Histogram and Exemplar are read as raw bytes: kubeprom stores
# float samples only, and only needs to know that they are there.
_MESSAGES: list[tuple[str, list[tuple[str, int, str, bool]]]] = [
    (
        "MetricMetadata",
        [
            ("type", 1, "MetricMetadata.MetricType", False),
            ("metric_family_name", 2, "string", False),
            ("help", 4, "string", False),
            ("unit", 5, "string", False),
        ],
    ),
    ("Sample", [("value", 1, "double", False), ("timestamp", 2, "int64", False)]),
    ("Label", [("name", 1, "string", False), ("value", 2, "string", False)]),
    (
        "TimeSeries",
        [
            ("labels", 1, "Label", True),
            ("samples", 2, "Sample", True),
            ("exemplars", 3, "bytes", True),
            ("histograms", 4, "bytes", True),
        ],
    ),
    (
        "LabelMatcher",
        [
            ("type", 1, "LabelMatcher.Type", False),
            ("name", 2, "string", False),
            ("value", 3, "string", False),
        ],
    ),
    (
        "ReadHints",
        [
            ("step_ms", 1, "int64", False),
            ("func", 2, "string", False),
            ("start_ms", 3, "int64", False),
            ("end_ms", 4, "int64", False),
            ("grouping", 5, "string", True),
            ("by", 6, "bool", False),
            ("range_ms", 7, "int64", False),
        ],
    ),
    (
        "WriteRequest",
        [("timeseries", 1, "TimeSeries", True), ("metadata", 3, "MetricMetadata", True)],
    ),
    (
        "Query",
        [
            ("start_timestamp_ms", 1, "int64", False),
            ("end_timestamp_ms", 2, "int64", False),
            ("matchers", 3, "LabelMatcher", True),
            ("hints", 4, "ReadHints", False),
        ],
    ),
    (
        "ReadRequest",
        [
            ("queries", 1, "Query", True),
            ("accepted_response_types", 2, "ReadRequest.ResponseType", True),
        ],
    ),
    ("QueryResult", [("timeseries", 1, "TimeSeries", True)]),
    ("ReadResponse", [("results", 1, "QueryResult", True)]),
]
_ENUMS = {
    "MetricMetadata": (
        "MetricType",
        [
            "UNKNOWN",
            "COUNTER",
            "GAUGE",
            "HISTOGRAM",
            "GAUGEHISTOGRAM",
            "SUMMARY",
            "INFO",
            "STATESET",
        ],
    ),
    "LabelMatcher": ("Type", ["EQ", "NEQ", "RE", "NRE"]),
    "ReadRequest": ("ResponseType", ["SAMPLES", "STREAMED_XOR_CHUNKS"]),
}
_PACKAGE = "prometheus"


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    from google.protobuf import descriptor_pb2

    f = descriptor_pb2.FieldDescriptorProto
    fd = descriptor_pb2.FileDescriptorProto(
        name="kubeprom/prometheus_remote.proto", package=_PACKAGE, syntax="proto3"
    )
    for name, fields in _MESSAGES:
        msg = fd.message_type.add(name=name)
        if name in _ENUMS:
            enum_name, values = _ENUMS[name]
            enum = msg.enum_type.add(name=enum_name)
            for number, value in enumerate(values):
                enum.value.add(name=value, number=number)
        for fname, number, ftype, repeated in fields:
            field = msg.field.add(
                name=fname, number=number, label=f.LABEL_REPEATED if repeated else f.LABEL_OPTIONAL
            )
            if ftype in _SCALARS:
                field.type = getattr(f, f"TYPE_{ftype.upper()}")
            elif "." in ftype:
                field.type = f.TYPE_ENUM
                field.type_name = f".{_PACKAGE}.{ftype}"
            else:
                field.type = f.TYPE_MESSAGE
                field.type_name = f".{_PACKAGE}.{ftype}"
    return fd


@functools.cache
def _classes() -> dict[str, Any]:
    """The message classes by name, built on first use."""
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()  # private: never clashes with other protos
    pool.Add(_file_descriptor())  # type: ignore[no-untyped-call]  # stubs lack annotations
    find = pool.FindMessageTypeByName
    return {
        name: message_factory.GetMessageClass(find(f"{_PACKAGE}.{name}"))  # type: ignore[no-untyped-call]
        for name, _ in _MESSAGES
    }


def message_class(name: str) -> Any:
    """The protobuf class of a prompb message (``WriteRequest``, ``ReadRequest``, ...)."""
    return _classes()[name]


METRIC_TYPES = _ENUMS["MetricMetadata"][1]
"""``MetricMetadata.MetricType`` names by number (lower-cased, they are kubeprom's types)."""


# ---- snappy block format --------------------------------------------------------------------


def compress(data: bytes) -> bytes:
    """Snappy block format (what ``Content-Encoding: snappy`` means in remote write)."""
    import cramjam

    return bytes(cramjam.snappy.compress_raw(data))


def decompress(data: bytes, max_bytes: int) -> bytes:
    """Undo :func:`compress`; refuses bodies that would exceed ``max_bytes`` when expanded.

    Raises :class:`ProtocolError` (the message is snappy's, as Prometheus relays it).
    """
    import cramjam

    try:
        size = cramjam.snappy.decompress_raw_len(data)
    except cramjam.DecompressionError as err:
        raise ProtocolError(f"snappy: corrupt input: {err}") from err
    if size > max_bytes:
        raise ProtocolError(f"snappy: decoded length {size} exceeds the limit of {max_bytes} bytes")
    try:
        return bytes(cramjam.snappy.decompress_raw(data))
    except cramjam.DecompressionError as err:
        raise ProtocolError(f"snappy: corrupt input: {err}") from err


# ---- protobuf primitives ------------------------------------------------------------------------


def varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative int (int64 negatives: pass ``v % 2**64``)."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def encode_labels(labels: Labels) -> bytes:
    """The ``labels`` fields of a TimeSeries: one ``Label`` message per pair, name order.

    Serialized by the library (once per series; the send path reuses the bytes).
    """
    flat = labels.flat
    classes = _classes()
    ts = classes["TimeSeries"]()
    label = classes["Label"]
    ts.labels.extend(label(name=flat[i], value=flat[i + 1]) for i in range(0, len(flat), 2))
    return bytes(ts.SerializeToString())


_U64 = np.uint64
# Varint lengths: a uint64 needs k+1 bytes when it is >= 2**(7k), k = 1..9.
_VARINT_STEPS = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)
_SHIFTS = np.arange(0, 70, 7, dtype=np.uint64)  # bit offset of each varint byte


def varint_lengths(values: I64Array) -> I64Array:
    """Bytes of the int64 varint of each value (negatives take 10, as two's complement)."""
    u = values.astype(np.int64, copy=False).view(np.uint64)
    lengths: I64Array = 1 + np.searchsorted(_VARINT_STEPS, u, side="right").astype(np.int64)
    return lengths


def varint_columns(values: I64Array, width: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """``n x width`` bytes: the varint of each value, all of exactly ``width`` bytes."""
    u = values.astype(np.int64, copy=False).view(np.uint64)
    groups = (u[:, None] >> _SHIFTS[:width]) & _U64(0x7F)
    groups[:, :-1] |= _U64(0x80)  # continuation bit on every byte but the last
    return groups.astype(np.uint8)


def _sample_blocks(t: I64Array, v: F64Array, *, as_field: bool) -> tuple[list[bytes], I64Array]:
    """Per sample, the ``Sample`` message ``0x09 <value bits> 0x10 <varint t>`` as one bytes
    object; with ``as_field``, preceded by its ``samples`` field header ``0x12 <length>``.

    Returns the list (sample order) and each sample's timestamp varint length. Built per
    distinct varint length with numpy; only C-level loops touch individual samples.
    """
    n = t.size
    tlen = varint_lengths(t)
    if n == 0:
        return [], tlen
    values = np.ascontiguousarray(v, dtype="<f8").view(np.uint8).reshape(n, 8)
    lo, hi = int(tlen.min()), int(tlen.max())
    # Timestamps of one batch nearly always share a varint length: skip the sort then.
    lengths = np.array([lo]) if lo == hi else np.unique(tlen)
    groups: list[tuple[I64Array | None, list[bytes]]] = []
    for width in lengths.tolist():
        idx = None if lengths.size == 1 else np.flatnonzero(tlen == width)
        rows = n if idx is None else idx.size
        h = np.array([0x12, 10 + width] if as_field else [], dtype=np.uint8)
        block = np.empty((rows, h.size + 10 + width), dtype=np.uint8)
        block[:, : h.size] = h
        block[:, h.size] = 0x09
        block[:, h.size + 1 : h.size + 9] = values if idx is None else values[idx]
        block[:, h.size + 9] = 0x10
        block[:, h.size + 10 :] = varint_columns(t if idx is None else t[idx], width)
        # A void view keeps trailing zero bytes (an "S" view would strip them).
        groups.append((idx, block.view(f"V{block.shape[1]}").ravel().tolist()))
    if len(groups) == 1:
        return groups[0][1], tlen
    merged = np.empty(n, dtype=object)
    for idx, items in groups:
        part = np.empty(len(items), dtype=object)
        part[:] = items
        merged[idx] = part
    return merged.tolist(), tlen


class SeriesEncoder:
    """Builds WriteRequest bodies for series known by ref. One per queue; not task-safe.

    ``set(ref, labels)`` registers a series' final labels (after external labels and
    ``write_relabel_configs``). :meth:`write_request` then encodes samples by ref, one
    ``TimeSeries`` per sample in the given order, as Prometheus' queue manager does.
    """

    def __init__(self) -> None:
        self._labels: dict[int, bytes] = {}
        # (ref << 4 | varint length of t) -> bytes of a TimeSeries field up to the value.
        self._prefix: dict[int, bytes] = {}

    def __len__(self) -> int:
        return len(self._labels)

    def set(self, ref: int, labels: Labels) -> None:
        self._labels[ref] = encode_labels(labels)

    def discard(self, ref: int) -> None:
        self._labels.pop(ref, None)

    def _prefixes(self, keys: list[int]) -> list[bytes]:
        try:
            return list(map(self._prefix.__getitem__, keys))
        except KeyError:
            for key in set(keys).difference(self._prefix):
                ref, tlen = key >> 4, key & 0xF
                labels = self._labels[ref]
                sample_len = 10 + tlen  # 0x09 + 8 value bytes + 0x10 + the varint
                self._prefix[key] = (
                    b"\x0a"
                    + varint(len(labels) + 2 + sample_len)
                    + labels
                    + b"\x12"
                    + bytes([sample_len])
                )
            return list(map(self._prefix.__getitem__, keys))

    def write_request(self, refs: I64Array, t: I64Array, v: F64Array) -> bytes:
        """The (uncompressed) WriteRequest: sample ``i`` of series ``refs[i]`` at ``t[i]``.

        Every ref must have been :meth:`set`. Raises KeyError for an unknown ref.
        """
        if refs.size == 0:
            return b""
        samples, tlen = _sample_blocks(t, v, as_field=False)
        keys = ((refs.astype(np.int64) << 4) | tlen).tolist()
        parts: list[bytes] = [b""] * (2 * refs.size)
        parts[0::2] = self._prefixes(keys)
        parts[1::2] = samples
        return b"".join(parts)

    def forget_prefixes(self) -> None:
        """Drop cached prefixes (they are rebuilt on demand)."""
        self._prefix.clear()


def encode_metadata_request(entries: Sequence[tuple[str, str, str, str]]) -> bytes:
    """A WriteRequest of metadata only: (metric family, type, help, unit) per entry."""
    req = message_class("WriteRequest")()
    for name, type_, help_, unit in entries:
        upper = type_.upper()
        req.metadata.add(
            type=METRIC_TYPES.index(upper) if upper in METRIC_TYPES else 0,
            metric_family_name=name,
            help=help_,
            unit=unit,
        )
    return bytes(req.SerializeToString())


# ---- remote read response ------------------------------------------------------------------


def encode_query_result(
    labels: Sequence[Labels], t: I64Array, v: F64Array, offsets: I64Array
) -> bytes:
    """A ``QueryResult``: series ``i`` is ``labels[i]`` with samples ``offsets[i]:offsets[i+1]``.

    Sample bytes are built for all series at once; the loop here is per series.
    """
    if not labels:
        return b""
    t = np.ascontiguousarray(t, dtype=np.int64)
    fields, tlen = _sample_blocks(t, np.ascontiguousarray(v, dtype=np.float64), as_field=True)
    blob = b"".join(fields)
    # Byte offset in ``blob`` where each series' samples start and end.
    byte_off = np.concatenate([[0], np.cumsum(12 + tlen)])[offsets].tolist()
    out: list[bytes] = []
    for i, ls in enumerate(labels):
        start, end = byte_off[i], byte_off[i + 1]
        encoded = encode_labels(ls)
        out += [b"\x0a", varint(len(encoded) + end - start), encoded, blob[start:end]]
    return b"".join(out)


def encode_read_response(results: Sequence[bytes]) -> bytes:
    """A ``ReadResponse`` of already encoded ``QueryResult`` messages (one per query)."""
    return b"".join(_field_bytes(1, r) for r in results)


# ---- decoding requests ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DecodedWrite:
    """A WriteRequest's float samples: sample ``i`` belongs to ``series[series_index[i]]``.

    Samples keep the request's order. ``histograms`` and ``exemplars`` count what the
    request carried besides float samples (kubeprom stores neither).
    """

    series: list[Labels]
    series_index: I64Array
    t: I64Array
    v: F64Array
    histograms: int
    exemplars: int
    metadata: list[tuple[str, str, str, str]]


def decode_write_request(body: bytes, max_bytes: int) -> DecodedWrite:
    """Decompress and parse a remote write body.

    Raises :class:`ProtocolError` for bad snappy or protobuf, and for a label set with a
    repeated name (:class:`~kubeprom.errors.ValidationError` turned into the same).
    """
    from google.protobuf.message import DecodeError

    data = decompress(body, max_bytes)
    req = message_class("WriteRequest")()
    try:
        req.ParseFromString(data)
    except DecodeError as err:
        raise ProtocolError(f"cannot parse WriteRequest: {err}") from err
    series: list[Labels] = []
    counts: list[int] = []
    values: list[float] = []
    stamps: list[int] = []
    histograms = exemplars = 0
    cache: dict[tuple[str, ...], Labels] = {}
    # One iteration per TimeSeries: the library exposes no columnar access to messages.
    for ts in req.timeseries:
        key = tuple(s for label in ts.labels for s in (label.name, label.value))
        labels = cache.get(key)
        if labels is None:
            try:
                labels = Labels(zip(key[0::2], key[1::2], strict=True))
            except KubepromError as err:
                raise ProtocolError(str(err)) from err
            cache[key] = labels
        series.append(labels)
        samples = ts.samples
        counts.append(len(samples))
        values += [s.value for s in samples]
        stamps += [s.timestamp for s in samples]
        histograms += len(ts.histograms)
        exemplars += len(ts.exemplars)
    metadata = [(m.metric_family_name, _metric_type(m.type), m.help, m.unit) for m in req.metadata]
    return DecodedWrite(
        series=series,
        series_index=np.repeat(np.arange(len(series), dtype=np.int64), counts),
        t=np.array(stamps, dtype=np.int64),
        v=np.array(values, dtype=np.float64),
        histograms=histograms,
        exemplars=exemplars,
        metadata=metadata,
    )


def _metric_type(number: int) -> str:
    return METRIC_TYPES[number].lower() if 0 <= number < len(METRIC_TYPES) else "unknown"


@dataclass(frozen=True, slots=True)
class ReadQuery:
    """One query of a ReadRequest: matchers as (type, name, value), bounds inclusive (ms)."""

    start_ms: int
    end_ms: int
    matchers: list[tuple[str, str, str]]


MATCH_TYPES = ("=", "!=", "=~", "!~")
"""``LabelMatcher.Type`` by number, as PromQL spells them."""


def decode_read_request(body: bytes, max_bytes: int) -> tuple[list[ReadQuery], list[int]]:
    """The queries and accepted response types of a remote read body; ProtocolError if bad."""
    from google.protobuf.message import DecodeError

    data = decompress(body, max_bytes)
    req = message_class("ReadRequest")()
    try:
        req.ParseFromString(data)
    except DecodeError as err:
        raise ProtocolError(f"cannot parse ReadRequest: {err}") from err
    queries = []
    for q in req.queries:
        matchers = []
        for m in q.matchers:
            if m.type >= len(MATCH_TYPES):
                raise ProtocolError(f"invalid matcher type {m.type}")
            matchers.append((MATCH_TYPES[m.type], m.name, m.value))
        queries.append(ReadQuery(q.start_timestamp_ms, q.end_timestamp_ms, matchers))
    return queries, list(req.accepted_response_types)
