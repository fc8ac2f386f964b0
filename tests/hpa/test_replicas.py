"""Replica calculations on paths the shared cases leave open: Go's integer semantics, the
>100% fallback for missing pods, superfluous samples, failures and their wording."""

from __future__ import annotations

import pytest

from kubeprom.config.hpa_spec import CrossVersionObjectReference
from kubeprom.hpa.pods import Container, Pod, PodList, PodTemplate, Ready
from kubeprom.hpa.replicas import CalcError, ReplicaCalculator, Tolerances
from kubeprom.hpa.source import PodUsage, StaticMetricsSource

NOW = 1_000_000_000
ONE_CPU = PodTemplate((Container("app", (("cpu", 1000),)),))
TOL = Tolerances()
DEPLOY = CrossVersionObjectReference("Deployment", "web", "apps/v1")


def usage(values: dict[str, int], resource: str = "cpu") -> dict[str, PodUsage]:
    return {p: PodUsage((("app", ((resource, v),)),), NOW) for p, v in values.items()}


def calc(pods: list[Pod], source: StaticMetricsSource) -> ReplicaCalculator:
    return ReplicaCalculator(source, PodList.of(pods), "default", "app=web", NOW)


def running(*names: str, **kw: object) -> list[Pod]:
    return [Pod(n, ONE_CPU, start_ms=NOW - 3_600_000, **kw) for n in names]  # type: ignore[arg-type]


def test_missing_pods_count_at_the_target_above_100_percent() -> None:
    source = StaticMetricsSource(resources={"cpu": usage({"a": 200, "b": 200})})
    p = calc(running("a", "b", "c", "d"), source).resource_replicas(4, 200, "cpu", TOL)
    # 20% against 200%: on the way down each missing pod counts as 200% of its request,
    # (400 + 4000) / 4000 = 110% -> 0.55 x 4 -> 3 (the pre-1.33 100% rule gave 2)
    assert (p.replicas, p.usage, p.raw_usage) == (3, 20, 200)
    assert p.trace.rebalance is not None
    assert (p.trace.rebalance.missing_as, p.trace.rebalance.usage) == ("200% of request", 110)


def test_superfluous_samples_enter_a_pods_metric_average() -> None:
    samples = {"a": (10_000, NOW, 60_000), "b": (10_000, NOW, 60_000), "x": (40_000, NOW, 60_000)}
    source = StaticMetricsSource(pods_metrics={"qps": samples})
    p = calc(running("a", "b"), source).metric_replicas(2, 10_000, "qps", TOL, None)
    assert (p.replicas, p.usage) == (4, 20_000)  # (10+10+40)/3 = 20 against 10, x 2 ready pods
    assert p.trace.groups is not None
    assert p.trace.groups.superfluous.tolist() == ["x"]


def test_usage_sums_wrap_as_int64() -> None:
    source = StaticMetricsSource(resources={"cpu": usage({"a": 2**62, "b": 2**62})})
    p = calc(running("a", "b"), source).resource_replicas(2, 50, "cpu", TOL)
    # Go: metricsTotal wraps to -2**63; *100 wraps to 0, so the utilization reads 0%
    assert (p.replicas, p.usage, p.raw_usage) == (0, 0, -(2**62))


def test_cpu_average_value_targets_apply_the_readiness_rules() -> None:
    source = StaticMetricsSource(resources={"cpu": usage({"a": 900, "b": 300})})
    pods = running("a") + running("b", ready=Ready.FALSE, ready_transition_ms=NOW - 3_600_000)
    p = calc(pods, source).raw_resource_replicas(2, 500, "cpu", TOL)
    # b never became ready: its sample is dropped, and on a scale-up it counts as 0
    assert (p.usage, p.replicas) == (900, 2)
    assert p.trace.kept_current == "within tolerance after rebalancing"


def test_object_per_pod_with_no_replicas_reads_an_infinite_ratio() -> None:
    source = StaticMetricsSource(objects={("Deployment", "web", "qps"): 5_000})
    p = calc([], source).object_per_pod_replicas(0, 1_000, "qps", TOL, DEPLOY, None)
    assert p.replicas == 5
    assert p.usage == -(2**63)  # int64(+Inf) on amd64


def test_external_value_sums_negative_series() -> None:
    source = StaticMetricsSource(externals={"q": [5_000, -1_000]})
    p = calc(running("a"), source).external_replicas(1, 2_000, "q", TOL, None)
    assert (p.replicas, p.usage) == (2, 4_000)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda c: c.resource_replicas(1, 50, "cpu", TOL, "sidecar"),
            "unable to get metrics for resource cpu: failed to get container metrics: container "
            "sidecar not present in metrics for pod default/a",
        ),
        (
            lambda c: c.object_replicas(1, 1000, "rps", TOL, DEPLOY, None),
            "unable to get metric rps: Deployment on default web/unable to fetch metrics from "
            "custom metrics API: the server could not find the metric rps for deployment web",
        ),
        (
            lambda c: c.external_replicas(1, 1000, "rps", TOL, None),
            "unable to get external metric default/rps/nil: unable to fetch metrics from external "
            "metrics API: the server could not find the requested resource "
            "(get rps.external.metrics.k8s.io)",
        ),
    ],
    ids=["container-absent", "object", "external"],
)
def test_failures_are_worded_as_upstream(call: object, message: str) -> None:
    c = calc(running("a"), StaticMetricsSource(resources={"cpu": usage({"a": 1})}))
    with pytest.raises(CalcError) as err:
        call(c)  # type: ignore[operator]
    assert str(err.value) == message


def test_no_pods_for_an_object_value_target() -> None:
    source = StaticMetricsSource(objects={("Deployment", "web", "qps"): 5_000})
    with pytest.raises(CalcError, match=r"^unable to calculate ready pods: no pods returned"):
        calc([], source).object_replicas(2, 1_000, "qps", TOL, DEPLOY, None)


def test_tolerance_bounds_are_inclusive() -> None:
    t = Tolerances(scale_down=0.25, scale_up=0.5)
    assert (t.within(0.75), t.within(1.5), t.within(0.7499), t.within(float("nan"))) == (
        True,
        True,
        False,
        False,
    )
