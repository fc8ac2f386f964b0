"""Builds the read-only views of :mod:`.views` from the model's internals in :mod:`.cluster`.

This module is the cluster model's friend: it reads the model's private records.

Memory figures other than the working set are fixed fractions of it, chosen so the cAdvisor
relations hold: ``rss <= working_set <= usage`` and ``usage = working_set + inactive_file``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from kubeprom.exporters import ids
from kubeprom.exporters.load import rps_at
from kubeprom.exporters.state import CPU, PERIODS, RX, THROTTLED_PERIODS, THROTTLED_S, TX
from kubeprom.exporters.views import (
    Cgroup,
    ContainerInfo,
    ContainerUsage,
    DeploymentInfo,
    DeploymentUsage,
    NodeCgroups,
    NodeInfo,
    PodInfo,
    PodPhase,
    PodRows,
    PodState,
    QoSClass,
    Usage,
)
from kubeprom.model.selectors import format_selector

if TYPE_CHECKING:
    from kubeprom.exporters.cluster import SimulatedCluster
    from kubeprom.exporters.records import (
        ContainerRecord,
        DeploymentRecord,
        NodeRecord,
        PodRecord,
    )

#: Anonymous memory as a share of the working set (the rest is active page cache).
RSS_FRACTION = 0.85
#: Page cache as a share of the working set.
CACHE_FRACTION = 0.2
#: Inactive file pages (counted in usage, not in the working set) as a share of it.
INACTIVE_FILE_FRACTION = 0.1

_QOS_CGROUP = {
    QoSClass.GUARANTEED: "/kubepods",
    QoSClass.BURSTABLE: "/kubepods/burstable",
    QoSClass.BEST_EFFORT: "/kubepods/besteffort",
}


def usage(
    counters: NDArray[np.float64] | Sequence[float],
    memory: float,
    rx: float = 0.0,
    tx: float = 0.0,
) -> Usage:
    """A :class:`Usage` from counter columns CPU..THROTTLED_S and a working set."""
    return Usage(
        cpu_seconds=float(counters[CPU]),
        cfs_periods=float(counters[PERIODS]),
        cfs_throttled_periods=float(counters[THROTTLED_PERIODS]),
        cfs_throttled_seconds=float(counters[THROTTLED_S]),
        memory_working_set_bytes=memory,
        memory_rss_bytes=memory * RSS_FRACTION,
        memory_usage_bytes=memory * (1.0 + INACTIVE_FILE_FRACTION),
        memory_cache_bytes=memory * CACHE_FRACTION,
        network_rx_bytes=rx,
        network_tx_bytes=tx,
    )


def node_info(cluster: SimulatedCluster, node: NodeRecord) -> NodeInfo:
    i = node.index
    counters = np.zeros(RX)
    counters[CPU] = cluster.node_cpu_seconds[i]
    return NodeInfo(
        name=node.spec.name,
        internal_ip=node.internal_ip,
        pod_cidr=f"10.244.{i}.0/24",
        capacity=node.spec.capacity,
        allocatable=node.spec.allocatable,
        labels={
            "kubernetes.io/hostname": node.spec.name,
            "kubernetes.io/os": "linux",
            **node.spec.labels,
        },
        system_uuid=node.system_uuid,
        machine_id=node.machine_id,
        boot_id=node.boot_id,
        created_s=cluster.start_s - (30 * 86_400.0 if cluster.spec.warm_start else 0.0),
        usage=usage(counters, float(cluster.node_memory[i])),
    )


def pod_cgroup(pod: PodRecord) -> str:
    return f"{_QOS_CGROUP[pod.dep.qos]}/pod{pod.uid}"


def pod_infos(cluster: SimulatedCluster, pods: list[PodRecord]) -> list[PodInfo]:
    """The views of ``pods``, their usage read from the container table in one go."""
    table = cluster.table
    bound = [p for p in pods if p.node >= 0]
    rows = [c.row for p in bound for c in p.containers]
    sums: list[list[float]] = []
    memory: list[float] = []
    c_counters: list[list[float]] = []
    c_memory: list[float] = []
    if rows:
        starts = np.cumsum([0] + [len(p.containers) for p in bound[:-1]])
        counters = table.counters[rows]
        c_counters = counters[:, :RX].tolist()
        c_memory = table.memory[rows].tolist()
        sums = np.add.reduceat(counters[:, :RX], starts, axis=0).tolist()
        memory = np.add.reduceat(table.memory[rows], starts).tolist()
        heads = counters[starts][:, [RX, TX]].tolist()
    at = row = 0
    out = []
    for pod in pods:
        n = len(pod.containers)
        if pod.node >= 0:
            rx, tx = heads[at]
            pod_usage = usage(pod.carried + sums[at], memory[at], rx, tx)
            used = [
                usage(c_counters[row + i], c_memory[row + i]) if c.running else Usage()
                for i, c in enumerate(pod.containers)
            ]
            at, row = at + 1, row + n
        else:
            pod_usage, used = Usage(), [Usage()] * n
        out.append(_pod_info(cluster, pod, pod_usage, used))
    return out


_PHASES = {p: i for i, p in enumerate(PodPhase)}
_QOS_INDEX = {q: i for i, q in enumerate(QoSClass)}
_RUNNING, _PENDING = _PHASES[PodPhase.RUNNING], _PHASES[PodPhase.PENDING]


def pod_rows(cluster: SimulatedCluster, pods: list[PodRecord]) -> PodRows:
    """``pods`` as :class:`PodRows`, read from the records with the rules of
    :func:`pod_infos` (the same keys and values as the views give)."""
    keys: list[tuple[object, ...]] = []
    times: list[tuple[float, float, float]] = []
    flags: list[tuple[int, bool, bool, int]] = []
    pod_of: list[int] = []
    slot: list[int] = []
    values: list[tuple[float, ...]] = []
    labels: dict[int, tuple[tuple[str, str], ...]] = {}
    for i, pod in enumerate(pods):
        dep = pod.dep
        dep_labels = labels.get(dep.index)
        if dep_labels is None:
            dep_labels = labels[dep.index] = tuple(sorted(pod_labels(dep).items()))
        bound = pod.node >= 0
        containers = []
        ready = started = True
        for n, c in enumerate(pod.containers):
            req, lim = c.spec.requests, c.spec.limits
            image = _image(cluster, c.spec.image)
            c_started = c.started_s if c.running else None
            waiting = c.waiting_reason if bound else None
            containers.append(
                (
                    c.spec.name,
                    req.cpu is not None,
                    req.memory is not None,
                    lim.cpu is not None,
                    lim.memory is not None,
                    c.spec.image,
                    image[0],
                    image[1],
                    c.container_id,
                    c_started is not None,
                    c.last_terminated_reason,
                    waiting,
                )
            )
            ready = ready and c.ready
            started = started and c.instance > 0
            pod_of.append(i)
            slot.append(n)
            values.append(
                (
                    req.cpu or 0.0,
                    req.memory or 0.0,
                    lim.cpu or 0.0,
                    lim.memory or 0.0,
                    c_started or 0.0,
                    1.0 if c.ready else 0.0,
                    float(c.restart_count),
                    1.0 if c.running else 0.0,
                    0.0 if waiting is None else 1.0,
                )
            )
        node = cluster.spec.nodes[pod.node].name if bound else None
        keys.append(
            (
                dep.spec.namespace,
                pod.name,
                pod.uid,
                node,
                cluster_node_ip(cluster, pod.node),
                pod.pod_ip,
                "ReplicaSet",
                dep.rs_name,
                dep_labels,
                pod.deleting_since_s is not None,
                pod.scheduled_s is not None,
                pod.unschedulable,
                tuple(containers),
            )
        )
        times.append((pod.created_s, pod.deleting_since_s or 0.0, pod.scheduled_s or 0.0))
        phase = _RUNNING if bound and started else _PENDING
        flags.append((phase, ready, bound, _QOS_INDEX[dep.qos]))
    t = np.array(times, dtype=np.float64).reshape(-1, 3)
    f = np.array(flags, dtype=np.int64).reshape(-1, 4)
    return PodRows(
        keys=tuple(keys),
        created_s=t[:, 0],
        deletion_s=t[:, 1],
        started_s=t[:, 2],
        phase=f[:, 0],
        ready=f[:, 1].astype(bool),
        bound=f[:, 2].astype(bool),
        qos=f[:, 3],
        pod=np.array(pod_of, dtype=np.int64),
        slot=np.array(slot, dtype=np.int64),
        containers=np.array(values, dtype=np.float64).reshape(-1, 9),
    )


@dataclass(frozen=True, slots=True, eq=False)
class NodeShape:
    """What one node's cgroups are made of, which holds while no pod is created, bound or
    removed and no container starts or stops (``key``, the cluster's counters of those):
    its bound pods in order, their container rows, where each pod's rows start, the cgroup
    views and, per cgroup, the pod (``pod_at``) or container row (``c_at``) it reads."""

    key: tuple[list[PodRecord], int, int]
    bound: list[PodRecord]
    rows: NDArray[np.int64]
    starts: NDArray[np.int64]
    groups: tuple[Cgroup, ...]
    is_pod: NDArray[np.bool_]
    pod_at: NDArray[np.int64]
    c_at: NDArray[np.int64]

    def holds(self, key: tuple[list[PodRecord], int, int]) -> bool:
        """Whether ``key`` is this shape's: the very same pod list, the same counters."""
        return key[0] is self.key[0] and key[1:] == self.key[1:]


def node_shape(
    cluster: SimulatedCluster, pods: list[PodRecord], key: tuple[list[PodRecord], int, int]
) -> NodeShape:
    """The shape of ``pods`` (one node's, in order): those bound and started."""
    bound = [p for p in pods if p.node >= 0 and p.scheduled_s is not None]
    rows = [c.row for p in bound for c in p.containers]
    starts = np.cumsum([0] + [len(p.containers) for p in bound[:-1]])
    # Per cgroup, the row it reads: pods from the sums (negative), containers from the table.
    take: list[int] = []
    groups: list[Cgroup] = []
    row = 0
    for i, pod in enumerate(bound):
        # The views hold while the pod's scheduling time and the container instance do.
        if pod.cgroup is None or pod.cgroup[0] != pod.scheduled_s:
            pod.cgroup = (pod.scheduled_s, _pod_cgroup(pod))
        groups.append(pod.cgroup[1])
        take.append(-1 - i)
        for c in pod.containers:
            if c.running:
                if c.cgroup is None or c.cgroup[:2] != (c.container_id, c.started_s):
                    c.cgroup = (c.container_id, c.started_s, _container_cgroup(cluster, pod, c))
                groups.append(c.cgroup[2])
                take.append(row)
            row += 1
    at = np.array(take, dtype=np.int64)
    is_pod = at < 0
    return NodeShape(
        key,
        bound,
        np.array(rows, dtype=np.int64),
        starts.astype(np.int64),
        tuple(groups),
        is_pod,
        np.where(is_pod, -1 - at, 0),
        np.where(is_pod, 0, at),
    )


def node_cgroups(cluster: SimulatedCluster, shape: NodeShape) -> NodeCgroups:
    """The cgroups of a node's shape, their usage read from the container table in one go
    with the arithmetic of :func:`pod_infos` (so the values are those of the pods' views,
    bit for bit)."""
    if not shape.bound:
        empty = np.zeros(0)
        return NodeCgroups((), np.zeros((0, RX)), empty, empty, empty)
    table = cluster.table
    counters = table.counters[shape.rows]
    memory = table.memory[shape.rows]
    pod_counters = np.stack([p.carried for p in shape.bound]) + np.add.reduceat(
        counters[:, :RX], shape.starts, axis=0
    )
    pod_memory = np.add.reduceat(memory, shape.starts)
    heads = counters[shape.starts]
    is_pod, pod_at, c_at = shape.is_pod, shape.pod_at, shape.c_at
    out_counters = np.where(is_pod[:, None], pod_counters[pod_at], counters[c_at, :RX])
    out_memory = np.where(is_pod, pod_memory[pod_at], memory[c_at])
    rx = np.where(is_pod, heads[pod_at, RX], 0.0)
    tx = np.where(is_pod, heads[pod_at, TX], 0.0)
    return NodeCgroups(shape.groups, out_counters, out_memory, rx, tx)


def _pod_cgroup(pod: PodRecord) -> Cgroup:
    limits = [c.spec.limits for c in pod.containers]
    quota = None
    if all(lim.cpu is not None for lim in limits):
        quota = sum(lim.cpu or 0.0 for lim in limits)
    memory = 0.0
    if all(lim.memory is not None for lim in limits):
        memory = sum(lim.memory or 0.0 for lim in limits)
    request = sum(c.spec.requests.cpu or 0.0 for c in pod.containers)
    ns = pod.dep.spec.namespace
    return Cgroup(
        ns, pod.name, "", pod_cgroup(pod), "", "", pod.scheduled_s, quota, request, memory
    )


def _container_cgroup(cluster: SimulatedCluster, pod: PodRecord, c: ContainerRecord) -> Cgroup:
    cid = c.container_id.rsplit("/", 1)[-1]
    return Cgroup(
        pod.dep.spec.namespace,
        pod.name,
        c.spec.name,
        f"{pod_cgroup(pod)}/{cid}",
        _image(cluster, c.spec.image)[0],
        cid,
        c.started_s,
        c.spec.limits.cpu,
        c.spec.requests.cpu or 0.0,
        c.spec.limits.memory or 0.0,
    )


def _image(cluster: SimulatedCluster, spec: str) -> tuple[str, str]:
    """An image's (reference, digest reference), hashed once per image (per snapshot it
    shows up in profiles)."""
    image = cluster.image_ids.get(spec)
    if image is None:
        image = (ids.image_ref(spec), ids.image_id(spec))
        cluster.image_ids[spec] = image
    return image


def _pod_info(
    cluster: SimulatedCluster, pod: PodRecord, pod_usage: Usage, used: list[Usage]
) -> PodInfo:
    cgroup = pod_cgroup(pod)
    bound = pod.node >= 0
    containers = tuple(
        _container_info(cluster, c, cgroup, bound, u)
        for c, u in zip(pod.containers, used, strict=True)
    )
    started = bound and all(c.instance > 0 for c in pod.containers)
    return PodInfo(
        namespace=pod.dep.spec.namespace,
        name=pod.name,
        uid=pod.uid,
        deployment=pod.dep.spec.name,
        owner_name=pod.dep.rs_name,
        node=cluster.spec.nodes[pod.node].name if bound else None,
        host_ip=cluster_node_ip(cluster, pod.node),
        pod_ip=pod.pod_ip,
        phase=PodPhase.RUNNING if started else PodPhase.PENDING,
        ready=pod.ready,
        unschedulable=pod.unschedulable,
        qos=pod.dep.qos,
        cgroup=cgroup,
        created_s=pod.created_s,
        scheduled_s=pod.scheduled_s,
        started_s=pod.scheduled_s,
        labels=dict(pod_labels(pod.dep)),
        containers=containers,
        usage=pod_usage,
        deletion_s=pod.deleting_since_s,
        ready_changed_s=pod.ready_changed_s,
        schedule_message=pod.schedule_message,
    )


def pod_labels(dep: DeploymentRecord) -> dict[str, str]:
    """A Deployment's pod labels, with the ReplicaSet's ``pod-template-hash``."""
    return {**dep.spec.pod_labels, "pod-template-hash": dep.rs_name.rsplit("-")[-1]}


def cluster_node_ip(cluster: SimulatedCluster, index: int) -> str:
    return cluster._nodes[index].internal_ip if index >= 0 else ""


def _container_info(
    cluster: SimulatedCluster,
    c: ContainerRecord,
    pod_cgroup_path: str,
    bound: bool,
    info_usage: Usage,
) -> ContainerInfo:
    """A container's view (``info_usage`` is its usage, empty unless it runs); before its
    pod is bound to a node it has no status yet."""
    cgroup = f"{pod_cgroup_path}/{c.container_id.rsplit('/', 1)[-1]}" if c.running else ""
    image = _image(cluster, c.spec.image)
    return ContainerInfo(
        name=c.spec.name,
        image=image[0],
        image_spec=c.spec.image,
        image_id=image[1],
        container_id=c.container_id,
        cgroup=cgroup,
        requests=c.spec.requests,
        limits=c.spec.limits,
        running=c.running,
        ready=c.ready,
        waiting_reason=c.waiting_reason if bound else None,
        restart_count=c.restart_count,
        last_terminated_reason=c.last_terminated_reason,
        started_s=c.started_s if c.running else None,
        usage=info_usage,
    )


def deployment_info(cluster: SimulatedCluster, dep: DeploymentRecord) -> DeploymentInfo:
    ready = sum(1 for p in dep.pods if p.ready)
    failing = dep.failure is not None
    return DeploymentInfo(
        namespace=dep.spec.namespace,
        name=dep.spec.name,
        labels=dict(dep.spec.labels),
        replicaset=dep.rs_name,
        created_s=dep.created_s,
        spec_replicas=dep.replicas,
        generation=dep.generation,
        observed_generation=dep.generation,
        replicas=len(dep.pods),
        ready_replicas=ready,
        available_replicas=ready,
        updated_replicas=len(dep.pods),
        current_rps=rps_at(dep.spec.load, cluster.tick_start_s - cluster.start_s),
        uid=dep.uid,
        selector=format_selector(dep.spec.selector),
        terminating_replicas=len(dep.terminating),
        replica_failure=dep.failure,
        replica_failure_s=dep.failure_since_s if failing else None,
    )


def pod_states(cluster: SimulatedCluster, namespace: str) -> list[PodState]:
    """The pods of a namespace, terminating ones included, in creation order."""
    out = []
    for dep in cluster._deps:
        if dep.spec.namespace != namespace:
            continue
        labels = pod_labels(dep)
        for p in (*dep.pods, *dep.terminating):
            started = p.node >= 0 and all(c.instance > 0 for c in p.containers)
            out.append(
                PodState(
                    namespace,
                    p.name,
                    labels,
                    PodPhase.RUNNING if started else PodPhase.PENDING,
                    p.ready,
                    p.node >= 0,
                    p.deleting_since_s is not None,
                    p.scheduled_s,
                    p.ready_changed_s,
                    dep.spec.containers,
                )
            )
    return out


def container_usage(cluster: SimulatedCluster) -> ContainerUsage:
    """Every running container's cumulative CPU and working set at :attr:`now_s`, as
    columns (what the kubelets' ``/metrics/resource`` would report)."""
    if cluster._usage_key != cluster._rows_version:
        rows = np.flatnonzero(cluster.table.running[: cluster.table.size])
        owners = [cluster._row_owner[r] for r in rows.tolist()]
        cluster._usage_rows = (
            rows,
            np.array([p.dep.spec.namespace for p, _ in owners], dtype=np.str_),
            np.array([p.name for p, _ in owners], dtype=np.str_),
            np.array([c.spec.name for _, c in owners], dtype=np.str_),
            np.array([c.started_s or 0.0 for _, c in owners], dtype=np.float64),
        )
        cluster._usage_key = cluster._rows_version
    rows, namespaces, pods, containers, started = cluster._usage_rows
    return ContainerUsage(
        t_s=cluster.now_s,
        namespace=namespaces,
        pod=pods,
        container=containers,
        key=cluster.table.key[rows].copy(),
        started_s=started,
        cpu_seconds=cluster.table.counters[rows, CPU].copy(),
        memory_bytes=cluster.table.memory[rows].copy(),
    )


def deployment_usage(cluster: SimulatedCluster) -> DeploymentUsage:
    t = cluster.table
    n = t.size
    deps = len(cluster._deps)
    run = t.running[:n]
    dep = t.deployment[:n][run]
    cpu = t.rates[:n, CPU][run]
    throttled = t.rates[:n, THROTTLED_S][run]
    pending = [sum(1 for p in d.pods if p.node < 0) for d in cluster._deps]
    return DeploymentUsage(
        t_s=cluster.now_s,
        cpu_cores=np.bincount(dep, weights=cpu, minlength=deps).astype(np.float64),
        cpu_demand_cores=np.bincount(dep, weights=cpu + throttled, minlength=deps).astype(
            np.float64
        ),
        memory_bytes=np.bincount(dep, weights=t.memory[:n][run], minlength=deps).astype(np.float64),
        pending_pods=np.array(pending, dtype=np.int64),
    )
