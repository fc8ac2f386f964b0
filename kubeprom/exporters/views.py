"""Read-only snapshots of the simulated cluster, as exporters and discovery see it.

Snapshots are immutable values taken at the model's current time; reading them never moves
the model. Units: CPU in cores or core-seconds, memory and network in bytes, times in Unix
seconds. Counters (``*_seconds``, ``*_periods``, ``*_bytes`` totals) only grow for the life of
the object they describe: a restarted container is a new container id whose counters start
from 0, while its pod's counters (the pod cgroup) continue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from kubeprom.config.cluster import ContainerSpec, Resources


class PodPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    UNKNOWN = "Unknown"


class QoSClass(StrEnum):
    GUARANTEED = "Guaranteed"
    BURSTABLE = "Burstable"
    BEST_EFFORT = "BestEffort"


@dataclass(frozen=True, slots=True)
class Usage:
    """Resource usage of a cgroup (container, pod or node) at the snapshot time."""

    cpu_seconds: float = 0.0
    cfs_periods: float = 0.0
    cfs_throttled_periods: float = 0.0
    cfs_throttled_seconds: float = 0.0
    memory_working_set_bytes: float = 0.0
    memory_rss_bytes: float = 0.0
    memory_usage_bytes: float = 0.0
    memory_cache_bytes: float = 0.0
    network_rx_bytes: float = 0.0
    network_tx_bytes: float = 0.0


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A node; ``internal_ip`` and ``pod_cidr`` are fake 10.x addresses, for labels only."""

    name: str
    internal_ip: str
    pod_cidr: str
    capacity: Resources
    allocatable: Resources
    labels: dict[str, str]
    system_uuid: str
    machine_id: str
    boot_id: str
    created_s: float
    usage: Usage
    ready: bool = True
    kernel_version: str = "6.1.0-18-amd64"
    os_image: str = "Debian GNU/Linux 12 (bookworm)"
    container_runtime_version: str = "containerd://1.7.13"
    kubelet_version: str = "v1.29.2"

    @property
    def provider_id(self) -> str:
        return f"kubeprom://{self.name}"


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    """One container of a pod; ``container_id`` is ``containerd://<64 hex>`` ("" before the
    first start) and ``cgroup`` its cgroup path (cAdvisor's ``id`` label)."""

    name: str
    image: str
    image_spec: str
    image_id: str
    container_id: str
    cgroup: str
    requests: Resources
    limits: Resources
    running: bool
    ready: bool
    waiting_reason: str | None
    restart_count: int
    last_terminated_reason: str | None
    started_s: float | None
    usage: Usage


@dataclass(frozen=True, slots=True)
class PodInfo:
    """A pod of a Deployment (owned by its ReplicaSet ``owner_name``)."""

    namespace: str
    name: str
    uid: str
    deployment: str
    owner_name: str
    node: str | None
    host_ip: str
    pod_ip: str
    phase: PodPhase
    ready: bool
    unschedulable: bool
    qos: QoSClass
    cgroup: str
    created_s: float
    scheduled_s: float | None
    started_s: float | None
    labels: dict[str, str]
    containers: tuple[ContainerInfo, ...]
    usage: Usage
    deletion_s: float | None = None  # deletionTimestamp: terminating since
    ready_changed_s: float | None = None  # the Ready condition's lastTransitionTime
    schedule_message: str = ""  # why the scheduler found no node (unschedulable pods)

    @property
    def owner_kind(self) -> str:
        return "ReplicaSet"


@dataclass(frozen=True, slots=True)
class DeploymentInfo:
    """A Deployment's spec and status, as ``kubectl get deployment -o yaml`` would show."""

    namespace: str
    name: str
    labels: dict[str, str]
    replicaset: str
    created_s: float
    spec_replicas: int
    generation: int
    observed_generation: int
    replicas: int
    ready_replicas: int
    available_replicas: int
    updated_replicas: int
    current_rps: float
    uid: str = ""
    selector: str = ""  # spec.selector as labels.Selector.String() prints it
    terminating_replicas: int = 0
    replica_failure: str | None = None  # ReplicaFailure=True (FailedCreate) message
    replica_failure_s: float | None = None

    @property
    def unavailable_replicas(self) -> int:
        return max(self.spec_replicas - self.available_replicas, 0)


@dataclass(frozen=True, slots=True, eq=False)
class PodState:
    """What a controller lists of a pod (cheaper than :class:`PodInfo`): labels, phase,
    readiness and its transition time, deletion, start (``status.startTime``: when it was
    bound) and the containers' specs."""

    namespace: str
    name: str
    labels: dict[str, str]
    phase: PodPhase
    ready: bool
    bound: bool
    deleting: bool
    start_s: float | None
    ready_changed_s: float | None
    containers: tuple[ContainerSpec, ...]


@dataclass(frozen=True, slots=True, eq=False)
class ContainerUsage:
    """Every running container at ``t_s``, as columns: where it runs, a ``key`` that changes
    when the container restarts, its start, cumulative CPU (core-seconds) and working set
    (bytes). Arrays are owned by the snapshot."""

    t_s: float
    namespace: NDArray[np.str_]
    pod: NDArray[np.str_]
    container: NDArray[np.str_]
    key: NDArray[np.uint64]
    started_s: NDArray[np.float64]
    cpu_seconds: NDArray[np.float64]
    memory_bytes: NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Cgroup:
    """A bound pod's cgroup (``container`` "") or one of its running containers', as cAdvisor
    and the kubelet's ``/metrics/resource`` label it: ``path`` is cAdvisor's ``id``,
    ``container_id`` the id's last part ("" for a pod). Fixed while the container instance
    lives. Limits and requests as cAdvisor reports them: ``cpu_quota`` None when unlimited,
    ``memory_limit`` 0 when unlimited; a pod's are its containers' sums (a quota only when
    every container has a CPU limit, a memory limit only when every one has one)."""

    namespace: str
    pod: str
    container: str
    path: str
    image: str
    container_id: str
    started_s: float | None
    cpu_quota: float | None
    cpu_request: float
    memory_limit: float


@dataclass(frozen=True, slots=True, eq=False)
class NodeCgroups:
    """The cgroups of one node's bound pods at the snapshot time, without an object per
    sample: pods sorted by namespace and name, each pod's cgroup followed by its running
    containers' (``cgroups``); usage as one row per cgroup: ``counters`` (cumulative CPU
    seconds, CFS periods, throttled periods, throttled seconds), working set (``memory``)
    and network totals (pods only, 0 for containers). Arrays are owned by the snapshot."""

    cgroups: tuple[Cgroup, ...]
    counters: NDArray[np.float64]
    memory: NDArray[np.float64]
    rx: NDArray[np.float64]
    tx: NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class PodRows:
    """Every pod at the snapshot time as columns, in :meth:`ClusterView.pods`' order,
    without a :class:`PodInfo` per pod: what kube-state-metrics' pod families read every
    scrape. ``keys[i]`` holds everything pod ``i``'s series (not their values) depend on;
    ``phase`` and ``qos`` index :class:`PodPhase` and :class:`QoSClass`' declaration
    orders; per container (pods in order, each pod's containers in order) ``slot`` is its
    index in its pod and ``pod`` its pod's row; absent times and resources are 0."""

    keys: tuple[tuple[object, ...], ...]
    created_s: NDArray[np.float64]
    deletion_s: NDArray[np.float64]
    started_s: NDArray[np.float64]
    phase: NDArray[np.int64]
    ready: NDArray[np.bool_]
    bound: NDArray[np.bool_]
    qos: NDArray[np.int64]
    pod: NDArray[np.int64]
    slot: NDArray[np.int64]
    # Per container: requests and limits (cpu, memory), start, ready, restarts, running,
    # waiting, one column each.
    containers: NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class DeploymentUsage:
    """Every Deployment at ``t_s``, as columns in configuration order: the rates of the
    current tick summed over its containers (CPU used and demanded in cores, working set in
    bytes) and its pods waiting for a node. Demand above used is throttled."""

    t_s: float
    cpu_cores: NDArray[np.float64]
    cpu_demand_cores: NDArray[np.float64]
    memory_bytes: NDArray[np.float64]
    pending_pods: NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class MetricValue:
    """One ``kube_horizontalpodautoscaler_{spec,status}_target_metric`` sample: the metric's
    name, ``value`` / ``utilization`` / ``average``, the container (ContainerResource)."""

    metric_name: str
    target_type: str
    value: float
    container: str = ""


@dataclass(frozen=True, slots=True)
class HPAStatus:
    """What kube-state-metrics shows of an autoscaling/v2 HorizontalPodAutoscaler.

    ``conditions`` are (type, status) with status ``true``/``false``/``unknown``; tolerances
    are the behavior's, None when not written.
    """

    namespace: str
    name: str
    target_name: str
    min_replicas: int
    max_replicas: int
    current_replicas: int
    desired_replicas: int
    target_kind: str = "Deployment"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    target_api_version: str = ""
    generation: int = 1
    created_s: float | None = None
    spec_metrics: tuple[MetricValue, ...] = ()
    status_metrics: tuple[MetricValue, ...] = ()
    conditions: tuple[tuple[str, str], ...] = ()
    scale_up_tolerance: float | None = None
    scale_down_tolerance: float | None = None


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """A queue-worker Deployment's RabbitMQ queue at the snapshot time: messages waiting
    (``ready``), being processed (``unacked``), and the consumers (its ready pods). Message
    counts are the model's fluid amounts; the broker's exporter prints whole messages."""

    vhost: str
    name: str
    namespace: str
    deployment: str
    messages_ready: float
    messages_unacked: float
    consumers: int


class ClusterView(Protocol):
    """What exporters and discovery read of a cluster (:class:`.cluster.SimulatedCluster`)."""

    @property
    def now_s(self) -> float: ...

    def nodes(self) -> list[NodeInfo]: ...

    def node(self, name: str) -> NodeInfo: ...

    def pods(self, node: str | None = None) -> list[PodInfo]: ...

    def node_cgroups(self, node: str) -> NodeCgroups: ...

    def pod_rows(self) -> PodRows: ...

    def deployments(self) -> list[DeploymentInfo]: ...

    def hpas(self) -> list[HPAStatus]: ...

    def queues(self) -> list[QueueInfo]: ...
