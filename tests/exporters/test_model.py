"""The cluster model: determinism, scheduling, lifecycle, OOM kills, throttling, load, scaling."""

from __future__ import annotations

import re

import numpy as np
import pytest

from kubeprom.config.cluster import LoadSpec, LoadType
from kubeprom.errors import KubepromError
from kubeprom.exporters import ids
from kubeprom.exporters.cluster import SimulatedCluster
from kubeprom.exporters.load import rps_at
from kubeprom.exporters.views import PodInfo, PodPhase

from .helpers import cluster, deployment

T0 = 1_700_000_000.0
COLD = "seed: 1\n  warm_start: false"


def _pods(c: SimulatedCluster) -> list[PodInfo]:
    return c.pods()


def _only(c: SimulatedCluster) -> PodInfo:
    (pod,) = c.pods()
    return pod


def test_same_seed_same_cluster_other_seed_other_names() -> None:
    spec = cluster(
        deployment(load="{type: constant, rps: 10, cpu_per_request: 10m, noise: 0.2}"),
        deployment("leaky", load="{type: constant, rps: 1, memory_leak_per_hour: 20Gi}"),
    )
    runs = []
    for _ in range(2):
        c = SimulatedCluster(spec, start_s=T0)
        for t in (7.5, 60.0, 61.25, 600.0):
            c.advance_to(T0 + t)
        runs.append((c.pods(), c.nodes(), c.deployments()))
    assert runs[0] == runs[1]
    pods = runs[0][0]
    assert sum(c.restart_count for p in pods for c in p.containers) > 0  # OOM kills happened
    other = SimulatedCluster(cluster(deployment(), header="seed: 2"), start_s=T0)
    assert {p.name for p in other.pods()}.isdisjoint(p.name for p in pods)


def test_observations_do_not_depend_on_how_often_the_model_is_advanced() -> None:
    spec = cluster(
        deployment(load="{type: diurnal, base_rps: 20, amplitude_rps: 10, period: 5m, noise: 0.3}")
    )
    once = SimulatedCluster(spec, start_s=T0)
    once.advance_to(T0 + 301.7)
    often = SimulatedCluster(spec, start_s=T0)
    for t in np.arange(0.0, 301.7, 0.37):
        often.advance_to(T0 + float(t))
    often.advance_to(T0 + 301.7)
    for a, b in zip(once.pods(), often.pods(), strict=True):
        assert a.name == b.name
        assert a.usage.cpu_seconds == pytest.approx(b.usage.cpu_seconds, rel=1e-9)
        assert a.usage.network_rx_bytes == pytest.approx(b.usage.network_rx_bytes, rel=1e-9)
    assert once.nodes()[0].usage.cpu_seconds == pytest.approx(
        often.nodes()[0].usage.cpu_seconds, rel=1e-9
    )


def test_pod_names_look_like_kubernetes() -> None:
    c = SimulatedCluster(cluster(deployment(replicas=3)), start_s=T0)
    alphabet = ids.SAFE_ALPHABET
    names = [p.name for p in c.pods()]
    assert len(set(names)) == 3
    for name in names:
        assert re.fullmatch(rf"web-[{alphabet}]{{6,10}}-[{alphabet}]{{5}}", name), name
    rs = {name.rsplit("-", 1)[0] for name in names}
    assert rs == {c.deployment("default", "web").replicaset}


def test_a_pod_that_fits_nowhere_stays_pending() -> None:
    node = '{name: small, capacity: {cpu: "1", memory: 1Gi, pods: 10}}'
    res = "{requests: {cpu: 400m, memory: 128Mi}}"
    c = SimulatedCluster(cluster(deployment(replicas=3, resources=res), nodes=node), start_s=T0)
    c.advance_to(T0 + 60)
    pods = c.pods()
    bound = [p for p in pods if p.node == "small"]
    pending = [p for p in pods if p.node is None]
    assert len(bound) == 2  # 2 x 400m fit in 1 CPU, a third does not
    assert [(p.phase, p.unschedulable, p.ready) for p in pending] == [
        (PodPhase.PENDING, True, False)
    ]
    assert c.deployment("default", "web").ready_replicas == 2
    # Room appears when the Deployment shrinks: nothing changes for the bound pods.
    c.scale("default", "web", 2)
    assert {p.name for p in c.pods()} == {p.name for p in bound}


@pytest.mark.parametrize(
    ("node", "resources", "fits"),
    [
        ('{name: n, capacity: {cpu: "4", memory: 1Gi}}', "{requests: {memory: 600Mi}}", 1),
        ('{name: n, capacity: {cpu: "4", memory: 8Gi, pods: 2}}', "{requests: {cpu: 10m}}", 2),
        (
            '{name: n, capacity: {cpu: "4", memory: 8Gi}, allocatable: {cpu: 1500m}}',
            "{requests: {cpu: 1}}",
            1,
        ),
    ],
    ids=["memory", "pod-count", "allocatable-not-capacity"],
)
def test_scheduling_honours_every_request(node: str, resources: str, fits: int) -> None:
    spec = cluster(deployment(replicas=3, resources=resources), nodes=node)
    c = SimulatedCluster(spec, start_s=T0)
    assert sum(p.node is not None for p in c.pods()) == fits


def test_replicas_spread_over_nodes() -> None:
    nodes = '{count: 3, capacity: {cpu: "4", memory: 8Gi}}'
    c = SimulatedCluster(cluster(deployment(replicas=3), nodes=nodes), start_s=T0)
    assert sorted(p.node or "" for p in c.pods()) == ["node-1", "node-2", "node-3"]


def test_lifecycle_pending_running_ready() -> None:
    spec = cluster(deployment(replicas=1, readiness=5), header=COLD)
    c = SimulatedCluster(spec, start_s=T0)
    pod = _only(c)
    assert (pod.phase, pod.ready, pod.containers[0].waiting_reason) == (
        PodPhase.PENDING,
        False,
        "ContainerCreating",
    )
    assert pod.scheduled_s == T0
    c.advance_to(T0 + 1.5)
    assert _only(c).phase is PodPhase.PENDING
    c.advance_to(T0 + 2.0)  # startup_delay 2s
    pod = _only(c)
    assert (pod.phase, pod.ready, pod.containers[0].running) == (PodPhase.RUNNING, False, True)
    assert pod.containers[0].started_s == T0 + 2.0
    assert pod.containers[0].container_id.startswith("containerd://")
    c.advance_to(T0 + 6.9)
    assert not _only(c).ready
    c.advance_to(T0 + 7.0)  # readiness 5s after the start
    assert _only(c).ready
    assert c.deployment("default", "web").available_replicas == 1


def test_oom_kill_restarts_the_container_with_backoff() -> None:
    # 64Mi + 1Mi per second since the container started; the limit is 128Mi.
    load = "{type: constant, rps: 0, baseline_memory: 64Mi, memory_leak_per_hour: 3600Mi}"
    res = "{requests: {memory: 64Mi}, limits: {memory: 128Mi}}"
    spec = cluster(deployment(replicas=1, resources=res, load=load), header=COLD)
    c = SimulatedCluster(spec, start_s=T0)
    c.advance_to(T0 + 66)  # started at +2: at +66 the working set is exactly 128Mi
    container = _only(c).containers[0]
    first_id = container.container_id
    assert (container.running, container.restart_count) == (True, 0)
    assert container.usage.memory_working_set_bytes == 128 * 2**20
    c.advance_to(T0 + 67)
    pod = _only(c)
    container = pod.containers[0]
    assert (container.running, container.ready, container.restart_count) == (False, False, 1)
    assert container.last_terminated_reason == "OOMKilled"
    assert container.waiting_reason == "CrashLoopBackOff"
    assert (pod.phase, pod.ready) == (PodPhase.RUNNING, False)
    c.advance_to(T0 + 76.5)
    assert not _only(c).containers[0].running
    c.advance_to(T0 + 77)  # 10s back-off
    container = _only(c).containers[0]
    assert container.running
    assert container.container_id != first_id
    assert container.started_s == T0 + 77
    assert container.usage.cpu_seconds == 0.0  # a new container starts its counters at 0
    c.advance_to(T0 + 77 + 65)
    assert _only(c).containers[0].restart_count == 2
    c.advance_to(T0 + 77 + 65 + 19)
    assert not _only(c).containers[0].running  # the second back-off is 20s
    c.advance_to(T0 + 77 + 65 + 20)
    assert _only(c).containers[0].running


def test_cpu_is_throttled_at_the_limit() -> None:
    # Demand: 10 rps x 100m = 1 core on one pod; the limit is 500m.
    load = "{type: constant, rps: 10, cpu_per_request: 100m, baseline_cpu: 0}"
    res = "{requests: {cpu: 100m}, limits: {cpu: 500m}}"
    c = SimulatedCluster(cluster(deployment(replicas=1, resources=res, load=load)), start_s=T0)
    before = _only(c).containers[0].usage
    c.advance_to(T0 + 100)
    after = _only(c).containers[0].usage
    assert after.cpu_seconds - before.cpu_seconds == pytest.approx(50.0)
    assert after.cfs_periods - before.cfs_periods == pytest.approx(1000.0)  # 100ms periods
    assert after.cfs_throttled_periods - before.cfs_throttled_periods == pytest.approx(1000.0)
    assert after.cfs_throttled_seconds - before.cfs_throttled_seconds == pytest.approx(50.0)


def test_no_throttling_below_the_limit_and_no_cfs_without_a_limit() -> None:
    load = "{type: constant, rps: 1, cpu_per_request: 100m, baseline_cpu: 0}"
    limited = cluster(deployment(replicas=1, load=load))  # limit 500m
    c = SimulatedCluster(limited, start_s=T0)
    c.advance_to(T0 + 100)
    usage = _only(c).containers[0].usage
    assert usage.cfs_periods == pytest.approx(1000.0)
    assert usage.cfs_throttled_periods == 0.0
    unlimited = cluster(deployment(replicas=1, load=load, resources="{requests: {cpu: 1}}"))
    c = SimulatedCluster(unlimited, start_s=T0)
    c.advance_to(T0 + 100)
    assert _only(c).containers[0].usage.cfs_periods == 0.0


def test_load_spreads_over_ready_pods_only() -> None:
    load = "{type: constant, rps: 10, cpu_per_request: 10m, baseline_cpu: 20m}"
    spec = cluster(deployment(replicas=1, load=load, readiness=30))
    c = SimulatedCluster(spec, start_s=T0)
    c.advance_to(T0 + 100)
    (old,) = c.pods()
    c.scale("default", "web", 2)
    (new,) = [p for p in c.pods() if p.name != old.name]
    t_scale = c.now_s

    def cpu(name: str) -> float:
        return next(p for p in c.pods() if p.name == name).usage.cpu_seconds

    c.advance_to(t_scale + 20)
    base_old, base_new = cpu(old.name), cpu(new.name)
    c.advance_to(t_scale + 30)  # the new pod runs (from +2) but is not ready (until +32)
    assert (cpu(old.name) - base_old) / 10 == pytest.approx(0.02 + 0.01 * 10)
    assert (cpu(new.name) - base_new) / 10 == pytest.approx(0.02)  # baseline only
    c.advance_to(t_scale + 40)
    base_old, base_new = cpu(old.name), cpu(new.name)
    c.advance_to(t_scale + 50)
    assert (cpu(old.name) - base_old) / 10 == pytest.approx(0.02 + 0.01 * 5)
    assert (cpu(new.name) - base_new) / 10 == pytest.approx(0.02 + 0.01 * 5)


def test_a_constant_load_gives_an_exact_cpu_rate() -> None:
    load = "{type: constant, rps: 8, cpu_per_request: 25m, baseline_cpu: 15m, noise: 0}"
    nodes = '{name: n1, capacity: {cpu: "4", memory: 8Gi}, overhead: {cpu: 100m}}'
    c = SimulatedCluster(cluster(deployment(replicas=2, load=load), nodes=nodes), start_s=T0)
    c.advance_to(T0 + 13.3)
    first = {p.name: p.usage.cpu_seconds for p in c.pods()}
    node_first = c.node("n1").usage.cpu_seconds
    c.advance_to(T0 + 313.3)
    for pod in c.pods():
        rate = (pod.usage.cpu_seconds - first[pod.name]) / 300.0
        assert rate == pytest.approx(0.015 + 0.025 * 8 / 2, rel=1e-12)
    node_rate = (c.node("n1").usage.cpu_seconds - node_first) / 300.0
    assert node_rate == pytest.approx(2 * 0.115 + 0.1, rel=1e-12)


def test_noise_varies_per_tick_around_the_mean() -> None:
    load = "{type: constant, rps: 10, cpu_per_request: 10m, baseline_cpu: 0, noise: 0.1}"
    c = SimulatedCluster(cluster(deployment(replicas=1, load=load)), start_s=T0)
    rates = []
    last = _only(c).usage.cpu_seconds
    for t in range(1, 2001):
        c.advance_to(T0 + t)
        now = _only(c).usage.cpu_seconds
        rates.append(now - last)
        last = now
    assert len(set(rates)) > 1000
    assert np.mean(rates) == pytest.approx(0.1, rel=0.01)
    assert np.std(rates) == pytest.approx(0.01, rel=0.1)


def test_counters_never_decrease() -> None:
    load = (
        "{type: spike, base_rps: 5, at: 30s, duration: 30s, every: 2m, factor: 8, noise: 0.3,"
        " memory_per_rps: 4Mi, memory_leak_per_hour: 2Gi}"
    )
    res = "{requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 200m, memory: 192Mi}}"
    c = SimulatedCluster(cluster(deployment(replicas=3, resources=res, load=load)), start_s=T0)
    seen: dict[tuple[str, ...], float] = {}
    restarts = 0
    for t in np.arange(0.0, 900.0, 7.3):
        c.advance_to(T0 + float(t))
        for pod in c.pods():
            values = {
                ("pod", pod.name, "cpu"): pod.usage.cpu_seconds,
                ("pod", pod.name, "throttled"): pod.usage.cfs_throttled_periods,
                ("pod", pod.name, "rx"): pod.usage.network_rx_bytes,
            }
            for ct in pod.containers:
                restarts += ct.restart_count
                if not ct.running:
                    continue  # not reported until it runs again, as a new container id
                values[("container", ct.container_id, "cpu")] = ct.usage.cpu_seconds
                values[("container", ct.container_id, "periods")] = ct.usage.cfs_periods
            for series, value in values.items():
                assert value >= seen.get(series, 0.0), series
                seen[series] = value
        node = c.nodes()[0].usage.cpu_seconds
        assert node >= seen.get(("node",), 0.0)
        seen[("node",)] = node
    assert restarts > 0


def test_scale_adds_and_removes_pods() -> None:
    spec = cluster(deployment(replicas=2, readiness=10))
    c = SimulatedCluster(spec, start_s=T0)
    ready = {p.name for p in c.pods()}
    c.scale("default", "web", 5)
    info = c.deployment("default", "web")
    assert (info.spec_replicas, info.replicas, info.ready_replicas, info.generation) == (5, 5, 2, 2)
    assert len({p.name for p in c.pods()}) == 5
    c.scale("default", "web", 2)  # the new, not-ready pods go first: they terminate
    assert {p.name for p in c.pods() if p.deletion_s is None} == ready
    assert c.deployment("default", "web").replicas == 2
    c.advance_to(T0 + 30)  # the default grace period: the terminating pods are gone
    assert {p.name for p in c.pods()} == ready
    c.scale("default", "web", 0)
    c.advance_to(T0 + 60)
    assert c.pods() == []
    assert c.deployment("default", "web").generation == 4
    with pytest.raises(KubepromError, match="deployment default/nope not found"):
        c.scale("default", "nope", 1)
    with pytest.raises(KubepromError, match="cannot scale default/web to -1"):
        c.scale("default", "web", -1)


def test_time_never_goes_back() -> None:
    c = SimulatedCluster(cluster(deployment()), start_s=T0)
    c.advance_to(T0 + 50)
    cpu = c.pods()[0].usage.cpu_seconds
    c.advance_to(T0 + 10)
    assert (c.now_s, c.pods()[0].usage.cpu_seconds) == (T0 + 50, cpu)


@pytest.mark.parametrize(
    ("load", "points"),
    [
        (LoadSpec(LoadType.CONSTANT, rps=7), [(0, 7), (1e6, 7)]),
        (LoadSpec(LoadType.STEP, at_s=60, from_rps=1, to_rps=9), [(59.9, 1), (60, 9)]),
        (
            LoadSpec(LoadType.RAMP, at_s=10, over_s=100, from_rps=0, to_rps=50),
            [(0, 0), (10, 0), (60, 25), (110, 50), (500, 50)],
        ),
        (
            LoadSpec(LoadType.DIURNAL, base_rps=50, amplitude_rps=30, period_s=400),
            [(0, 50), (100, 80), (200, 50), (300, 20)],
        ),
        (
            LoadSpec(LoadType.DIURNAL, base_rps=10, amplitude_rps=30, period_s=400),
            [(300, 0)],  # never negative
        ),
        (
            LoadSpec(LoadType.SPIKE, base_rps=4, at_s=30, duration_s=10, factor=5),
            [(29, 4), (30, 20), (39.9, 20), (40, 4), (1000, 4)],
        ),
        (
            LoadSpec(LoadType.SPIKE, base_rps=4, at_s=30, duration_s=10, factor=5, every_s=100),
            [(10, 4), (135, 20), (145, 4), (230, 20)],
        ),
        (
            LoadSpec(LoadType.CSV, csv_times_s=(0, 60, 120), csv_rps=(10, 40, 10)),
            [(0, 10), (30, 25), (60, 40), (120, 10), (150, 25)],  # loops over 120s
        ),
        (
            LoadSpec(LoadType.CSV, csv_times_s=(0, 60), csv_rps=(10, 40), loop=False),
            [(30, 25), (600, 40)],
        ),
    ],
    ids=["constant", "step", "ramp", "diurnal", "diurnal-clipped", "spike", "spike-every",
         "csv-loop", "csv-once"],
)  # fmt: skip
def test_load_shapes(load: LoadSpec, points: list[tuple[float, float]]) -> None:
    assert [rps_at(load, t) for t, _ in points] == pytest.approx([r for _, r in points])
