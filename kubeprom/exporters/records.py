"""The simulated cluster's internal records: mutable, owned by :class:`~.cluster.SimulatedCluster`.

Only the cluster model and its friend :mod:`.snapshot` (which builds the read-only views)
touch these; everyone else sees :mod:`.views`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from kubeprom.config.cluster import ContainerSpec, DeploymentSpec, LoadSpec, NodeSpec
from kubeprom.exporters import ids
from kubeprom.exporters.state import RX, RowParams, leak_per_second
from kubeprom.exporters.views import Cgroup, QoSClass
from kubeprom.model.events import ObjectRef


@dataclass(slots=True, eq=False)
class ContainerRecord:
    spec: ContainerSpec
    params: RowParams
    row: int = -1
    instance: int = 0
    container_id: str = ""
    started_s: float | None = None
    running: bool = False
    ready: bool = False
    waiting_reason: str | None = "ContainerCreating"
    restart_count: int = 0
    last_terminated_reason: str | None = None
    crash_streak: int = 0
    # The last cgroup view built of this container and the (id, start) it was built for.
    cgroup: tuple[str, float | None, Cgroup] | None = None


@dataclass(slots=True, eq=False)
class PodRecord:
    dep: DeploymentRecord
    name: str
    uid: str
    seq: int
    created_s: float
    containers: list[ContainerRecord]
    node: int = -1
    pod_ip: str = ""
    scheduled_s: float | None = None
    unschedulable: bool = False
    schedule_message: str = ""  # PodScheduled=False/Unschedulable message
    deleted: bool = False  # gone from the cluster
    deleting_since_s: float | None = None  # deletionTimestamp: terminating
    ready_changed_s: float | None = None  # the Ready condition's lastTransitionTime
    # Pod-cgroup totals of this pod's finished container instances (columns CPU..TX).
    carried: NDArray[np.float64] = field(default_factory=lambda: np.zeros(RX))
    # The last pod cgroup view built and the scheduling time it was built for.
    cgroup: tuple[float | None, Cgroup] | None = None

    @property
    def ready(self) -> bool:
        return all(c.ready for c in self.containers)


@dataclass(slots=True, eq=False)
class DeploymentRecord:
    index: int
    spec: DeploymentSpec
    replicas: int
    rs_name: str
    qos: QoSClass
    stream: ids.IdStream
    created_s: float
    uid: str = ""
    rs_uid: str = ""
    generation: int = 1
    pods: list[PodRecord] = field(default_factory=list)  # active: not terminating
    terminating: list[PodRecord] = field(default_factory=list)
    request_cpu: float = 0.0
    request_memory: float = 0.0
    quota_usage: dict[str, Fraction] = field(default_factory=dict)  # one pod's, for quotas
    failure: str | None = None  # the ReplicaFailure condition's message
    failure_since_s: float = 0.0
    failures: int = 0  # consecutive failed syncs (back-off exponent)
    retry_at_s: float | None = None

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef("Deployment", self.spec.namespace, self.spec.name, "apps/v1", self.uid)

    @property
    def rs_ref(self) -> ObjectRef:
        return ObjectRef("ReplicaSet", self.spec.namespace, self.rs_name, "apps/v1", self.rs_uid)


@dataclass(slots=True, eq=False)
class NodeRecord:
    spec: NodeSpec
    index: int
    internal_ip: str
    system_uuid: str
    machine_id: str
    boot_id: str
    used_cpu: float = 0.0
    used_memory: float = 0.0
    used_pods: int = 0
    ips: itertools.count[int] = field(default_factory=lambda: itertools.count(2))


def row_params(dep: int, first: bool, c: ContainerSpec, load: LoadSpec) -> RowParams:
    inf = float("inf")
    return RowParams(
        deployment=dep,
        first_in_pod=first,
        cpu_limit=c.limits.cpu if c.limits.cpu is not None else inf,
        memory_limit=c.limits.memory if c.limits.memory is not None else inf,
        baseline_cpu=load.baseline_cpu,
        cpu_per_request=load.cpu_per_request,
        baseline_memory=load.baseline_memory,
        memory_per_rps=load.memory_per_rps,
        leak_per_s=leak_per_second(load.memory_leak_per_hour),
        rx_per_request=load.rx_bytes_per_request,
        tx_per_request=load.tx_bytes_per_request,
        noise=load.noise,
    )


def qos_of(spec: DeploymentSpec) -> QoSClass:
    cs = spec.containers
    if all(c.requests.cpu is None and c.requests.memory is None for c in cs) and all(
        c.limits.cpu is None and c.limits.memory is None for c in cs
    ):
        return QoSClass.BEST_EFFORT
    guaranteed = all(
        c.limits.cpu is not None
        and c.limits.memory is not None
        and c.requests.cpu == c.limits.cpu
        and c.requests.memory == c.limits.memory
        for c in cs
    )
    return QoSClass.GUARANTEED if guaranteed else QoSClass.BURSTABLE


def deletion_rank(pod: PodRecord) -> tuple[int, int, int, int]:
    running = all(c.running for c in pod.containers)
    return (pod.node >= 0, running, pod.ready, -pod.seq)


def node_ip(prefix: int, index: int) -> str:
    host = index + 10  # leave .0-.9 to network infrastructure
    return f"{prefix}.0.{host // 256}.{host % 256}"


def pod_ip(node: int, n: int) -> str:
    return f"10.244.{node}.{2 + (n - 2) % 252}"
