"""Throughput of the vectorised range functions (``kubeprom.promql.functions``).

Run from the repository root: ``python -m benchmarks.bench_range_funcs [--series 10000]
[--steps 240] [--step-s 60] [--range-s 300] [--repeat 3]``. Builds the windows of a range
query the way the evaluator does (15 s scrapes with +-3 ms jitter, counters with an
occasional reset, left-open windows ``(t - range, t]``) and prints, per function, the best
wall time of ``--repeat`` runs and series-steps per second (one core).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from kubeprom.model.labels import Labels
from kubeprom.model.samples import F64Array
from kubeprom.promql.functions.range_funcs import RANGE_FUNCTIONS
from kubeprom.promql.types import Annotations, RangeWindows

SCRAPE_INTERVAL_MS = 15_000
JITTER_MS = 3
RESET_PROBABILITY = 1e-3


def build_windows(series: int, steps: int, step_ms: int, range_ms: int) -> RangeWindows:
    """Windows over ``series`` counters scraped every 15 s for the whole query span."""
    rng = np.random.default_rng(42)
    start = range_ms
    span = start + (steps - 1) * step_ms
    per_series = span // SCRAPE_INTERVAL_MS + 1
    base = np.arange(per_series, dtype=np.int64) * SCRAPE_INTERVAL_MS
    t = (base[None, :] + rng.integers(-JITTER_MS, JITTER_MS + 1, (series, per_series))).clip(0)
    t.sort(axis=1)
    increments = rng.poisson(rng.uniform(1, 50, (series, 1)), (series, per_series))
    v = np.cumsum(increments, axis=1).astype(np.float64)
    # Occasional restarts: the counter drops back towards zero.
    resets = rng.random((series, per_series)) < RESET_PROBABILITY
    v = np.where(resets, v % 7, v)
    step_times = start + np.arange(steps, dtype=np.int64) * step_ms
    offsets = np.arange(series + 1, dtype=np.int64) * per_series
    # Window bounds by one searchsorted over all series: shifting each series into its own
    # time slot keeps the concatenated timestamps sorted.
    shift = (np.arange(series, dtype=np.int64) * (span + 10 * SCRAPE_INTERVAL_MS))[:, None]
    flat_t = t + shift
    lo = np.searchsorted(flat_t.ravel(), (step_times[None, :] - range_ms + shift).ravel(), "right")
    hi = np.searchsorted(flat_t.ravel(), (step_times[None, :] + shift).ravel(), "right")
    return RangeWindows(
        labels=[Labels([("i", str(i))]) for i in range(series)],
        t=t.ravel(),
        v=v.ravel(),
        offsets=offsets,
        lo=lo.reshape(series, steps),
        hi=hi.reshape(series, steps),
        step_times=step_times,
        range_ms=range_ms,
    )


CASES: dict[str, list[float]] = {
    "rate": [],
    "increase": [],
    "avg_over_time": [],
    "sum_over_time": [],
    "stddev_over_time": [],
    "max_over_time": [],
    "deriv": [],
    "quantile_over_time": [0.9],
    "changes": [],
    "last_over_time": [],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=240)
    parser.add_argument("--step-s", type=int, default=60)
    parser.add_argument("--range-s", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    w = build_windows(opts.series, opts.steps, opts.step_s * 1000, opts.range_s * 1000)
    windows = opts.series * opts.steps
    samples = int((w.hi - w.lo).sum())
    print(
        f"{opts.series} series x {opts.steps} steps, [{opts.range_s}s] windows, "
        f"{samples / windows:.1f} samples per window"
    )
    for name, scalars in CASES.items():
        args: list[F64Array] = [np.full(opts.steps, s) for s in scalars]
        best = float("inf")
        for _ in range(opts.repeat):
            began = time.perf_counter()
            RANGE_FUNCTIONS[name](w, args, Annotations.new())
            best = min(best, time.perf_counter() - began)
        print(f"{name:20s} {best * 1000:8.1f} ms  {windows / best:14,.0f} series-steps/s")


if __name__ == "__main__":
    main()
