"""The careful, one-line-at-a-time parser: the authority on what a line means.

The bulk parser in :mod:`.parser` hands every line it cannot prove simple to
:func:`parse_line` (exemplars, label values with blanks, odd whitespace, errors). It follows
Prometheus' lexers (``promlex.l``, ``openmetricslex.l``) token by token:

* text format 0.0.4: blanks and tabs may separate tokens (and may lead or trail); the
  timestamp is integer milliseconds; ``#`` lines other than ``# HELP``/``# TYPE`` are comments.
* OpenMetrics 1.0: single spaces only; the timestamp is float seconds (converted to ms,
  round half to even); an exemplar `` # {...} value [ts]`` may end a sample and is checked,
  then ignored; the only comments are ``# HELP``, ``# TYPE``, ``# UNIT`` and ``# EOF``.

Errors are :class:`MalformedLine` carrying the message; the caller adds source and line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from kubeprom.model.labels import Labels, is_metric_name
from kubeprom.tsdb.api import MetricMetadata, MetricType

from .errors import MalformedLine, show
from .floats import MISSING, parse_float, parse_int_ms, parse_seconds_ms
from .metadata import OPENMETRICS_TYPES, TEXT_TYPES, float_label
from .series import build_labels, scan_labels, scan_series, skip_blanks, unescape

_TEXT_META = re.compile(rb"#[ \t]+(HELP|TYPE)[ \t]+")
_OM_META = re.compile(rb"# (HELP|TYPE|UNIT) ")
_META_NAME = re.compile(rb'"(?:[^"\\]|\\.)*"|[a-zA-Z_:][a-zA-Z0-9_:]*')
_TEXT_VALUE = re.compile(rb"[^{ \t]+")
_NON_BLANK = re.compile(rb"[^ \t]+")
_HELP_ESCAPE = re.compile(rb"\\([\\n])")
_EXEMPLAR = b" # {"

_HASH = ord("#")
_SPACE = ord(" ")


@dataclass(frozen=True, slots=True)
class SampleLine:
    """One sample: its series text (as written), labels, value and timestamp (or MISSING)."""

    series: bytes
    labels: Labels
    value: float
    t_ms: int


@dataclass(frozen=True, slots=True)
class MetaLine:
    """A ``# HELP`` / ``# TYPE`` / ``# UNIT`` / ``# EOF`` line."""

    kind: Literal["help", "type", "unit", "eof"]
    name: str = ""
    help: str = ""
    type: MetricType = MetricType.UNKNOWN
    unit: str = ""


def parse_line(
    line: bytes, *, openmetrics: bool, metadata: Mapping[str, MetricMetadata]
) -> SampleLine | MetaLine | None:
    """Parse one line (without its newline). None means nothing to record (blank, comment).

    ``metadata`` holds the families declared so far; it decides which ``le``/``quantile``
    labels are normalised.
    """
    if openmetrics:
        if not line:
            raise MalformedLine("empty line (OpenMetrics has no blank lines)")
        if line[0] == _HASH:
            return parse_comment(line, openmetrics=True)
        return _om_sample(line, metadata)
    start = skip_blanks(line)
    if start == len(line):
        return None
    if line[start] == _HASH:
        return parse_comment(line[start:], openmetrics=False)
    return _text_sample(line, start, metadata)


def parse_comment(line: bytes, *, openmetrics: bool) -> MetaLine | None:
    """A line starting with ``#``: metadata, or None for a plain text-format comment."""
    if openmetrics:
        if line == b"# EOF":
            return MetaLine("eof")
        match = _OM_META.match(line)
        if match is None:
            raise MalformedLine(
                f"expected '# HELP', '# TYPE', '# UNIT' or '# EOF', got {show(line)}"
            )
    else:
        match = _TEXT_META.match(line)
        if match is None:
            return None  # an ordinary comment
    keyword = match.group(1).decode()
    name_match = _META_NAME.match(line, match.end())
    if name_match is None:
        raise MalformedLine(
            f"expected metric name after '# {keyword}', got {_rest(line, match.end())}"
        )
    raw_name = name_match.group()
    name = (
        unescape(raw_name[1:-1]).decode("utf-8", "replace")
        if raw_name[:1] == b'"'
        else raw_name.decode()
    )
    if not is_metric_name(name):
        raise MalformedLine(f"invalid metric name {name!r} in '# {keyword}' line")
    p = name_match.end()
    if p < len(line) and line[p] not in (b" " if openmetrics else b" \t"):
        raise MalformedLine(f"invalid metric name {show(line[match.end() :].split()[0])}")
    if openmetrics and p == len(line):
        raise MalformedLine(f"expected text after metric name in '# {keyword}' line")
    text = line[p + 1 :]  # Prometheus drops exactly one separator
    if keyword == "HELP":
        return MetaLine("help", name, help=_help_text(text, openmetrics))
    if keyword == "TYPE":
        mtype = (OPENMETRICS_TYPES if openmetrics else TEXT_TYPES).get(text)
        if mtype is None:
            raise MalformedLine(f"invalid metric type {show(text)} for {name!r}")
        return MetaLine("type", name, type=mtype)
    unit = _utf8(text, f"unit of {name!r}")
    if unit and not name.endswith("_" + unit):
        raise MalformedLine(f"unit {unit!r} is not a suffix of metric {name!r}")
    return MetaLine("unit", name, unit=unit)


def _help_text(text: bytes, openmetrics: bool) -> str:
    if b"\\" in text:
        # OpenMetrics escapes HELP like a label value; the text format only \\ and \n.
        text = (
            unescape(text)
            if openmetrics
            else _HELP_ESCAPE.sub(lambda m: b"\\" if m.group(1) == b"\\" else b"\n", text)
        )
    return _utf8(text, "help text")


def _utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise MalformedLine(f"{what} is not valid UTF-8: {show(raw)}") from err


def _text_sample(line: bytes, start: int, metadata: Mapping[str, MetricMetadata]) -> SampleLine:
    end, name, pairs = scan_series(line, start, strict=False)
    series = line[start:end]
    labels = build_labels(name, pairs, float_label(name, metadata))
    p = skip_blanks(line, end)
    value_match = _TEXT_VALUE.match(line, p)
    if value_match is None:
        raise MalformedLine(f"expected value after series {show(series)}, got {_rest(line, p)}")
    value = _value(value_match.group(), series)
    p = skip_blanks(line, value_match.end())
    if p == len(line):
        return SampleLine(series, labels, value, MISSING)
    ts_match = _NON_BLANK.match(line, p)
    token = ts_match.group() if ts_match else line[p:]
    try:
        t_ms = parse_int_ms(token)
    except ValueError:
        raise MalformedLine(
            f"expected integer timestamp (ms) after the value of {show(series)}, got {show(token)}"
        ) from None
    p = skip_blanks(line, p + len(token))
    if p != len(line):
        raise MalformedLine(f"unexpected {show(line[p:])} after the timestamp of {show(series)}")
    return SampleLine(series, labels, value, t_ms)


def _om_sample(line: bytes, metadata: Mapping[str, MetricMetadata]) -> SampleLine:
    end, name, pairs = scan_series(line, 0, strict=True)
    series = line[:end]
    labels = build_labels(name, pairs, float_label(name, metadata))
    if end == len(line):
        raise MalformedLine(f"expected value after series {show(series)}, got end of line")
    if line[end] != _SPACE:
        raise MalformedLine(
            f"expected ' ' and a value after series {show(series)}, got {show(line[end:])}"
        )
    token, p = _om_token(line, end + 1)
    if not token:
        raise MalformedLine(
            f"expected value after series {show(series)}, got {_rest(line, end + 1)}"
        )
    value = _value(token, series)
    t_ms = MISSING
    if p < len(line) and not line.startswith(_EXEMPLAR, p):
        token, p = _om_token(line, p + 1)
        try:
            t_ms = parse_seconds_ms(token)
        except ValueError:
            raise MalformedLine(
                f"expected timestamp (seconds) after the value of {show(series)}, got {show(token)}"
            ) from None
    if p < len(line):
        if not line.startswith(_EXEMPLAR, p):
            raise MalformedLine(f"unexpected {show(line[p:])} after the sample of {show(series)}")
        _exemplar(line, p + len(_EXEMPLAR) - 1, series)
    return SampleLine(series, labels, value, t_ms)


def _exemplar(line: bytes, p: int, series: bytes) -> None:
    """Check an exemplar ``{labels} value [timestamp]`` at ``line[p]`` (which is ``{``)."""
    try:
        end, _, _ = scan_labels(line, p, strict=True, name=None, exemplar=True)
    except MalformedLine as err:
        raise MalformedLine(f"bad exemplar of {show(series)}: {err.message}") from None
    if end >= len(line) or line[end] != _SPACE:
        raise MalformedLine(f"expected ' ' and a value after the exemplar labels of {show(series)}")
    token, p = _om_token(line, end + 1)
    try:
        parse_float(token)
        if p < len(line):
            token, p = _om_token(line, p + 1)
            parse_seconds_ms(token)
    except ValueError:
        raise MalformedLine(f"bad exemplar of {show(series)}: cannot parse {show(token)}") from None
    if p < len(line):
        raise MalformedLine(f"unexpected {show(line[p:])} after the exemplar of {show(series)}")


def _om_token(line: bytes, p: int) -> tuple[bytes, int]:
    end = line.find(b" ", p)
    end = len(line) if end < 0 else end
    return line[p:end], end


def _value(token: bytes, series: bytes) -> float:
    try:
        return parse_float(token)
    except ValueError:
        raise MalformedLine(
            f"expected value after series {show(series)}, got {show(token)}"
        ) from None


def _rest(line: bytes, p: int) -> str:
    return show(line[p:]) if p < len(line) else "end of line"
