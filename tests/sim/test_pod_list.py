"""The HPA's pod list of a simulated namespace, built as columns (``workloads.pod_list``),
against the row-by-row definition ``PodList.of([pod(p) for p in states if matches(...)])``;
a namespace's pods listed once per sync, again after any scale written or time moved."""

from __future__ import annotations

import random

import numpy as np

from kubeprom.config.cluster import ContainerSpec, Resources
from kubeprom.config.cluster_parse import parse_cluster_config
from kubeprom.config.hpa_spec import CrossVersionObjectReference
from kubeprom.exporters import PodPhase, PodState, SimulatedCluster
from kubeprom.hpa import PodList
from kubeprom.model.selectors import matches, parse_label_selector
from kubeprom.sim.workloads import ClusterWorkloads, pod, pod_list
from tests.support.hpa_cluster import CLUSTER

_FIELDS = ("names", "template", "phase", "deleting", "ready", "start_ms", "has_start")


def _specs(cpu: float | None, memory: float | None) -> tuple[ContainerSpec, ...]:
    app = ContainerSpec("app", "img", Resources(cpu=cpu, memory=memory), Resources())
    return (app, ContainerSpec("sidecar", "img", Resources(cpu=0.05), Resources()))


def _states(seed: int) -> list[PodState]:
    rnd = random.Random(seed)
    # Two Deployments' shapes, one of them twice as distinct but equal objects (the same
    # template must be stored once), and a third Deployment the selector leaves out.
    shapes = [
        ({"app": "web"}, _specs(0.25, 256e6)),
        ({"app": "web"}, _specs(0.25, 256e6)),
        ({"app": "api", "tier": "x"}, _specs(None, 1.5e6)),
        ({"app": "db"}, _specs(1.0, None)),
    ]
    times = [None, 0.0, 12.3455, 0.0005, 0.0015, 86_399.9995, 1_765_000_000.1235]
    out = []
    for i in range(60):
        labels, specs = shapes[rnd.randrange(len(shapes))]
        out.append(
            PodState(
                "ns",
                f"pod-{rnd.randrange(1000):03d}-{i}",
                labels,
                rnd.choice(list(PodPhase)),
                rnd.random() < 0.5,
                rnd.random() < 0.7,
                rnd.random() < 0.2,
                rnd.choice(times),
                rnd.choice(times),
                specs,
            )
        )
    return out


def _assert_same(got: PodList, want: PodList) -> None:
    for name in _FIELDS:
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype, name
        assert np.array_equal(a, b), name
    assert np.array_equal(got.transition_ms, want.transition_ms)
    assert got.templates == want.templates


def test_columns_equal_the_rows_for_each_selector() -> None:
    for seed in range(5):
        states = _states(seed)
        for text in ("app=web", "app in (web,api)", "tier", "app!=web", "", "app=none"):
            req = parse_label_selector(text)
            want = PodList.of([pod(p) for p in states if matches(req, p.labels)])
            _assert_same(pod_list(states, req), want)


def test_times_round_half_to_even_and_transition_defaults_to_start() -> None:
    state = _states(0)[0]
    fields = {f: getattr(state, f) for f in PodState.__slots__}
    rows = [
        PodState(**{**fields, "name": "a", "start_s": 0.0025, "ready_changed_s": None}),
        PodState(**{**fields, "name": "b", "start_s": None, "ready_changed_s": None}),
        PodState(**{**fields, "name": "c", "start_s": 1.0005, "ready_changed_s": 0.0015}),
    ]
    got = pod_list(rows, ())
    assert got.start_ms.tolist() == [2, np.iinfo(np.int64).min, 1000]
    assert got.has_start.tolist() == [True, False, True]
    assert got.transition_ms.tolist() == [2, np.iinfo(np.int64).min, 2]
    assert got.templates == (pod(rows[0]).template,)


def test_a_namespace_listed_once_per_sync_until_a_scale_is_written() -> None:
    spec = parse_cluster_config(CLUSTER, "kubeprom.yml")
    assert spec is not None
    cluster = SimulatedCluster(spec, start_s=1_700_000_000.0)
    work = ClusterWorkloads(cluster)
    calls = []
    real = cluster.pod_states

    def counting(namespace: str) -> list[PodState]:
        calls.append(namespace)
        return real(namespace)

    cluster.pod_states = counting  # type: ignore[method-assign]
    work.sync(1_700_000_030_000)
    assert len(work.pods("default", "app=web")) == 2
    assert len(work.pods("default", "app")) == 2
    assert len(work.pods("default", "app=api")) == 0
    assert calls == ["default"]
    web = CrossVersionObjectReference("Deployment", "web", "apps/v1")
    assert work.write_scale("default", web, 5) is None
    assert len(work.pods("default", "app=web")) == 5  # the write dropped the listing
    assert calls == ["default", "default"]
    cluster.advance_to(1_700_000_045.0)  # time moved on without a sync: listed again
    assert len(work.pods("default", "app=web")) == 5
    assert calls == ["default", "default", "default"]
    work.sync(1_700_000_060_000)
    assert len(work.pods("default", "app")) == 5
    assert calls == ["default"] * 4
