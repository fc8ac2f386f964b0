"""The series notation of promqltest ``load`` blocks and promtool's ``input_series``.

A line is a series description followed by values: ``name{a="b"} 0+10x3 _ stale``. Values
expand as upstream's series-description grammar does (``promql/parser``): ``a`` one value;
``axn`` n+1 copies of ``a``; ``a+bxn`` / ``a-bxn`` n+1 values, each the previous plus ``b``
by repeated float addition (so ``0+0.1x10`` ends at 0.9999999999999999, as in Go); ``_`` one
omitted value and ``_xn`` n of them; ``stale`` a staleness marker; ``{{...}}`` a native
histogram (kept as :data:`HIST`, which kubeprom does not evaluate). There is no hexadecimal in
this notation: ``0x720`` is 0 repeated 721 times.

Label values may be written in double quotes, single quotes or backticks, as PromQL strings.
Malformed input raises :class:`~kubeprom.errors.FormatError` naming the line.
"""

from __future__ import annotations

import re

from kubeprom.errors import FormatError
from kubeprom.model.gofmt import unescape
from kubeprom.model.labels import METRIC_NAME, Labels
from kubeprom.model.samples import STALE_NAN

HIST = object()
"""A native histogram value position."""

Item = float | None | object
"""A value position: a float, ``None`` for an omitted one, :data:`HIST` for a histogram."""

_NUM = (
    r"[+-]?(?:[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN]"
    r"|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
)
_SEQ = re.compile(rf"^({_NUM})(?:([+-])({_NUM}))?x(\d+)$")
_ONE = re.compile(rf"^{_NUM}$")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'
_LABEL = re.compile(rf"\s*([a-zA-Z_][a-zA-Z0-9_]*|\"(?:[^\"\\]|\\.)*\")\s*=\s*({_STRING})\s*")


def string_literal(text: str) -> str:
    """The value of a PromQL string literal (quotes removed, escapes applied)."""
    if text.startswith("`"):
        return text[1:-1]
    return unescape(text[1:-1])


def parse_series(line: str, no: int) -> tuple[Labels, list[Item]]:
    """A series line: ``name{a="b"} items...`` -> labels and value positions.

    ``no`` is the line number errors name.
    """
    pairs: dict[str, str] = {}
    i = 0
    line = line.strip()
    m = _IDENT.match(line)
    if m is not None and not line.startswith("{"):
        pairs[METRIC_NAME] = m.group()
        i = m.end()
    if i < len(line) and line[i] == "{":
        i += 1
        while True:
            while i < len(line) and line[i] in " \t,":
                i += 1
            if i < len(line) and line[i] == "}":
                i += 1
                break
            lm = _LABEL.match(line, i)
            if lm is None:
                if line.startswith('"', i):
                    end = line.find('"', i + 1)
                    if end < 0:
                        raise FormatError(f"invalid series description {line!r}", line=no)
                    pairs[METRIC_NAME] = unescape(line[i + 1 : end])
                    i = end + 1
                    continue
                raise FormatError(f"invalid series description {line!r}", line=no)
            name = lm.group(1)
            if name.startswith('"'):
                name = unescape(name[1:-1])
            pairs[name] = string_literal(lm.group(2))
            i = lm.end()
    if not pairs and i == 0:
        raise FormatError(f"invalid series description {line!r}", line=no)
    if i < len(line) and line[i] not in " \t":
        raise FormatError(f"invalid series description {line!r}", line=no)
    return Labels(pairs.items()), parse_items(line[i:], no)


def parse_labels(text: str, no: int) -> Labels:
    """A series description without values (``parser.ParseMetric``); empty text is the
    empty label set."""
    if not text.strip():
        return Labels()
    labels, items = parse_series(text, no)
    if items:
        raise FormatError(f"invalid series description {text!r}: unexpected values", line=no)
    return labels


def _split_items(text: str) -> list[str]:
    """Whitespace-separated items, keeping ``{{...}}`` histogram literals whole."""
    items: list[str] = []
    cur = ""
    depth = 0
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch in " \t\n" and depth == 0:
            if cur:
                items.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        items.append(cur)
    return items


def parse_items(text: str, no: int) -> list[Item]:
    """The value positions of a values text (see the module docstring)."""
    out: list[Item] = []
    for item in _split_items(text):
        if item == "_":
            out.append(None)
        elif item.startswith("_x") and item[2:].isdigit():
            out += [None] * int(item[2:])
        elif item == "stale":
            out.append(STALE_NAN)
        elif item.startswith("{{"):
            m = re.search(r"\}\}x(\d+)$", item)
            out += [HIST] * (int(m.group(1)) + 1 if m else 1)
        elif _ONE.match(item):
            out.append(float(item))
        else:
            m = _SEQ.match(item)
            if m is None:
                raise FormatError(f"invalid value {item!r}", line=no)
            start, sign, inc, times = m.groups()
            value = float(start)
            step = 0.0 if inc is None else float(inc) * (-1 if sign == "-" else 1)
            for _ in range(int(times) + 1):
                out.append(value)
                value += step
    return out
