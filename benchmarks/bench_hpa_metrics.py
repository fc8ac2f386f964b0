"""The HPA's PromQL metric sources over many pods: metrics-server and prometheus-adapter.

    python benchmarks/bench_hpa_metrics.py [--pods 10000] [--reps 5]

Loads a MemStore with what kubeprom's scrapes of ``--pods`` one-container pods on 20 nodes
leave after 10 minutes at a 10 s interval (the kubelet's cpu, memory and start-time series
with ``up``, and one custom gauge per pod), then times, per call: the resource metrics read
(``read_resource_metrics``: four queries and the numpy of metrics-server's rules) and a Pods
metric through a prometheus-adapter rule (discovery done once; one query whose matcher names
every pod, as the adapter builds it).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from kubeprom.config.adapter import load_adapter_text
from kubeprom.hpa.adapter import PrometheusAdapter
from kubeprom.hpa.adapter_naming import compile_adapter
from kubeprom.hpa.metrics_resource import read_resource_metrics
from kubeprom.hpa.pods import Pod, PodList
from kubeprom.model.labels import Labels
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.tsdb.memstore import MemStore

T0 = 1_800_000_000_000
SCRAPES = 60
STEP = 10_000
NODES = 20
ADAPTER = """
rules:
  - seriesQuery: 'http_inflight{namespace!="",pod!=""}'
    resources: {overrides: {namespace: {resource: namespace}, pod: {resource: pod}}}
    metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
"""


def build(pods: int) -> tuple[MemStore, list[str]]:
    store = MemStore()
    rng = np.random.default_rng(42)
    names = [f"web-{i:06d}" for i in range(pods)]
    series = {}
    for n in range(NODES):
        offset = int(rng.integers(0, STEP))
        ts = T0 + offset + np.arange(SCRAPES, dtype=np.int64) * STEP
        up = Labels.from_dict({"__name__": "up", "job": "kubelet", "instance": f"node-{n}"})
        series[up] = (ts, np.ones(SCRAPES))
        for i in range(n, pods, NODES):
            base = {"job": "kubelet", "instance": f"node-{n}", "namespace": "default"}
            c = {**base, "pod": names[i], "container": "app"}
            cpu = np.cumsum(rng.uniform(0.5, 1.5, SCRAPES))
            series[Labels.from_dict({"__name__": "container_cpu_usage_seconds_total", **c})] = (
                ts,
                cpu,
            )
            mem = np.full(SCRAPES, float(rng.integers(50, 500) << 20))
            series[Labels.from_dict({"__name__": "container_memory_working_set_bytes", **c})] = (
                ts,
                mem,
            )
            series[Labels.from_dict({"__name__": "container_start_time_seconds", **c})] = (
                ts,
                np.full(SCRAPES, (T0 - 3_600_000) / 1000),
            )
            custom = {"namespace": "default", "pod": names[i]}
            series[Labels.from_dict({"__name__": "http_inflight", **custom})] = (
                ts,
                rng.uniform(0, 10, SCRAPES),
            )
    store.load(series)
    return store, names


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    store, names = build(args.pods)
    api = LocalQueryAPI(lambda: store)
    pods = PodList.of([Pod(n) for n in names])
    t = T0 + SCRAPES * STEP
    timings: dict[str, list[float]] = {"resource": [], "adapter pods": []}
    adapter = PrometheusAdapter(compile_adapter(load_adapter_text(ADAPTER, "a.yml")), api)
    adapter.discover(t)
    for _ in range(args.reps):
        start = time.perf_counter()
        reading = read_resource_metrics(api, "default", pods, t)
        samples = reading.samples("default", "cpu", "")
        timings["resource"].append(time.perf_counter() - start)
        assert len(samples) == args.pods  # type: ignore[arg-type]
        start = time.perf_counter()
        got = adapter.pods("default", names, "http_inflight", None, t)
        timings["adapter pods"].append(time.perf_counter() - start)
        assert len(got) == args.pods  # type: ignore[arg-type]
    for what, values in timings.items():
        print(f"{what}: {args.pods} pods, median {statistics.median(values) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
