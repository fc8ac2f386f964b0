"""Working memory of one block merge at HPA-churn series counts (issue 17).

    python benchmarks/bench_merge_memory.py [--parents 2] [--series 150000] [--hours 18]
                                            [--data DIR]

Writes ``--parents`` adjacent blocks of ``--hours`` each with ``write_block``, each holding
``--series`` churn-like series (its own pods, so its own pod names, uids and cgroup paths,
as the 18-hour blocks of ``bench_hpa_churn.py``; a fifth of the series shared by every
parent), every series living a random stretch of its block with a sample every 15 minutes.
Then, in this process, merges them with ``merge_blocks`` and prints the merge's peak of
traced heap (tracemalloc: Python objects and numpy arrays) and of resident memory (VmHWM,
reset before the merge through ``/proc/self/clear_refs``), both above what was live before.
With ``--data`` the parents are kept there and reused by the next run. Run it with
``PYTHONPATH=<other tree>`` to measure another checkout's merge on the same parents.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

import kubeprom
from kubeprom.model.csr import offsets_from_counts
from kubeprom.tsdb.block import Block, write_block
from kubeprom.tsdb.compact import merge_blocks

try:
    from benchmarks.bench_block_heap import churn_labels
except ImportError:  # run as a script: benchmarks/ is sys.path[0]
    from bench_block_heap import churn_labels  # type: ignore[import-not-found,no-redef]

HOUR = 3_600_000
STEP = 15 * 60_000
SHARED_BLOCK = 99  # churn_labels' block number of the series every parent holds


def write_parents(data: Path, n_parents: int, n_series: int, hours: int) -> list[Path]:
    rng = np.random.default_rng(17)
    span = hours * HOUR
    n_shared = n_series // 5
    shared = churn_labels(SHARED_BLOCK, n_shared)
    paths = []
    for b in range(n_parents):
        labels = churn_labels(b, n_series - n_shared) + shared
        starts = rng.integers(0, span // STEP, size=len(labels))
        lives = rng.integers(1, 12, size=len(labels))
        counts = np.minimum(lives, span // STEP - starts)
        offsets = offsets_from_counts(counts)
        within = np.arange(int(offsets[-1])) - np.repeat(offsets[:-1], counts)
        t = (np.repeat(starts, counts) + within) * STEP + b * span
        paths.append(
            write_block(
                data,
                labels,
                t.astype(np.int64),
                rng.random(t.size),
                offsets,
                min_time=b * span,
                max_time=(b + 1) * span,
            )
        )
    return paths


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def digest(path: Path) -> str:
    """One hash over the block's index and chunk file (meta.json differs by ulid)."""
    h = hashlib.sha256()
    for name in ("index", "chunks/000001"):
        h.update((path / name).read_bytes())
    return h.hexdigest()[:16]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parents", type=int, default=2)
    p.add_argument("--series", type=int, default=150_000)
    p.add_argument("--hours", type=int, default=18)
    p.add_argument("--data", type=Path, help="keep the parents here and reuse them")
    args = p.parse_args()

    tmp = tempfile.mkdtemp(prefix="merge-mem-")
    try:
        data = args.data or Path(tmp) / "parents"
        data.mkdir(parents=True, exist_ok=True)
        paths = sorted(d for d in data.iterdir() if d.is_dir())
        if not paths:
            paths = write_parents(data, args.parents, args.series, args.hours)
        parents = sorted((Block.open(d) for d in paths), key=lambda b: b.meta.min_time)
        out = Path(tmp) / "merged"
        out.mkdir()
        gc.collect()
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        rss0 = _status_kib("VmRSS")
        tracemalloc.start()
        heap0 = tracemalloc.get_traced_memory()[0]
        t0 = time.perf_counter()
        merged = merge_blocks(out, parents)
        seconds = time.perf_counter() - t0
        heap_peak = tracemalloc.get_traced_memory()[1] - heap0
        tracemalloc.stop()
        hwm = _status_kib("VmHWM") - rss0
        assert merged is not None
        block = Block.open(merged)
        print(f"tree {Path(kubeprom.__file__).parent.parent}")
        print(
            f"{len(parents)} parents, {sum(b.meta.num_series for b in parents)} parent series "
            f"-> {block.meta.num_series} series; index "
            f"{(merged / 'index').stat().st_size / 2**20:.1f} MiB; digest {digest(merged)}"
        )
        print(
            f"merge: {seconds:.1f} s, traced heap peak +{heap_peak / 2**20:.1f} MiB, "
            f"VmHWM +{hwm / 1024:.1f} MiB"
        )
        block.close()
        for b in parents:
            b.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
