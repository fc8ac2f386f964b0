"""``kubeprom tsdb import|analyze``: bulk-load OpenMetrics files and inspect a data directory."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from kubeprom.clock import RealClock, elapsed_s
from kubeprom.errors import KubepromError
from kubeprom.model.labels import METRIC_NAME, Labels
from kubeprom.model.timeutil import format_rfc3339, parse_duration_ms
from kubeprom.scraper.exposition import OpenMetricsFileReader
from kubeprom.tsdb.block import Block
from kubeprom.tsdb.importer import BulkImporter

PROGRESS_EVERY_S = 2.0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("tsdb", help="work with a data directory offline")
    tsub = p.add_subparsers(dest="tsdb_command", metavar="SUBCOMMAND", required=True)

    imp = tsub.add_parser(
        "import",
        help="bulk-load an OpenMetrics file with timestamps into blocks",
        description="Bulk-load an OpenMetrics text file with timestamps (the input of "
        "'promtool tsdb create-blocks-from openmetrics') into blocks of DIR.",
    )
    imp.add_argument("file", help="OpenMetrics text file ending in '# EOF'")
    imp.add_argument("--data", required=True, help="data directory to write blocks into")
    imp.add_argument("--block-duration", default="2h", help="block range (default: 2h)")
    imp.add_argument("--quiet", action="store_true", help="no progress output")
    imp.set_defaults(func=run_import)

    an = tsub.add_parser(
        "analyze", help="series, samples, bytes per sample and label cardinality of blocks"
    )
    an.add_argument("--data", required=True, help="data directory")
    an.add_argument("--limit", type=int, default=20, help="rows per top list (default: 20)")
    an.set_defaults(func=run_analyze)


def _duration(text: str, flag: str) -> int:
    try:
        return parse_duration_ms(text)
    except ValueError as err:
        raise KubepromError(f"{flag}: {err}") from err


def run_import(args: argparse.Namespace) -> int:
    reader = OpenMetricsFileReader(args.file)
    importer = BulkImporter(
        args.data, block_range_ms=_duration(args.block_duration, "--block-duration")
    )
    key_ids: dict[bytes, int] = {}
    samples = 0
    clock = RealClock()
    start_ns = last_report_ns = clock.monotonic_ns()
    for body in reader:
        # The reader parses each series text once, the first time the file shows it.
        for key, labels in body.labels.items():
            key_ids[key] = importer.series_id(labels)
        ids = list(map(key_ids.__getitem__, body.series))
        importer.add(np.array(ids, dtype=np.int64), body.timestamps_ms, body.values)
        samples += len(ids)
        now_ns = clock.monotonic_ns()
        if not args.quiet and (now_ns - last_report_ns) / 1e9 >= PROGRESS_EVERY_S:
            last_report_ns = now_ns
            rate = samples / elapsed_s(clock, start_ns)
            pct = 100.0 * reader.bytes_read / max(reader.total_bytes, 1)
            print(
                f"read {pct:5.1f}% of {args.file}: {samples:,} samples, "
                f"{len(importer.labels):,} series, {rate:,.0f} samples/s",
                file=sys.stderr,
                flush=True,
            )
    if not args.quiet:
        print(f"writing {importer.pending_ranges} block range(s)", file=sys.stderr, flush=True)
    blocks = importer.finish()
    elapsed = elapsed_s(clock, start_ns)
    print(
        f"imported {importer.samples_written:,} samples of {len(importer.labels):,} series "
        f"into {len(blocks)} block(s) in {elapsed:.1f}s "
        f"({importer.samples_written / max(elapsed, 1e-9):,.0f} samples/s)"
    )
    if importer.duplicates_dropped:
        print(f"dropped {importer.duplicates_dropped:,} samples repeating a timestamp")
    return 0


def _top(title: str, counter: Counter[str], limit: int) -> None:
    print(f"\n{title}:")
    for key, n in counter.most_common(limit):
        print(f"{n:>10,} {key}")


def run_analyze(args: argparse.Namespace) -> int:
    data = Path(args.data)
    if not data.is_dir():
        raise KubepromError(f"data directory {str(data)!r} does not exist")
    blocks = []
    for d in sorted(data.iterdir()):
        if d.is_dir() and (d / "meta.json").exists() and not d.name.endswith(".tmp"):
            blocks.append(Block.open(d))
    if not blocks:
        print(f"no blocks in {data}")
        return 0
    blocks.sort(key=lambda b: b.meta.min_time)
    total_samples = total_bytes = 0
    series: set[Labels] = set()
    print(
        f"{'BLOCK':<28}{'MIN TIME':<22}{'MAX TIME':<22}{'SERIES':>10}{'SAMPLES':>14}"
        f"{'BYTES':>14}{'BYTES/SAMPLE':>14}"
    )
    for b in blocks:
        size = b.size_bytes
        m = b.meta
        print(
            f"{m.ulid:<28}{format_rfc3339(m.min_time):<22}{format_rfc3339(m.max_time):<22}{m.num_series:>10,}"
            f"{m.num_samples:>14,}{size:>14,}{size / max(m.num_samples, 1):>14.3f}"
        )
        total_samples += m.num_samples
        total_bytes += size
        series.update(b.labels_list(range(m.num_series)))
    print(
        f"\ntotal: {len(blocks)} block(s), {len(series):,} series, {total_samples:,} samples, "
        f"{total_bytes:,} bytes, {total_bytes / max(total_samples, 1):.3f} bytes/sample"
    )
    values: dict[str, set[str]] = {}
    pairs: Counter[str] = Counter()
    metrics: Counter[str] = Counter()
    for lab in series:
        metrics[lab.name] += 1
        for name, value in lab:
            values.setdefault(name, set()).add(value)
            if name != METRIC_NAME:
                pairs[f"{name}={value}"] += 1
    print(f"label names: {len(values)}, label pairs: {sum(len(v) for v in values.values()):,}")
    _top("Highest cardinality labels", Counter({n: len(v) for n, v in values.items()}), args.limit)
    _top("Highest cardinality metric names", metrics, args.limit)
    _top("Most common label pairs", pairs, args.limit)
    for b in blocks:
        b.close()
    return 0
