"""Throughput and size of ``kubeprom.tsdb.chunks`` on a synthetic, realistic frame.

Run from the repository root: ``python -m benchmarks.bench_chunks [--series 64]
[--samples 480] [--level 3] [--repeat 50]``. Prints encode/decode samples per second
(best of ``--repeat`` wall-clock runs, one core) and bytes per sample, overall and per kind
of series.

Every 16 series share one scrape target's timestamps (15 s interval, +-3 ms jitter): 4 CPU
counters (seconds, 9 decimals), 4 memory gauges (integer bytes around 1e8-1e9) and 8
histogram bucket counters (integer Poisson increments); one series per target ends in a
StaleNaN.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import numpy as np
from numpy.typing import NDArray

from kubeprom.tsdb.chunks import decode_frame, encode_frame

SCRAPE_INTERVAL_MS = 15_000
JITTER_MS = 3
SERIES_PER_TARGET = 16
STALE_NAN = np.array([0x7FF0000000000002], np.uint64).view(np.float64)[0]

Frame = tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]


def cpu_counter(rng: np.random.Generator, n: int) -> NDArray[np.float64]:
    """container_cpu_usage_seconds_total: 0.05-2 cores, rounded to 9 decimals (ns)."""
    cores = rng.uniform(0.05, 2.0) * rng.uniform(0.5, 1.5, n)
    return np.round(rng.uniform(1e3, 1e6) + np.cumsum(cores * SCRAPE_INTERVAL_MS / 1e3), 9)


def memory_gauge(rng: np.random.Generator, n: int) -> NDArray[np.float64]:
    """container_memory_working_set_bytes: integer random walk around 1e8-1e9."""
    return np.round(rng.uniform(1e8, 1e9) + np.cumsum(rng.normal(0, 2e6, n)))


def bucket_counter(rng: np.random.Generator, n: int) -> NDArray[np.float64]:
    """A histogram bucket counter: integer Poisson increments per scrape."""
    return rng.integers(0, 10**6) + np.cumsum(rng.poisson(rng.uniform(0, 50), n)).astype(float)


def float_gauge(rng: np.random.Generator, n: int) -> NDArray[np.float64]:
    """A full-precision gauge (say a recorded rate()): no decimal form, XOR-coded."""
    return np.abs(rng.uniform(1, 100) + np.cumsum(rng.normal(0, 0.5, n)))


KINDS: dict[str, Callable[[np.random.Generator, int], NDArray[np.float64]]] = {
    "cpu_counter": cpu_counter,
    "memory_gauge": memory_gauge,
    "bucket_counter": bucket_counter,
    "float_gauge": float_gauge,
}
# Per target: 4 cpu counters, 4 memory gauges, 8 bucket counters (float_gauge is only
# measured on its own).
TARGET_LAYOUT = ["cpu_counter"] * 4 + ["memory_gauge"] * 4 + ["bucket_counter"] * 8


def make_frame(series: int, samples: int, seed: int = 1, kinds: list[str] | None = None) -> Frame:
    """``series`` segments of ``samples`` each; every 16 series share one target's times."""
    rng = np.random.default_rng(seed)
    t_parts, v_parts = [], []
    for i in range(series):
        if i % SERIES_PER_TARGET == 0:
            start = 1_700_000_000_000 + int(rng.integers(0, SCRAPE_INTERVAL_MS))
            jitter = rng.integers(-JITTER_MS, JITTER_MS + 1, samples)
            times = start + np.arange(samples, dtype=np.int64) * SCRAPE_INTERVAL_MS + jitter
        kind = (kinds or TARGET_LAYOUT)[i % len(kinds or TARGET_LAYOUT)]
        values = KINDS[kind](rng, samples)
        if i % SERIES_PER_TARGET == 3:
            values[-1] = STALE_NAN  # a series that went away
        t_parts.append(times)
        v_parts.append(values)
    offsets = np.arange(series + 1, dtype=np.int64) * samples
    return np.concatenate(t_parts), np.concatenate(v_parts), offsets


def best_time(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=64)
    parser.add_argument("--samples", type=int, default=480)
    parser.add_argument("--level", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    t, v, offsets = make_frame(args.series, args.samples)
    n = t.size
    data = encode_frame(t, v, offsets, level=args.level)
    t2, v2, off2 = decode_frame(data)
    if not (
        np.array_equal(t, t2)
        and np.array_equal(offsets, off2)
        and np.array_equal(v.view(np.uint64), v2.view(np.uint64))
    ):
        raise SystemExit("round trip mismatch")

    enc = best_time(lambda: encode_frame(t, v, offsets, level=args.level), args.repeat)
    dec = best_time(lambda: decode_frame(data), args.repeat)
    print(
        f"frame: {args.series} series x {args.samples} samples = {n} samples, "
        f"zstd level {args.level}"
    )
    print(f"size:   {len(data)} bytes, {len(data) / n:.3f} bytes/sample")
    print(f"encode: {n / enc / 1e6:.1f} M samples/s ({enc * 1e3:.3f} ms)")
    print(f"decode: {n / dec / 1e6:.1f} M samples/s ({dec * 1e3:.3f} ms)")
    print("one kind per frame:")
    for kind in KINDS:
        kt, kv, ko = make_frame(args.series, args.samples, kinds=[kind])
        kdata = encode_frame(kt, kv, ko, level=args.level)
        kenc = best_time(partial(encode_frame, kt, kv, ko, level=args.level), args.repeat)
        kdec = best_time(partial(decode_frame, kdata), args.repeat)
        print(
            f"  {kind:<15} {len(kdata) / n:6.3f} bytes/sample, encode {n / kenc / 1e6:5.1f},"
            f" decode {n / kdec / 1e6:5.1f} M samples/s"
        )


if __name__ == "__main__":
    main()
