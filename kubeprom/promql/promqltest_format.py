"""Parsing Prometheus' promqltest script format (``promql/promqltest/test.go``).

A file is blocks separated by blank or comment lines: ``load <interval>`` (series lines),
``clear``, and ``eval instant at T expr`` / ``eval range from S to E step D expr`` with
``expect`` lines and expected results. See ``../shared/conformance/promql/README.md``.
Malformed input raises :class:`FormatError` naming the line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from kubeprom.errors import FormatError
from kubeprom.model.gofmt import unescape
from kubeprom.model.labels import Labels
from kubeprom.model.series_notation import HIST, Item, parse_series
from kubeprom.model.timeutil import parse_duration_ms

_LOAD = re.compile(r"^load(?:_(with_nhcb))?\s+(.+?)$")
_INSTANT = re.compile(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
_RANGE = re.compile(
    r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$"
)
_EXPECT = re.compile(r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$")
_EXPECT_RANGE = re.compile(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$")
_NUM = (
    r"[+-]?(?:[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN]"
    r"|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
)


def duration(text: str, line: int) -> int:
    text = text.strip()
    try:
        return parse_duration_ms(text)
    except ValueError as err:
        raise FormatError(f"invalid duration {text!r}", line=line) from err


@dataclass
class Load:
    line: int
    interval_ms: int
    with_nhcb: bool
    series: dict[Labels, list[Item]] = field(default_factory=dict)
    start_ts_series: set[Labels] = field(default_factory=set)


@dataclass
class Clear:
    line: int


@dataclass
class Expect:
    kind: str  # fail | warn | info | no_warn | no_info | ordered
    message: str | None = None
    regex: str | None = None

    def matches(self, text: str) -> bool:
        if self.message is not None:
            return text == self.message
        if self.regex is not None:
            return re.search(self.regex, text) is not None
        return True


@dataclass
class Eval:
    line: int
    expr: str
    instant: bool
    start_ms: int
    end_ms: int = 0
    step_ms: int = 0
    fail: bool = False
    warn: bool = False
    info: bool = False
    ordered: bool = False
    expects: list[Expect] = field(default_factory=list)
    range_vector: bool = False
    expected_string: str | None = None
    scalar: float | None = None
    # labels -> (position in the block, expected items)
    expected: dict[Labels, tuple[int, list[Item]]] = field(default_factory=dict)
    fail_message: str | None = None
    fail_regexp: str | None = None

    @property
    def eval_ms(self) -> int:
        """When an instant query runs (the ``to`` of ``expect range vector`` if given)."""
        return self.end_ms if self.range_vector else self.start_ms

    def expects_of(self, kind: str) -> list[Expect]:
        return [x for x in self.expects if x.kind == kind]

    @property
    def is_fail(self) -> bool:
        return self.fail or bool(self.expects_of("fail"))

    @property
    def is_ordered(self) -> bool:
        return self.ordered or bool(self.expects_of("ordered"))

    @property
    def expects_histogram(self) -> bool:
        return any(HIST in items for _, items in self.expected.values())


Command = Load | Clear | Eval


def parse_file(text: str, file: str = "") -> list[Command]:
    try:
        return _Parser(text).commands()
    except FormatError as err:
        raise FormatError(err.message, line=err.line, file=file) from None


class _Parser:
    def __init__(self, text: str) -> None:
        self.lines = []
        for raw in text.split("\n"):
            line = raw.strip()
            self.lines.append("" if line.startswith("#") else line)

    def commands(self) -> list[Command]:
        out: list[Command] = []
        i = 0
        while i < len(self.lines):
            line = self.lines[i]
            if not line:
                i += 1
                continue
            word = re.split(r"[\t ]+", line, maxsplit=1)[0].lower()
            if word == "clear":
                out.append(Clear(i + 1))
                i += 1
            elif word.startswith("load"):
                cmd, i = self.load(i)
                out.append(cmd)
            elif word.startswith("eval"):
                ev, i = self.eval(i)
                out.append(ev)
            else:
                raise FormatError(f"invalid command {line!r}", line=i + 1)
        return out

    def block(self, i: int) -> list[tuple[int, str]]:
        body = []
        j = i + 1
        while j < len(self.lines) and self.lines[j]:
            body.append((j + 1, self.lines[j]))
            j += 1
        return body

    def load(self, i: int) -> tuple[Load, int]:
        m = _LOAD.match(self.lines[i])
        if m is None:
            raise FormatError(
                "invalid load command. (load[_with_nhcb] <step:duration>)", line=i + 1
            )
        cmd = Load(i + 1, duration(m.group(2), i + 1), m.group(1) == "with_nhcb")
        body = self.block(i)
        pending_st: Labels | None = None
        for no, line in body:
            head = re.split(r"[\t ]", line, maxsplit=1)[0]
            if head.endswith("@st"):
                name = head[: -len("@st")]
                pending_st = parse_series(name + " _", no)[0] if name else None
                if pending_st is not None:
                    cmd.start_ts_series.add(pending_st)
                continue
            labels, items = parse_series(line, no)
            cmd.series[labels] = items
            pending_st = None
        return cmd, i + 1 + len(body)

    def eval(self, i: int) -> tuple[Eval, int]:
        line, no = self.lines[i], i + 1
        mi, mr = _INSTANT.match(line), _RANGE.match(line)
        if mi is not None:
            mod, expr = mi.group(1), mi.group(3)
            ev = Eval(no, expr, True, duration(mi.group(2) or "", no))
        elif mr is not None:
            mod, expr = mr.group(1), mr.group(5)
            start, end = duration(mr.group(2), no), duration(mr.group(3), no)
            if end < start:
                raise FormatError("invalid test definition, end timestamp is before start", line=no)
            ev = Eval(no, expr, False, start, end, duration(mr.group(4), no))
        else:
            raise FormatError(
                "invalid evaluation command. Must be either 'eval[_fail|_warn|_ordered] "
                "instant [at <offset:duration>] <query>' or 'eval[_fail|_warn] range from "
                "<from> to <to> step <step> <query>'",
                line=no,
            )
        if mod:
            setattr(ev, mod, True)
        body = self.block(i)
        consumed = 0
        pos = 0
        for line_no, text in body:
            consumed += 1
            if ev.fail and text.startswith("expected_fail_message"):
                ev.fail_message = text[len("expected_fail_message") :].strip()
                break
            if ev.fail and text.startswith("expected_fail_regexp"):
                ev.fail_regexp = text[len("expected_fail_regexp") :].strip()
                break
            if text.startswith("expect range vector"):
                m = _EXPECT_RANGE.match(text)
                if m is None:
                    raise FormatError(f"invalid range vector definition {text!r}", line=line_no)
                ev.range_vector = True
                ev.start_ms = duration(m.group(1), line_no)
                ev.end_ms = duration(m.group(2), line_no)
                ev.step_ms = duration(m.group(3), line_no)
                continue
            if text.startswith("expect string"):
                ev.expected_string = _go_unquote(text[len("expect string") :].strip(), line_no)
                continue
            if text.split(" ")[0] == "expect":
                m = _EXPECT.match(text)
                if m is None:
                    raise FormatError(
                        "invalid expect statement, must match `expect <type> <match_type>: "
                        "<string>` format",
                        line=line_no,
                    )
                kind, how, what = m.group(1), m.group(2), m.group(3)
                exp = Expect(kind)
                if how == "msg":
                    exp.message = what.strip()
                elif how == "regex":
                    exp.regex = what.strip()
                ev.expects.append(exp)
                continue
            number = _parse_number(text)
            if number is not None:
                ev.scalar = number
                break
            pos += 1
            labels, items = parse_series(text, line_no)
            if len(items) > 1 and ev.instant and not ev.range_vector:
                raise FormatError(
                    "expecting multiple values in instant evaluation not allowed", line=line_no
                )
            ev.expected[labels] = (pos, items)
        kinds = {x.kind for x in ev.expects}
        if {"warn", "no_warn"} <= kinds or {"info", "no_info"} <= kinds:
            raise FormatError("invalid expect lines, conflicting annotation expectations", line=no)
        if len(ev.expects_of("fail")) > 1:
            raise FormatError("invalid expect lines, multiple expect fail lines", line=no)
        return ev, i + 1 + consumed


def _parse_number(text: str) -> float | None:
    """test.go ``parseNumber``: Go integer syntax (``0x10``) or a float."""
    try:
        return float(int(text, 0))
    except ValueError:
        pass
    if not re.fullmatch(_NUM, text):
        return None
    return float(text)


def _go_unquote(text: str, line: int) -> str:
    if len(text) >= 2 and text[0] == text[-1] == "`":
        return text[1:-1]
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return unescape(text[1:-1])
    raise FormatError(
        "expected string literal not valid - check that the string is correctly quoted", line=line
    )


def is_nan_item(item: Item) -> bool:
    return isinstance(item, float) and math.isnan(item)
