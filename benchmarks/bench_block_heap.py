"""Heap an open block keeps of its index, per block, for blocks of HPA churn (issue 17).

    python benchmarks/bench_block_heap.py [--blocks 6] [--series 14500]

Writes ``--blocks`` blocks of churn-like series (each block its own pods, so its own pod
names, container ids and cgroup paths, as in ``bench_hpa_churn.py``'s 2-hour blocks) with
``write_block``, then, with tracemalloc running, opens them and resolves one matcher in each
(``namespace="default"``: postings) and prints the Python heap (tracemalloc: Python objects
and numpy arrays) and anonymous RSS each step added, per block. Run it with
``PYTHONPATH=<other tree>`` to measure another checkout's blocks the same way.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from kubeprom.model import Labels, Matcher, MatchType
from kubeprom.model.csr import offsets_from_counts
from kubeprom.tsdb.block import Block, write_block
from kubeprom.tsdb.postings import select_ids

HOUR = 3_600_000
_METRICS = [
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
    "container_memory_rss",
    "container_network_receive_bytes_total",
    "container_network_transmit_bytes_total",
    "container_fs_reads_bytes_total",
    "container_fs_writes_bytes_total",
    "kube_pod_info",
    "kube_pod_status_phase",
    "kube_pod_container_status_ready",
    "kube_pod_container_resource_requests",
    "pod_cpu_usage_seconds_total",
    "pod_memory_working_set_bytes",
]


def churn_labels(block: int, n_series: int) -> list[Labels]:
    out = []
    per_pod = len(_METRICS)
    for i in range(n_series):
        pod = i // per_pod
        deployment = ("web", "api", "worker")[pod % 3]
        name = f"{deployment}-7d9f8c{block:02d}-{pod:05x}"
        out.append(
            Labels.from_dict(
                {
                    "__name__": _METRICS[i % per_pod],
                    "namespace": "default",
                    "pod": name,
                    "container": "app",
                    "id": f"/kubepods/burstable/pod{block:04d}{pod:08d}-1f2e/{name}",
                    "image": f"example/{deployment}:1",
                    "node": f"node-{pod % 3}",
                    "instance": f"node-{pod % 3}:10250",
                    "job": "cadvisor",
                    "uid": f"{block:04d}{pod:08d}-aaaa-bbbb-cccc-1234567890ab",
                }
            )
        )
    return out


def write_blocks(data: Path, n_blocks: int, n_series: int) -> list[Path]:
    paths = []
    rng = np.random.default_rng(17)
    for b in range(n_blocks):
        labels = churn_labels(b, n_series)
        counts = rng.integers(1, 40, size=n_series)
        offsets = offsets_from_counts(counts)
        t = np.concatenate([np.sort(rng.choice(2 * HOUR, size=c, replace=False)) for c in counts])
        t = t.astype(np.int64) + b * 2 * HOUR
        v = rng.random(t.size)
        paths.append(
            write_block(
                data, labels, t, v, offsets, min_time=b * 2 * HOUR, max_time=(b + 1) * 2 * HOUR
            )
        )
    return paths


def _anon_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--blocks", type=int, default=6)
    p.add_argument("--series", type=int, default=14_500)
    args = p.parse_args()
    import kubeprom

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_blocks(Path(tmp), args.blocks, args.series)
        index_bytes = sum(os.path.getsize(p / "index") for p in paths) / len(paths)
        gc.collect()
        tracemalloc.start()
        heap0, anon0 = tracemalloc.get_traced_memory()[0], _anon_kib()
        blocks = [Block.open(p) for p in paths]
        gc.collect()
        heap1, anon1 = tracemalloc.get_traced_memory()[0], _anon_kib()
        m = [Matcher(MatchType.EQUAL, "namespace", "default")]
        found = [int(select_ids(b, m).size) for b in blocks]
        gc.collect()
        heap2, anon2 = tracemalloc.get_traced_memory()[0], _anon_kib()
        tracemalloc.stop()
        n = len(blocks)
        print(f"tree {Path(kubeprom.__file__).parent.parent}")
        print(
            f"{n} blocks x {args.series} series (matched {found[0]} each); "
            f"index file {index_bytes / 2**20:.2f} MiB per block"
        )
        print(
            f"per block: heap after open {(heap1 - heap0) / n / 2**20:.3f} MiB, "
            f"+ after one matcher {(heap2 - heap1) / n / 2**20:.3f} MiB "
            f"(total {(heap2 - heap0) / n / 2**20:.3f} MiB); anonymous RSS after open "
            f"{(anon1 - anon0) / n / 1024:.3f} MiB, total {(anon2 - anon0) / n / 1024:.3f} MiB"
        )
        # CPU of matcher resolution and label decoding, cold (first) and warm (again).
        regex = [
            Matcher(MatchType.REGEX, "pod", "web-.*"),
            Matcher(MatchType.EQUAL, "job", "cadvisor"),
        ]
        for what in ("cold", "warm"):
            t0 = time.process_time()
            ids = [select_ids(b, regex) for b in blocks]
            t1 = time.process_time()
            labels = [b.labels_list(i.tolist()) for b, i in zip(blocks, ids, strict=True)]
            t2 = time.process_time()
            print(
                f"{what}: select pod=~'web-.*' {(t1 - t0) / n * 1e3:.1f} ms CPU per block "
                f"({ids[0].size} series), their label sets {(t2 - t1) / n * 1e3:.1f} ms"
            )
            del labels
        for b in blocks:
            b.close()


if __name__ == "__main__":
    main()
