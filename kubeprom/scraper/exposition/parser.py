"""Bulk parsing of exposition bodies: whole columns at a time, no per-character Python.

A body is cut into pieces of about :data:`PIECE_BYTES` (so temporaries stay in cache and
memory is reused). In each piece:

1. ``#`` lines are found with ``bytes.find`` and parsed one by one (there are few of them);
   the sample lines between them are joined into one buffer.
2. Tier 0: ``buffer.split()`` gives every token of every line in one C call. If the token
   lengths prove that every line is exactly ``series value`` or ``series value timestamp``
   separated by single spaces, the columns are just ``tokens[0::k]``, ``tokens[1::k]``, ...
3. Tier 1 (the proof failed, e.g. a label value with a blank, an exemplar, a mixed body):
   lines are split one by one in C (``map(bytes.split, lines)``), lines with 2 or 3 tokens go
   through the same column code, the others to the careful parser in :mod:`.lines`.
4. Columns: values and timestamps are converted with ``float``/``int`` mapped in C, then
   re-checked only where Python and Prometheus could disagree (see :mod:`.floats`). Each
   *distinct* series text not already known is validated once (a regex for the canonical
   form); a scrape whose series texts are all in the caller's cache parses no labels at all.
5. Any row that fails a check goes to the careful parser, which either accepts it (the
   check was only conservative, e.g. ``foo{a="x y"} 1``) or raises the precise error, so the
   fast path never decides what a line means on its own.
"""

from __future__ import annotations

import operator
from bisect import bisect_right
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from itertools import chain, compress, filterfalse, repeat

import numpy as np
from numpy.typing import NDArray

from kubeprom.errors import ExpositionError
from kubeprom.model.labels import Labels
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.tsdb.api import MetricMetadata

from .errors import MalformedLine, show
from .floats import MISSING, BoolArray, floats_bulk, int_ms_bulk, seconds_ms_bulk
from .lines import MetaLine, SampleLine, parse_comment, parse_line
from .metadata import declare
from .series import labels_from_canonical

#: Bodies are processed in pieces of about this many bytes (cut at line ends).
PIECE_BYTES = 1 << 20

_NEWLINE = 10
_HASH = 35
_EOF_LINE = b"# EOF"


@dataclass(slots=True)
class ParsedBody:
    """The samples of one body (or one block of an import file), in line order.

    ``series[i]`` is the series text of sample ``i`` exactly as written (name and label set,
    without value, timestamp, exemplar or surrounding blanks); equal texts are equal keys, so a
    scrape cache can map them to series refs. ``timestamps_ms[i]`` is :data:`MISSING` where the
    line had no timestamp. ``metadata`` maps the family names declared in this body to their
    HELP/TYPE/UNIT (:func:`family_name` tells which family a sample belongs to). ``labels``
    holds the parsed :class:`Labels` of every distinct series text that this call validated,
    i.e. those not in the caller's ``known`` set; a cache adds these instead of calling
    :func:`parse_series` again. The arrays are owned by the caller.
    """

    series: list[bytes]
    values: F64Array
    timestamps_ms: I64Array
    metadata: dict[str, MetricMetadata] = field(default_factory=dict)
    labels: dict[bytes, Labels] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.series)


def parse_text(
    body: bytes,
    *,
    openmetrics: bool = False,
    source: str = "<body>",
    known: Container[bytes] = frozenset(),
    progress: Callable[[int], None] | None = None,
) -> ParsedBody:
    """Parse a whole exposition body (Prometheus text 0.0.4, or OpenMetrics 1.0).

    ``known`` is the set of series texts the caller has already resolved (e.g. its scrape
    cache's keys); they are not validated again and get no entry in ``labels``. An
    OpenMetrics body must end with ``# EOF``. Raises :class:`ExpositionError` naming ``source``
    and the 1-based line of the first malformed line.

    ``progress``, when given, is called before each piece of the body after the first (about
    every :data:`PIECE_BYTES`) with the number of samples parsed so far; whatever it raises
    stops the parse (a deadline, a sample limit), so a huge body costs at most one piece
    past the point where its caller gives up.
    """
    ctx = Context(openmetrics=openmetrics, source=source, known=known)
    ctx.progress = progress
    series, values, ts, nlines = parse_block(body, 0, len(body), ctx, first_line=1)
    if openmetrics and ctx.eof_line is None:
        raise ExpositionError(
            "expected '# EOF' at the end of the body", source=source, line=nlines + 1
        )
    return ParsedBody(series, values, ts, ctx.metadata, ctx.labels)


class Context:
    """Parse state shared by the pieces of one body, or by the blocks of one import file.

    ``families`` accumulates every declaration seen so far (it decides which ``le`` and
    ``quantile`` labels are normalised); ``metadata`` and ``labels`` collect the output of the
    current body. ``canon``, when given, maps each series text already seen to one shared
    bytes object, is extended with new texts, and is used instead of ``known``.
    """

    __slots__ = (
        "canon",
        "eof_line",
        "families",
        "known",
        "labels",
        "metadata",
        "openmetrics",
        "progress",
        "require_timestamps",
        "source",
    )

    def __init__(
        self,
        *,
        openmetrics: bool,
        source: str,
        known: Container[bytes] = frozenset(),
        canon: dict[bytes, bytes] | None = None,
        require_timestamps: bool = False,
    ) -> None:
        self.openmetrics = openmetrics
        self.source = source
        self.known = known
        self.canon = canon
        self.require_timestamps = require_timestamps
        self.metadata: dict[str, MetricMetadata] = {}
        self.families = self.metadata
        self.labels: dict[bytes, Labels] = {}
        self.eof_line: int | None = None
        self.progress: Callable[[int], None] | None = None


Columns = tuple[list[bytes], F64Array, I64Array]


def parse_block(
    buf: bytes, start: int, end: int, ctx: Context, *, first_line: int
) -> tuple[list[bytes], F64Array, I64Array, int]:
    """Parse the whole lines in ``buf[start:end]``; returns the columns and the line count.

    ``first_line`` is the number of the line at ``start``. After ``# EOF`` (OpenMetrics) the
    rest of the range must be empty.
    """
    if start == end:
        return [], np.empty(0, np.float64), np.empty(0, np.int64), 0
    content_end = end - 1 if buf[end - 1] == _NEWLINE else end
    parts: list[Columns] = []
    line = first_line
    pos = start
    parsed = 0
    while True:
        if parts and ctx.progress is not None:
            ctx.progress(parsed)
        cut = (
            buf.find(b"\n", pos + PIECE_BYTES, content_end)
            if content_end - pos > PIECE_BYTES
            else -1
        )
        piece = _Piece(buf, pos, content_end if cut < 0 else cut, ctx, line)
        parts.append(piece.run())
        parsed += len(parts[-1][0])
        line += piece.nlines
        if ctx.eof_line is not None:
            if piece.eof_end < content_end:
                raise ExpositionError(
                    "unexpected data after '# EOF'", source=ctx.source, line=ctx.eof_line + 1
                )
            break
        if cut < 0:
            break
        pos = cut + 1
    if len(parts) == 1:
        series, values, ts = parts[0]
    else:
        series = list(chain.from_iterable(p[0] for p in parts))
        values = np.concatenate([p[1] for p in parts])
        ts = np.concatenate([p[2] for p in parts])
    return series, values, ts, line - first_line


# A run of rows of one piece: row numbers (None = all rows, in order) and their columns.
_Part = tuple[NDArray[np.intp] | None, list[bytes], F64Array, I64Array]


class _Piece:
    """One piece of a body: lines ``buf[a:b]`` (``b`` is a newline or the end of content)."""

    def __init__(self, buf: bytes, a: int, b: int, ctx: Context, first_line: int) -> None:
        self.buf = buf
        self.a = a
        self.b = b
        self.ctx = ctx
        self.first_line = first_line
        self.nlines = 0
        self.eof_end = b
        self.stretches: list[tuple[int, int]] = []  # sample-line runs, in buf offsets
        self.r_starts: list[int] = []  # where each stretch starts in the joined buffer
        self.rbuf = b""
        self._r_line_starts: NDArray[np.intp] | None = None
        self.error: tuple[int, str] | None = None  # (buf offset, message) of the first error

    def run(self) -> Columns:
        comments = self._split_comments()
        for cs, ce in comments:
            self._comment(cs, ce)
        self.nlines = len(comments)
        columns = self._samples() if self.stretches else _empty()
        if self.error is not None:
            offset, message = self.error
            line = self.first_line + self.buf.count(b"\n", self.a, offset)
            raise ExpositionError(message, source=self.ctx.source, line=line)
        return columns

    # -- comments -------------------------------------------------------------------------

    def _split_comments(self) -> list[tuple[int, int]]:
        """Find the ``#`` lines; record the sample-line stretches between them."""
        buf, b = self.buf, self.b
        comments: list[tuple[int, int]] = []
        line_start = self.a
        while True:
            if line_start < b and buf[line_start] == _HASH:
                cs = line_start
            else:
                # A one-byte find is a memchr; '#' inside label values just costs a retry.
                cs = buf.find(b"#", line_start, b)
                while cs > 0 and buf[cs - 1] != _NEWLINE:
                    cs = buf.find(b"#", cs + 1, b)
                if cs < 0:
                    self.stretches.append((line_start, b))
                    break
                self.stretches.append((line_start, cs - 1))
            ce = buf.find(b"\n", cs, b)
            ce = b if ce < 0 else ce
            comments.append((cs, ce))
            if self.ctx.openmetrics and buf[cs:ce] == _EOF_LINE:
                self.eof_end = ce
                break
            if ce >= b:
                break
            line_start = ce + 1
        return comments

    def _comment(self, cs: int, ce: int) -> None:
        try:
            meta = parse_comment(self.buf[cs:ce], openmetrics=self.ctx.openmetrics)
        except MalformedLine as err:
            self._record(cs, err.message)
            return
        if meta is not None:
            self._declare(meta, cs)

    def _declare(self, meta: MetaLine, offset: int) -> None:
        ctx = self.ctx
        if meta.kind == "eof":
            ctx.eof_line = self.first_line + self.buf.count(b"\n", self.a, offset)
            return
        if meta.kind == "help":
            declare(ctx.families, meta.name, help_text=meta.help)
        elif meta.kind == "type":
            declare(ctx.families, meta.name, mtype=meta.type)
        else:
            declare(ctx.families, meta.name, unit=meta.unit)
        # A block of an import file reports the whole family as declared so far.
        ctx.metadata[meta.name] = ctx.families[meta.name]

    def _record(self, offset: int, message: str) -> None:
        if self.error is None or offset < self.error[0]:
            self.error = (offset, message)

    # -- samples --------------------------------------------------------------------------

    def _samples(self) -> Columns:
        buf = self.buf
        pos = 0
        for s, e in self.stretches:
            self.r_starts.append(pos)
            pos += e - s + 1
        if len(self.stretches) == 1:
            s, e = self.stretches[0]
            self.rbuf = buf[s:e]
        else:
            self.rbuf = b"\n".join([buf[s:e] for s, e in self.stretches])
        parts = self._tier0()
        if parts is None:
            parts = self._tier1()
        return _assemble(parts)

    def _tier0(self) -> list[_Part] | None:
        """All lines ``series value[ ts]`` with single spaces: columns by slicing one split."""
        rbuf, ctx = self.rbuf, self.ctx
        first_end = rbuf.find(b"\n")
        k = len((rbuf if first_end < 0 else rbuf[:first_end]).split())
        if k not in (2, 3) or (ctx.require_timestamps and k != 3):
            return None
        tokens = rbuf.split()
        count = len(tokens)
        if count % k:
            return None
        lengths = np.fromiter(map(len, tokens), np.int64, count)
        # Total length proves every gap is one byte (and nothing leads or trails) ...
        if int(lengths.sum()) + count - 1 != len(rbuf):
            return None
        if count > 1:
            # ... and the gap after each k-th token is the newline, every other one a blank.
            gaps = np.cumsum(lengths[:-1]) + np.arange(count - 1)
            seps = np.frombuffer(rbuf, np.uint8)[gaps]
            want = np.full(count - 1, ord(" "), np.uint8)
            want[k - 1 :: k] = _NEWLINE
            if not np.array_equal(seps, want):
                return None
        self.nlines += count // k
        return self._columns(
            None,
            tokens[0::k],
            tokens[1::k],
            tokens[2::k] if k == 3 else None,
            lambda row: b" ".join(tokens[row * k : row * k + k]),
        )

    def _tier1(self) -> list[_Part]:
        """Line by line (in C): lines of 2 or 3 tokens as columns, the rest one by one."""
        ctx = self.ctx
        lines = self.rbuf.split(b"\n")
        n = len(lines)
        self.nlines += n
        sep = b" " if ctx.openmetrics else None
        counts = np.fromiter(map(len, map(bytes.split, lines, repeat(sep, n))), np.intp, n)
        # bytes.split(), float() and int() treat these as blanks; Prometheus does not, so
        # lines holding them go to the careful parser.
        odd = b"\t\r\x0b\x0c" if ctx.openmetrics else b"\r\x0b\x0c"
        fast = np.ones(n, np.bool_)
        if any(c in self.rbuf for c in odd):
            fast = np.fromiter((not any(c in line for c in odd) for line in lines), np.bool_, n)
        slow = np.ones(n, np.bool_)
        if not ctx.openmetrics:
            slow[(counts == 0) & fast] = False  # blank lines
        parts: list[_Part] = []
        for k in (3,) if ctx.require_timestamps else (2, 3):
            rows = np.flatnonzero((counts == k) & fast)
            if not rows.size:
                continue
            chosen = list(map(lines.__getitem__, rows.tolist()))
            tokens = b" ".join(chosen).split(sep)
            row_parts = self._columns(
                rows,
                tokens[0::k],
                tokens[1::k],
                tokens[2::k] if k == 3 else None,
                chosen.__getitem__,
                slow_parser=False,
            )
            good_rows = row_parts[0][0]  # rows that failed a check stay marked slow
            slow[rows if good_rows is None else good_rows] = False
            parts.extend(row_parts)
        slow_rows = np.flatnonzero(slow)
        if slow_rows.size:
            parts.append(self._slow(slow_rows.tolist(), lines.__getitem__))
        return parts

    def _columns(
        self,
        rows: NDArray[np.intp] | None,
        series_tokens: list[bytes],
        value_tokens: list[bytes],
        ts_tokens: list[bytes] | None,
        line_of: Callable[[int], bytes],
        *,
        slow_parser: bool = True,
    ) -> list[_Part]:
        """Convert the columns of ``rows`` (None: every row); rows that fail a check go to
        the careful parser (``slow_parser``) or, in tier 1, are left for the caller to send."""
        ctx = self.ctx
        n = len(series_tokens)
        values, bad = floats_bulk(value_tokens)
        if ts_tokens is None:
            ts = np.full(n, MISSING, np.int64)
        else:
            ts, bad_ts = (seconds_ms_bulk if ctx.openmetrics else int_ms_bulk)(ts_tokens)
            bad = _either(bad, bad_ts)
        series, bad_series = self._series(series_tokens)
        bad = _either(bad, bad_series)
        if bad is None:
            return [(rows, series, values, ts)]
        good = ~bad
        local = np.flatnonzero(good)
        parts: list[_Part] = [
            (
                local if rows is None else rows[local],
                list(compress(series, good)),
                values[good],
                ts[good],
            )
        ]
        if slow_parser:
            bad_rows = np.flatnonzero(bad).tolist()
            parts.append(self._slow(bad_rows, line_of))
        return parts

    def _series(self, tokens: list[bytes]) -> tuple[list[bytes], BoolArray | None]:
        """Validate the distinct new series texts; canonicalise when the context asks."""
        ctx = self.ctx
        canon = ctx.canon
        if canon is not None and _mostly_runs(tokens):
            # Import files list a series' samples one after another: hash one text per run
            # (a memcmp per line is cheaper than hashing every line's text).
            same = np.fromiter(map(operator.eq, tokens[1:], tokens[:-1]), np.bool_, len(tokens) - 1)
            heads = np.flatnonzero(np.concatenate(([True], ~same)))
            head_series, head_bad = self._series(list(map(tokens.__getitem__, heads.tolist())))
            run_lengths = np.diff(np.append(heads, len(tokens))).tolist()
            series = list(chain.from_iterable(map(repeat, head_series, run_lengths)))
            return series, None if head_bad is None else np.repeat(head_bad, run_lengths)
        seen: Container[bytes] = ctx.known if canon is None else canon
        new = set(filterfalse(seen.__contains__, tokens))
        if canon is None and ctx.labels:
            new.difference_update(ctx.labels.keys())
        bad: set[bytes] = set()
        for text in new:
            labels = labels_from_canonical(text, ctx.families)
            if labels is None:
                bad.add(text)
            else:
                ctx.labels[text] = labels
        if canon is not None:
            good = new - bad
            canon.update(zip(good, good, strict=True))
            tokens = list(map(canon.get, tokens, tokens))
        if not bad:
            return tokens, None
        return tokens, np.fromiter(map(bad.__contains__, tokens), np.bool_, len(tokens))

    def _slow(self, rows: list[int], line_of: Callable[[int], bytes]) -> _Part:
        """The careful parser over ``rows`` (ascending); records the first error."""
        ctx = self.ctx
        out_rows: list[int] = []
        series: list[bytes] = []
        values: list[float] = []
        stamps: list[int] = []
        for row in rows:
            try:
                result = parse_line(
                    line_of(row), openmetrics=ctx.openmetrics, metadata=ctx.families
                )
                if (
                    isinstance(result, SampleLine)
                    and ctx.require_timestamps
                    and result.t_ms == MISSING
                ):
                    raise MalformedLine(f"missing timestamp for series {show(result.series)}")
            except MalformedLine as err:
                self._record(self._row_offset(row), err.message)
                break
            if isinstance(result, MetaLine):
                self._declare(result, self._row_offset(row))
            elif isinstance(result, SampleLine):
                key = result.series
                if ctx.canon is not None:
                    if key not in ctx.canon:
                        ctx.canon[key] = key
                        ctx.labels[key] = result.labels
                    key = ctx.canon[key]
                elif key not in ctx.known:
                    ctx.labels[key] = result.labels
                out_rows.append(row)
                series.append(key)
                values.append(result.value)
                stamps.append(result.t_ms)
        return (
            np.array(out_rows, np.intp),
            series,
            np.array(values, np.float64),
            np.array(stamps, np.int64),
        )

    def _row_offset(self, row: int) -> int:
        """The offset in ``buf`` where sample line ``row`` of this piece starts."""
        if self._r_line_starts is None:
            newlines = np.flatnonzero(np.frombuffer(self.rbuf, np.uint8) == _NEWLINE)
            self._r_line_starts = np.concatenate(([0], newlines + 1))
        r_offset = int(self._r_line_starts[row])
        i = bisect_right(self.r_starts, r_offset) - 1
        return self.stretches[i][0] + (r_offset - self.r_starts[i])


def _mostly_runs(tokens: list[bytes], probe: int = 64) -> bool:
    """Whether most lines repeat the previous line's series (judged on a prefix)."""
    head = tokens[: probe + 1]
    return len(head) > 2 and sum(map(operator.eq, head[1:], head[:-1])) * 2 > len(head)


def _either(a: BoolArray | None, b: BoolArray | None) -> BoolArray | None:
    if a is None:
        return b
    return a if b is None else a | b


def _empty() -> Columns:
    return [], np.empty(0, np.float64), np.empty(0, np.int64)


def _assemble(parts: list[_Part]) -> Columns:
    """Merge runs of rows back into line order."""
    parts = [p for p in parts if len(p[1])]
    if not parts:
        return _empty()
    if len(parts) == 1:
        return parts[0][1], parts[0][2], parts[0][3]
    rows = np.concatenate([p[0] if p[0] is not None else np.arange(len(p[1])) for p in parts])
    order = np.argsort(rows, kind="stable")
    every = list(chain.from_iterable(p[1] for p in parts))
    series = list(map(every.__getitem__, order.tolist()))
    values = np.concatenate([p[2] for p in parts])[order]
    ts = np.concatenate([p[3] for p in parts])[order]
    return series, values, ts
