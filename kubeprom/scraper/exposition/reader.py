"""Streaming reader for ``kubeprom tsdb import``: an OpenMetrics file with timestamps.

The file is what ``promtool tsdb create-blocks-from openmetrics`` takes: OpenMetrics 1.0 where
every sample has a timestamp (float seconds), ending with ``# EOF``.

The file is read in chunks of at most :data:`READ_BYTES` and each chunk is parsed in place up
to its last newline; the partial line at its end is joined with the start of the next chunk and
parsed on its own, so no chunk is ever copied. Parsed chunks are gathered into one
:class:`ParsedBody` per ``block_bytes`` of input.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from kubeprom.errors import ExpositionError
from kubeprom.model.labels import Labels
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.tsdb.api import MetricMetadata

from .parser import Context, ParsedBody, parse_block

#: Largest single read. Buffers past glibc's mmap threshold (32 MiB at most) are fresh pages
#: on every allocation, and page faults would cost more than the parsing.
READ_BYTES = 4 << 20


class OpenMetricsFileReader:
    """Iterate over the samples of an OpenMetrics file, one :class:`ParsedBody` per block.

    A block holds the whole lines of about ``block_bytes`` of the file. Each body's
    ``metadata`` holds the families declared in that block (with everything declared for them
    so far, as HELP and TYPE may fall in different blocks); its ``labels`` hold the series
    texts seen for the first time in the file, so a consumer that maps series texts to refs
    never parses a series twice; equal series texts are the same ``bytes`` object across all
    blocks. Every sample must have a timestamp. Errors (malformed lines, a sample without
    timestamp, data after ``# EOF``, no ``# EOF``) raise :class:`ExpositionError` naming the
    file and line.

    Memory: about one block plus the distinct series texts of the file. ``bytes_read`` and
    ``total_bytes`` report progress. Not thread-safe; iterate once.
    """

    def __init__(self, path: str, *, block_bytes: int = 32 << 20) -> None:
        if block_bytes <= 0:
            raise ValueError(f"block_bytes must be positive, got {block_bytes}")
        self.path = path
        self.block_bytes = block_bytes
        self.total_bytes = os.path.getsize(path)
        self.bytes_read = 0

    def __iter__(self) -> Iterator[ParsedBody]:
        ctx = Context(openmetrics=True, source=self.path, canon={}, require_timestamps=True)
        ctx.families = {}  # every declaration so far; ctx.metadata is per block
        block = _Block()
        line = 1
        tail = b""  # a line not finished by the previous chunk
        with open(self.path, "rb") as file:
            while ctx.eof_line is None:
                chunk = file.read(min(self.block_bytes, READ_BYTES))
                if not chunk:
                    break
                self.bytes_read += len(chunk)
                first = chunk.find(b"\n") + 1
                if first == 0:
                    tail += chunk  # still inside one long line
                    continue
                last = chunk.rfind(b"\n") + 1
                start = 0
                if tail:
                    line = block.parse(tail + chunk[:first], 0, None, ctx, line)
                    start = first
                if ctx.eof_line is not None:
                    tail = chunk[start:]  # must be empty, checked below
                    break
                if start < last:
                    line = block.parse(chunk, start, last, ctx, line)
                tail = chunk[last:]
                if block.bytes >= self.block_bytes:
                    yield block.body()
                    block = _Block()
            if tail and ctx.eof_line is None:
                line = block.parse(tail, 0, None, ctx, line)
                tail = b""
            if block.series or block.metadata:
                yield block.body()
            if ctx.eof_line is None:
                raise ExpositionError(
                    "expected '# EOF' at the end of the file", source=self.path, line=line
                )
            if tail or file.read(1):
                raise ExpositionError(
                    "unexpected data after '# EOF'", source=self.path, line=ctx.eof_line + 1
                )


class _Block:
    """Columns gathered from several chunks until a block is full."""

    def __init__(self) -> None:
        self.series: list[bytes] = []
        self.values: list[F64Array] = []
        self.ts: list[I64Array] = []
        self.metadata: dict[str, MetricMetadata] = {}
        self.labels: dict[bytes, Labels] = {}
        self.bytes = 0

    def parse(self, buf: bytes, start: int, end: int | None, ctx: Context, line: int) -> int:
        """Parse ``buf[start:end]`` into this block; returns the number of the next line."""
        end = len(buf) if end is None else end
        ctx.metadata = self.metadata
        ctx.labels = self.labels
        series, values, ts, nlines = parse_block(buf, start, end, ctx, first_line=line)
        self.series += series
        self.values.append(values)
        self.ts.append(ts)
        self.bytes += end - start
        return line + nlines

    def body(self) -> ParsedBody:
        return ParsedBody(
            self.series,
            np.concatenate(self.values) if self.values else np.empty(0, np.float64),
            np.concatenate(self.ts) if self.ts else np.empty(0, np.int64),
            self.metadata,
            self.labels,
        )
