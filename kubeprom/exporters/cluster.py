"""The simulated cluster: nodes, Deployments, their pods and containers, driven by load.

Time is an argument. ``SimulatedCluster(spec, start_s=t0)`` builds the cluster at ``t0``
(Unix seconds); :meth:`~SimulatedCluster.advance_to` moves it forward. The model steps on a
fixed grid of ticks (``spec.tick_s``, aligned to ``t0``): at each tick it runs due lifecycle
events, schedules pending pods, then fixes every container's rates for the tick from the
load (vectorised over containers, see :mod:`.state`). Counters integrate ``rate * dt``
between any two times, so what is observed at ``t`` does not depend on how often the model
was advanced before, and a constant load gives an exact constant ``rate()``.

Lifecycle, as the kubelet shows it:

* A new pod is ``Pending`` until a node has room for its requests (preferring the node
  with the fewest replicas of its Deployment, then the least allocated one, then config
  order); if none has, it stays ``Pending`` and unschedulable, retried every tick.
* Once scheduled its containers wait ``ContainerCreating`` for the Deployment's
  ``startup_delay``, then run; each becomes ready ``readinessProbe.initialDelaySeconds``
  later. A pod is ready when all its containers are. Only ready pods receive load.
* A container whose working set passes its memory limit is ``OOMKilled``: its restart count
  increments, it waits in ``CrashLoopBackOff`` (10 s, doubling per consecutive crash, at most
  5 min; a run of 10 min resets it) and restarts as a new container id.
* CPU demand above the limit is throttled: usage is capped at the limit and the CFS
  throttled periods and seconds count up.

With ``warm_start`` the initial pods are already running and ready at ``t0`` (as if the
cluster had been up for a while). Every name, id and noise draw derives from ``spec.seed``.
Not thread-safe: drive it from one thread or event loop.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
from numpy.typing import NDArray

from kubeprom.config.cluster import ClusterSpec, ContainerSpec, DeploymentSpec, LoadSpec, NodeSpec
from kubeprom.errors import KubepromError
from kubeprom.exporters import ids, snapshot
from kubeprom.exporters.load import rps_at
from kubeprom.exporters.state import RX, ContainerTable, RowParams, leak_per_second
from kubeprom.exporters.views import DeploymentInfo, HPAStatus, NodeInfo, PodInfo, QoSClass

#: Events due within this much after a tick boundary run at that boundary (float rounding).
_EPSILON_S = 1e-6
#: Kubelet crash-loop back-off: initial, cap, and the clean run that resets it.
BACKOFF_INITIAL_S = 10.0
BACKOFF_MAX_S = 300.0
BACKOFF_RESET_S = 600.0
#: Ages of warm-started pods, drawn uniformly (seconds before the cluster start).
_WARM_AGE_S = (3_600.0, 3 * 86_400.0)
#: Warm-started containers' memory leaks began up to this long before the cluster start.
_WARM_LEAK_STAGGER_S = 600.0
_OOM_CASCADE_LIMIT = 1_000


class _Event(Enum):
    START = 1
    READY = 2


@dataclass(slots=True, eq=False)
class _Container:
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


@dataclass(slots=True, eq=False)
class _Pod:
    dep: _Deployment
    name: str
    uid: str
    seq: int
    created_s: float
    containers: list[_Container]
    node: int = -1
    pod_ip: str = ""
    scheduled_s: float | None = None
    unschedulable: bool = False
    deleted: bool = False
    # Pod-cgroup totals of this pod's finished container instances (columns CPU..TX).
    carried: NDArray[np.float64] = field(default_factory=lambda: np.zeros(RX))

    @property
    def ready(self) -> bool:
        return all(c.ready for c in self.containers)


@dataclass(slots=True, eq=False)
class _Deployment:
    index: int
    spec: DeploymentSpec
    replicas: int
    rs_name: str
    qos: QoSClass
    stream: ids.IdStream
    created_s: float
    generation: int = 1
    pods: list[_Pod] = field(default_factory=list)
    request_cpu: float = 0.0
    request_memory: float = 0.0


@dataclass(slots=True, eq=False)
class _Node:
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


class SimulatedCluster:
    """A deterministic Kubernetes-like cluster; see the module docstring for its behaviour.

    Snapshots (:meth:`nodes`, :meth:`pods`, :meth:`deployments`) are taken at :attr:`now_s`.
    :meth:`scale` is what a HorizontalPodAutoscaler calls; :meth:`set_hpa` publishes an
    HPA's spec and status to kube-state-metrics.
    """

    def __init__(self, spec: ClusterSpec, *, start_s: float) -> None:
        self.spec = spec
        self.start_s = float(start_s)
        self._t = self.start_s
        self._tick = 0
        self._seq = itertools.count()
        self._events: list[tuple[float, int, _Event, _Pod, int, int]] = []
        self._hpas: dict[tuple[str, str], HPAStatus] = {}
        self._row_owner: dict[int, tuple[_Pod, _Container]] = {}
        self._pending: list[_Pod] = []  # not bound to a node yet, in creation order
        self._ids = ids.IdStream(spec.seed, "containers")
        self.table = ContainerTable(spec.seed)
        machine = ids.IdStream(spec.seed, "nodes")
        self._nodes = [
            _Node(n, i, _ip(10, i), machine.uid(), machine.hex(32), machine.uid())
            for i, n in enumerate(spec.nodes)
        ]
        self._node_index = {n.spec.name: n.index for n in self._nodes}
        count = len(self._nodes)
        self._overhead_cpu = np.array([n.spec.overhead_cpu for n in self._nodes])
        self._overhead_mem = np.array([n.spec.overhead_memory for n in self._nodes])
        self.node_cpu_seconds = np.zeros(count)
        self._node_cpu_rate = self._overhead_cpu.copy()
        self.node_memory = self._overhead_mem.copy()
        self._deps = [self._new_deployment(i, d) for i, d in enumerate(spec.deployments)]
        self._by_name = {(d.spec.namespace, d.spec.name): d for d in self._deps}
        for dep in self._deps:
            for _ in range(dep.replicas):
                self._create_pod(dep, warm=spec.warm_start)
        self._run_tick(self._t)

    # ---- public API -----------------------------------------------------------------------
    @property
    def now_s(self) -> float:
        """The model's current time (Unix seconds)."""
        return self._t

    def advance_to(self, t_s: float) -> None:
        """Move the model to ``t_s``; a time at or before :attr:`now_s` changes nothing.

        Costs one vectorised step per tick crossed (tens of microseconds for a small
        cluster), so start the cluster near the times it will be advanced to.
        """
        tick_s = self.spec.tick_s
        while True:
            boundary = self.start_s + (self._tick + 1) * tick_s
            if boundary > t_s:
                break
            self._integrate(boundary - self._t)
            self._t = boundary
            self._tick += 1
            self._run_tick(boundary)
        if t_s > self._t:
            self._integrate(t_s - self._t)
            self._t = t_s

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        """Set a Deployment's ``spec.replicas`` now; pods are created or deleted at once.

        Deletion prefers unscheduled, then not-running, then not-ready, then the newest pods
        (as the ReplicaSet controller ranks them). Raises KubepromError for an unknown
        Deployment or a negative count.
        """
        dep = self._deployment(namespace, name)
        if replicas < 0:
            raise KubepromError(f"cannot scale {namespace}/{name} to {replicas} replicas")
        if replicas != dep.replicas:
            dep.replicas = replicas
            dep.generation += 1
        while len(dep.pods) < replicas:
            self._create_pod(dep, warm=False)
        if len(dep.pods) > replicas:
            victims = sorted(dep.pods, key=_deletion_rank)[: len(dep.pods) - replicas]
            for pod in victims:
                self._delete_pod(pod)
        self._schedule(self._t)
        self._refresh_rates(self._t)

    def nodes(self) -> list[NodeInfo]:
        """Every node, in configuration order."""
        return [snapshot.node_info(self, n) for n in self._nodes]

    def node(self, name: str) -> NodeInfo:
        if name not in self._node_index:
            raise KubepromError(f"node {name!r} not found")
        return snapshot.node_info(self, self._nodes[self._node_index[name]])

    def pods(self, node: str | None = None) -> list[PodInfo]:
        """Pods sorted by namespace and name; only those bound to ``node`` when given."""
        pods = [p for d in self._deps for p in d.pods]
        if node is not None:
            index = self._node_index.get(node)
            pods = [p for p in pods if index is not None and p.node == index]
        pods.sort(key=lambda p: (p.dep.spec.namespace, p.name))
        return [snapshot.pod_info(self, p) for p in pods]

    def deployments(self) -> list[DeploymentInfo]:
        """Every Deployment, sorted by namespace and name."""
        deps = sorted(self._deps, key=lambda d: (d.spec.namespace, d.spec.name))
        return [snapshot.deployment_info(self, d) for d in deps]

    def deployment(self, namespace: str, name: str) -> DeploymentInfo:
        return snapshot.deployment_info(self, self._deployment(namespace, name))

    def load_rps(self, namespace: str, name: str) -> float:
        """The requests per second a Deployment receives at :attr:`now_s`."""
        dep = self._deployment(namespace, name)
        return rps_at(dep.spec.load, self.tick_start_s - self.start_s)

    def set_hpa(self, status: HPAStatus) -> None:
        """Publish (or replace) an HPA's spec and status for kube-state-metrics."""
        self._hpas[(status.namespace, status.name)] = status

    def remove_hpa(self, namespace: str, name: str) -> None:
        self._hpas.pop((namespace, name), None)

    def hpas(self) -> list[HPAStatus]:
        return [self._hpas[k] for k in sorted(self._hpas)]

    # ---- ticks ----------------------------------------------------------------------------
    @property
    def tick_start_s(self) -> float:
        """Start of the current tick; rates and gauges hold from here to the next one."""
        return self.start_s + self._tick * self.spec.tick_s

    def _integrate(self, dt_s: float) -> None:
        if dt_s > 0:
            self.table.integrate(dt_s)
            self.node_cpu_seconds += self._node_cpu_rate * dt_s

    def _run_tick(self, t: float) -> None:
        while self._events and self._events[0][0] <= t + _EPSILON_S:
            _, _, kind, pod, index, instance = heapq.heappop(self._events)
            container = pod.containers[index]
            if pod.deleted or container.instance != instance:
                continue  # the pod or container instance this event was for is gone
            if kind is _Event.START:
                self._start(pod, container, t)
            else:
                self._set_ready(pod, container, True)
        self._schedule(t)
        self._refresh_rates(t)
        for _ in range(_OOM_CASCADE_LIMIT):
            rows = self.table.over_memory_limit()
            if rows.size == 0:
                break
            for row in rows.tolist():
                self._oom_kill(self._row_owner[row], t)
            self._refresh_rates(t)  # the survivors take over the killed pods' load

    def _refresh_rates(self, t: float) -> None:
        t_rel = self.tick_start_s - self.start_s
        rps = np.array([rps_at(d.spec.load, t_rel) for d in self._deps] or [0.0])
        table = self.table
        n = table.size
        heads = table.first_in_pod[:n] & table.pod_ready[:n]
        ready = np.bincount(table.deployment[:n][heads], minlength=len(rps)).astype(np.int64)
        table.compute_rates(self.tick_start_s, self._tick, rps, ready)
        cpu, mem = table.node_sums(len(self._nodes))
        self._node_cpu_rate = cpu + self._overhead_cpu
        self.node_memory = mem + self._overhead_mem

    # ---- lifecycle ------------------------------------------------------------------------
    def _new_deployment(self, index: int, spec: DeploymentSpec) -> _Deployment:
        template = repr((spec.pod_labels, spec.containers))
        rs_name = f"{spec.name}-{ids.pod_template_hash(template)}"
        stream = ids.IdStream(self.spec.seed, f"pods/{spec.namespace}/{spec.name}")
        created = self.start_s - _WARM_AGE_S[1] if self.spec.warm_start else self.start_s
        dep = _Deployment(index, spec, spec.replicas, rs_name, _qos(spec), stream, created)
        dep.request_cpu = sum(c.requests.cpu or 0.0 for c in spec.containers)
        dep.request_memory = sum(c.requests.memory or 0.0 for c in spec.containers)
        return dep

    def _create_pod(self, dep: _Deployment, *, warm: bool) -> None:
        taken = {p.name for p in dep.pods}
        name = f"{dep.rs_name}-{dep.stream.suffix()}"
        while name in taken:
            name = f"{dep.rs_name}-{dep.stream.suffix()}"
        created = self._t - dep.stream.uniform(*_WARM_AGE_S) if warm else self._t
        load = dep.spec.load
        containers = [
            _Container(c, _row_params(dep.index, i == 0, c, load))
            for i, c in enumerate(dep.spec.containers)
        ]
        pod = _Pod(dep, name, dep.stream.uid(), next(self._seq), created, containers)
        dep.pods.append(pod)
        if not (warm and self._bind(pod, created)):
            self._pending.append(pod)
            return
        # Leaks count from the cluster start, staggered so replicas do not crash together.
        leak_since = self._t - dep.stream.uniform(0.0, _WARM_LEAK_STAGGER_S)
        for container in containers:
            self._start(pod, container, created, leak_since=leak_since)
            self._set_ready(pod, container, True)

    def _delete_pod(self, pod: _Pod) -> None:
        pod.deleted = True
        pod.dep.pods.remove(pod)
        if pod.node >= 0:
            node = self._nodes[pod.node]
            node.used_cpu -= pod.dep.request_cpu
            node.used_memory -= pod.dep.request_memory
            node.used_pods -= 1
            for c in pod.containers:
                self.table.free(c.row)
                del self._row_owner[c.row]

    def _schedule(self, t: float) -> None:
        """Try to bind every pending pod, oldest first."""
        pending, self._pending = self._pending, []
        for pod in pending:
            if pod.deleted:
                continue
            if not self._bind(pod, t):
                self._pending.append(pod)
            else:
                for i in range(len(pod.containers)):
                    self._push(t + pod.dep.spec.startup_delay_s, _Event.START, pod, i)

    def _bind(self, pod: _Pod, t: float) -> bool:
        """Place ``pod`` on a node that fits its requests: the one with the fewest pods of
        the same Deployment (spreading replicas), then the least allocated, then the first."""
        dep = pod.dep
        siblings = [0] * len(self._nodes)
        for other in dep.pods:
            if other.node >= 0:
                siblings[other.node] += 1
        best: _Node | None = None
        best_key = (0, 0.0)
        for node in self._nodes:
            alloc = node.spec.allocatable
            free_cpu = (alloc.cpu or 0.0) - node.used_cpu - dep.request_cpu
            free_mem = (alloc.memory or 0.0) - node.used_memory - dep.request_memory
            if free_cpu < -1e-9 or free_mem < -0.5 or node.used_pods >= (alloc.pods or 0):
                continue
            free = free_cpu / (alloc.cpu or 1.0) + free_mem / (alloc.memory or 1.0)
            key = (-siblings[node.index], free)
            if best is None or key > best_key:
                best, best_key = node, key
        if best is None:
            pod.unschedulable = True
            return False
        best.used_cpu += dep.request_cpu
        best.used_memory += dep.request_memory
        best.used_pods += 1
        pod.node, pod.scheduled_s, pod.unschedulable = best.index, t, False
        pod.pod_ip = _pod_ip(best.index, next(best.ips))
        for c in pod.containers:
            c.row = self.table.add(c.params, best.index)
            self._row_owner[c.row] = (pod, c)
        return True

    def _start(
        self, pod: _Pod, c: _Container, t: float, *, leak_since: float | None = None
    ) -> None:
        c.instance += 1
        c.container_id = f"containerd://{self._ids.hex()}"
        c.started_s, c.running, c.waiting_reason = t, True, None
        self.table.start(c.row, self._ids.key(), t if leak_since is None else leak_since)
        if c.spec.readiness_delay_s > 0:
            self._push(t + c.spec.readiness_delay_s, _Event.READY, pod, pod.containers.index(c))
        else:
            self._set_ready(pod, c, True)

    def _set_ready(self, pod: _Pod, c: _Container, ready: bool) -> None:
        c.ready = ready
        pod_ready = pod.ready
        for other in pod.containers:
            self.table.pod_ready[other.row] = pod_ready

    def _oom_kill(self, owner: tuple[_Pod, _Container], t: float) -> None:
        pod, c = owner
        pod.carried += self.table.counters[c.row, :RX]
        self.table.counters[c.row, :RX] = 0.0  # carried: the pod total must not count it twice
        ran = t - (c.started_s if c.started_s is not None else t)
        c.crash_streak = 1 if ran >= BACKOFF_RESET_S else c.crash_streak + 1
        c.restart_count += 1
        c.last_terminated_reason = "OOMKilled"
        c.running, c.waiting_reason = False, "CrashLoopBackOff"
        self._set_ready(pod, c, False)
        self.table.stop(c.row)
        backoff = min(BACKOFF_INITIAL_S * 2 ** (c.crash_streak - 1), BACKOFF_MAX_S)
        c.instance += 1  # invalidates a READY still queued for the killed instance
        self._push(t + backoff, _Event.START, pod, pod.containers.index(c))

    def _push(
        self, t: float, kind: _Event, pod: _Pod, index: int, instance: int | None = None
    ) -> None:
        inst = pod.containers[index].instance if instance is None else instance
        heapq.heappush(self._events, (t, next(self._seq), kind, pod, index, inst))

    def _deployment(self, namespace: str, name: str) -> _Deployment:
        try:
            return self._by_name[(namespace, name)]
        except KeyError:
            raise KubepromError(f"deployment {namespace}/{name} not found") from None


def _row_params(dep: int, first: bool, c: ContainerSpec, load: LoadSpec) -> RowParams:
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


def _qos(spec: DeploymentSpec) -> QoSClass:
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


def _deletion_rank(pod: _Pod) -> tuple[int, int, int, int]:
    running = all(c.running for c in pod.containers)
    return (pod.node >= 0, running, pod.ready, -pod.seq)


def _ip(prefix: int, index: int) -> str:
    host = index + 10  # leave .0-.9 to network infrastructure
    return f"{prefix}.0.{host // 256}.{host % 256}"


def _pod_ip(node: int, n: int) -> str:
    return f"10.244.{node}.{2 + (n - 2) % 252}"
