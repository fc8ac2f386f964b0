"""WAL append and replay throughput.

Run from the repository root: ``python -m benchmarks.bench_wal``. Each case appends about
``TOTAL_SAMPLES`` samples in batches of 1k / 10k / 100k (one ``log_samples`` call per
batch, a scrape-sized commit) to a WAL in a temporary directory, then replays it.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np

from kubeprom.tsdb.wal import WAL, SamplesRecord

TOTAL_SAMPLES = 5_000_000
BATCH_SIZES = (1_000, 10_000, 100_000)


def _bench(batch: int, *, compress: bool, integer_values: bool) -> None:
    rng = np.random.default_rng(batch)
    refs = np.arange(batch, dtype=np.int64) + 1
    if integer_values:  # counters: compress well
        values = rng.integers(0, 10_000, batch).astype(np.float64)
    else:  # gauges with full-entropy mantissas: barely compress
        values = rng.random(batch) * 100
    calls = max(TOTAL_SAMPLES // batch, 20)
    with tempfile.TemporaryDirectory() as d:
        wal = WAL(d, compress=compress)
        start = time.perf_counter()
        for i in range(calls):
            wal.log_samples(1_700_000_000_000 + i * 15_000, refs, values)
        elapsed = time.perf_counter() - start
        wal.sync()
        size = wal.size_bytes
        wal.close()
        wal = WAL(d)
        start = time.perf_counter()
        replayed = sum(r.values.size for r in wal.replay() if isinstance(r, SamplesRecord))
        replay_s = time.perf_counter() - start
        wal.close()
    n = calls * batch
    kind = "integer" if integer_values else "random "
    print(
        f"batch={batch:>7,} compress={compress!s:<5} values={kind} "
        f"append={n / elapsed / 1e6:6.1f} M samples/s ({elapsed / calls * 1e6:7.1f} us/call) "
        f"bytes/sample={size / n:5.2f} replay={replayed / replay_s / 1e6:6.1f} M samples/s"
    )


def main() -> None:
    for compress in (False, True):
        for integer_values in (False, True):
            for batch in BATCH_SIZES:
                _bench(batch, compress=compress, integer_values=integer_values)


if __name__ == "__main__":
    main()
