"""One HPA sync over many pods: reconcile() with a cpu Utilization and a Pods metric.

    python benchmarks/bench_hpa.py [--pods 10000] [--syncs 50]

Builds a pod list (5% unready, 2% missing samples, 1% deleting), then runs ``--syncs``
reconciles 15 s apart with fresh samples each time, and prints per-sync wall time. The
pod-level work (grouping, request sums, averages) is numpy; this measures that it stays so.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from kubeprom.config.hpa_spec import (
    CrossVersionObjectReference,
    HorizontalPodAutoscaler,
    HPABehavior,
    HPASpec,
    MetricIdentifier,
    MetricSpec,
    MetricTarget,
    PodsMetricSource,
    ResourceMetricSource,
    apply_defaults,
)
from kubeprom.hpa import (
    Container,
    HPAState,
    HPAStatus,
    Pod,
    PodList,
    PodSamples,
    PodTemplate,
    Ready,
    Scale,
    SyncInputs,
    reconcile,
)
from kubeprom.model.quantity import from_milli

NOW = 1_000_000_000


class ArraySource:
    """A MetricsSource over ready-made sample arrays."""

    def __init__(self, cpu: PodSamples, qps: PodSamples) -> None:
        self.cpu, self.qps = cpu, qps

    def resource(self, namespace: str, selector: str, resource: str, container: str) -> PodSamples:
        return self.cpu

    def pods(
        self, namespace: str, selector: str, metric: str, metric_selector: object
    ) -> PodSamples:
        return self.qps

    def object(self, *args: object) -> int:  # pragma: no cover - not used here
        raise NotImplementedError

    def external(self, *args: object) -> list[int]:  # pragma: no cover - not used here
        raise NotImplementedError


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--syncs", type=int, default=50)
    args = parser.parse_args()
    n = args.pods
    rng = np.random.default_rng(42)
    template = PodTemplate(
        (Container("app", (("cpu", 500),)), Container("proxy", (("cpu", 100),), sidecar=True))
    )
    unready = rng.random(n) < 0.05
    deleting = rng.random(n) < 0.01
    pods = PodList.of(
        [
            Pod(
                f"web-{i}",
                template,
                deleting=bool(deleting[i]),
                ready=Ready.FALSE if unready[i] else Ready.TRUE,
                start_ms=NOW - 3_600_000,
                ready_transition_ms=NOW - 3_500_000,
            )
            for i in range(n)
        ]
    )
    reporting = pods.names[rng.random(n) >= 0.02]
    metrics = (
        MetricSpec(
            "Resource",
            resource=ResourceMetricSource(
                "cpu", MetricTarget("Utilization", average_utilization=60)
            ),
        ),
        MetricSpec(
            "Pods",
            pods=PodsMetricSource(
                MetricIdentifier("qps"),
                MetricTarget("AverageValue", average_value=from_milli(20_000)),
            ),
        ),
    )
    spec = HPASpec(
        CrossVersionObjectReference("Deployment", "web", "apps/v1"),
        n * 3,
        1,
        metrics,
        HPABehavior(),
    )
    hpa = apply_defaults(HorizontalPodAutoscaler("web", spec))
    state = HPAState(HPAStatus(n, n))
    times = []
    for step in range(args.syncs):
        now = NOW + step * 15_000
        m = len(reporting)
        cpu = PodSamples(
            reporting,
            rng.integers(200, 500, m).astype(np.int64),
            np.full(m, now, np.int64),
            np.full(m, 60_000, np.int64),
        )
        qps = PodSamples(
            reporting,
            rng.integers(10_000, 25_000, m).astype(np.int64),
            np.full(m, now, np.int64),
            np.full(m, 60_000, np.int64),
        )
        inputs = SyncInputs(Scale(n, n, "app=web"), pods, ArraySource(cpu, qps))
        t0 = time.perf_counter()
        result = reconcile(hpa, state, inputs, now)
        times.append(time.perf_counter() - t0)
        state = result.state
    ms = np.array(times) * 1000
    print(
        f"pods={n} syncs={args.syncs} per sync: median {np.median(ms):.2f} ms, "
        f"p90 {np.percentile(ms, 90):.2f} ms, max {ms.max():.2f} ms"
    )


if __name__ == "__main__":
    main()
