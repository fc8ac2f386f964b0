"""Batch append throughput (head + WAL) and head memory per active series.

    python benchmarks/bench_append.py [--series 10000] [--batches 600]

Appends one batch per "scrape" (all series at one timestamp, 15 s apart) through the public
Appender, commit included (so every batch is written to the WAL before it returns), and
reports samples/s on one core. Head memory per active series is the growth of the process'
RSS from before the series exist to after ``--mem-samples`` samples per series, divided by the
number of series (Prometheus' 4.7 KB per series was measured after ~75 one-second scrapes).
"""

from __future__ import annotations

import argparse
import gc
import resource
import tempfile
import time

import numpy as np

from kubeprom.model.labels import Labels
from kubeprom.tsdb import DB, Options


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def make_labels(n: int) -> list[Labels]:
    """cAdvisor-like label sets (about 10 labels each, a few unique values per series)."""
    out = []
    for i in range(n):
        node = i % 17
        pod = f"web-{i // 4:05d}-{(i * 7919) % 100000:05d}"
        out.append(
            Labels(
                {
                    "__name__": "container_cpu_usage_seconds_total",
                    "container": f"c{i % 4}",
                    "cpu": "total",
                    "id": f"/kubepods/burstable/pod{i // 4:08x}-{i:08x}",
                    "image": "registry.example.com/web/frontend:3.14.1",
                    "instance": f"10.0.0.{node}:10250",
                    "job": "kubelet",
                    "name": f"k8s_c{i % 4}_{pod}",
                    "namespace": "web",
                    "node": f"ip-10-0-0-{node}.ec2.internal",
                    "pod": pod,
                }.items()
            )
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--batches", type=int, default=600)
    ap.add_argument("--mem-samples", type=int, default=75)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    values = np.cumsum(rng.random((args.batches, args.series)).round(6), axis=0)
    with tempfile.TemporaryDirectory() as d:
        db = DB.open(d, Options(retention_ms=None))
        gc.collect()
        rss0 = rss_bytes()  # the label sets are part of what the head holds: made after this
        labels = make_labels(args.series)
        app = db.appender()
        refs = np.array([app.ref(lab) for lab in labels], dtype=np.int64)
        app.commit()
        del labels
        t0 = 1_700_000_000_000
        mem_per_series = None
        cpu0 = time.process_time()
        wall0 = time.perf_counter()
        for k in range(args.batches):
            app = db.appender()
            app.append(t0 + k * 15_000, refs, values[k])
            app.commit()
            if k + 1 == args.mem_samples:
                gc.collect()
                mem_per_series = (rss_bytes() - rss0) / args.series
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        n = args.batches * args.series
        print(f"series={args.series} batches={args.batches} samples={n:,}")
        print(
            f"append+commit (WAL): {n / cpu:,.0f} samples/s per CPU second "
            f"({n / wall:,.0f} samples/s wall)"
        )
        if mem_per_series is not None:
            print(
                f"head memory per active series after {args.mem_samples} samples: "
                f"{mem_per_series:,.0f} bytes"
            )
        print(
            f"WAL bytes: {db.wal.size_bytes if db.wal else 0:,}; sealed slabs: {len(db.head.slabs)}"
        )
        db.close()


if __name__ == "__main__":
    main()
