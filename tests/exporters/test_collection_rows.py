"""What the exporters keep between collections gives what a collection from scratch gives.

kube-state-metrics' pod families read the cluster as columns (``pod_rows``): the keys and
values must be those the pod views give; cAdvisor and the kubelet keep their blocks and fixed
columns while a node's cgroups hold: a fresh collector must give the same series and value
bits. Both at every step of a run with pending, restarting, terminating and multi-container
pods."""

from __future__ import annotations

import numpy as np
import pytest

from kubeprom.exporters import snapshot
from kubeprom.exporters.cadvisor import CadvisorCollector
from kubeprom.exporters.cluster import SimulatedCluster
from kubeprom.exporters.columns import Columns
from kubeprom.exporters.ksm_pods import PodColumns, _pod_block, _values
from kubeprom.exporters.kubelet import ResourceMetricsCollector
from kubeprom.exporters.views import PodInfo, PodPhase

from .helpers import cluster, deployment

T0 = 1_700_000_000.0
_STATUSES = ("true", "false", "unknown")
_QOS = ("BestEffort", "Burstable", "Guaranteed")
_SIDECAR = (
    "- {metadata: {name: duo, namespace: jobs}, spec: {replicas: 3, template: {spec: "
    "{containers: [{name: app, image: 'nginx:1.25', resources: {requests: {cpu: 300m}}}, "
    "{name: side, image: busybox, resources: {limits: {memory: 64Mi}}}]}}}, "
    "load: {type: constant, rps: 0, baseline_memory: 60Mi, memory_leak_per_hour: 600Mi}}"
)


def _key(p: PodInfo) -> tuple[object, ...]:
    """Everything a pod's series depend on, read from its view (the definition)."""
    containers = tuple(
        (
            c.name,
            c.requests.cpu is not None,
            c.requests.memory is not None,
            c.limits.cpu is not None,
            c.limits.memory is not None,
            c.image_spec,
            c.image,
            c.image_id,
            c.container_id,
            c.started_s is not None,
            c.last_terminated_reason,
            c.waiting_reason,
        )
        for c in p.containers
    )
    return (
        p.namespace,
        p.name,
        p.uid,
        p.node,
        p.host_ip,
        p.pod_ip,
        p.owner_kind,
        p.owner_name,
        tuple(sorted(p.labels.items())),
        p.deletion_s is not None,
        p.started_s is not None,
        p.unschedulable,
        containers,
    )


def _row(p: PodInfo) -> list[float]:
    """A pod's value row from its view, in ksm_pods' layout (the definition)."""
    flag = float
    row = [0.0, 1.0, 137.0, p.created_s, p.deletion_s or 0.0, p.started_s or 0.0]
    row += [flag(p.phase is phase) for phase in PodPhase]
    row += [flag(s == ("true" if p.ready else "false")) for s in _STATUSES]
    row += [flag(s == ("true" if p.node is not None else "false")) for s in _STATUSES]
    row += [flag(p.qos.value == k) for k in _QOS]
    for c in p.containers:
        row += [
            c.requests.cpu or 0.0,
            c.requests.memory or 0.0,
            c.limits.cpu or 0.0,
            c.limits.memory or 0.0,
            c.started_s or 0.0,
            flag(c.ready),
            float(c.restart_count),
            flag(c.running),
            flag(c.waiting_reason is not None),
        ]
    return row


def _check(c: SimulatedCluster, columns: PodColumns) -> set[tuple[str, bool, bool, bool]]:
    infos = c.pods()
    rows = c.pod_rows()
    assert rows.keys == tuple(_key(p) for p in infos)
    expected = [_row(p) for p in infos]
    width = max(map(len, expected), default=0)
    matrix = np.zeros((len(expected), width))
    for i, row in enumerate(expected):
        matrix[i, : len(row)] = row
    got = _values(rows)
    assert got.shape == matrix.shape
    assert got.tobytes() == matrix.tobytes()  # bit for bit
    collected = columns.columns()
    blocks = [_pod_block(p) for p in infos]
    assert [(b.keys, b.labels, b.column.tolist()) for b in collected.blocks] == [
        (b.keys, b.labels, b.column.tolist()) for b in blocks
    ]
    assert collected.matrix.tobytes() == matrix.tobytes()
    return {(p.phase.value, p.ready, p.deletion_s is not None, p.node is None) for p in infos}


def _cluster() -> SimulatedCluster:
    small = '{name: node-1, capacity: {cpu: "1", memory: 1Gi, pods: 110}}'
    spec = cluster(
        deployment("web", replicas=2, readiness=20),
        deployment("free", replicas=1, resources="{}", load="{type: constant, rps: 1}"),
        _SIDECAR,
        nodes=small,
        header="seed: 4\n  warm_start: false",
    )
    return SimulatedCluster(spec, start_s=T0)


def _step(c: SimulatedCluster, step: int, every_s: float = 5.0) -> None:
    c.advance_to(T0 + every_s * step)
    if step == 10:
        c.scale("default", "web", 4)
    if step == 25:
        c.scale("default", "web", 1)


def _series(columns: Columns) -> list[tuple[object, ...]]:
    return [
        (b.family.tolist(), b.names, b.labels, b.keys, b.column.tolist()) for b in columns.blocks
    ]


def test_pod_rows_are_the_views_columns_at_every_step() -> None:
    c = _cluster()
    columns = PodColumns(c)
    seen: set[tuple[str, bool, bool, bool]] = set()
    for step in range(1, 40):
        _step(c, step)
        seen |= _check(c, columns)
    restarted = [ct for p in c.pods() for ct in p.containers if ct.restart_count]
    assert restarted, "no container was OOM-killed and restarted"
    # Pending and unbound, running and ready or not, terminating: every kind was compared.
    assert {("Pending", False, False, True), ("Running", True, False, False)} <= seen
    assert ("Running", False, False, False) in seen
    assert any(terminating for _, _, terminating, _ in seen)


# With 30 s between collections a container can die and restart between two of them: the
# node keeps as many cgroups, not the same ones.
@pytest.mark.parametrize("every_s", [5.0, 15.0, 30.0])
def test_kept_node_collections_are_fresh_ones(every_s: float) -> None:
    c = _cluster()
    kinds: tuple[type[CadvisorCollector | ResourceMetricsCollector], ...] = (
        CadvisorCollector,
        ResourceMetricsCollector,
    )
    kept = [kind(c, "node-1") for kind in kinds]
    reused = 0
    last: list[object] = [None, None]
    for step in range(1, 40):
        _step(c, step, every_s)
        for i, (kind, collector) in enumerate(zip(kinds, kept, strict=True)):
            got = collector.columns()
            fresh = kind(c, "node-1").columns()
            assert _series(got) == _series(fresh)
            assert got.matrix.tobytes() == fresh.matrix.tobytes()
            assert got.t_s == fresh.t_s
            reused += got.blocks is last[i]
            last[i] = got.blocks
    # Some collections were kept and some built again (the pods changed in between).
    assert 10 < reused < 2 * 39 - 10


@pytest.mark.parametrize("every_s", [5.0, 15.0, 30.0])
def test_kept_node_shapes_give_fresh_cgroups(every_s: float) -> None:
    c = _cluster()
    kept = 0
    last: object = None
    for step in range(1, 40):
        _step(c, step, every_s)
        got = c.node_cgroups("node-1")
        pods = [p for p in c._sorted_pods() if p.node == 0]
        fresh = snapshot.node_cgroups(c, snapshot.node_shape(c, pods, ([], -1, -1)))
        assert got.cgroups == fresh.cgroups
        for name in ("counters", "memory", "rx", "tx"):
            assert getattr(got, name).tobytes() == getattr(fresh, name).tobytes(), name
        kept += got.cgroups is last
        last = got.cgroups
    assert 5 < kept < 39 - 5  # some shapes were kept, some built again
