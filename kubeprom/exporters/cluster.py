"""The simulated cluster: nodes, Deployments, their pods and containers, driven by load.

Time is an argument. ``SimulatedCluster(spec, start_s=t0)`` builds the cluster at ``t0``
(Unix seconds); :meth:`~SimulatedCluster.advance_to` moves it forward. The model steps on a
fixed grid of ticks (``spec.tick_s``, aligned to ``t0``): at each tick it runs due lifecycle
events, schedules pending pods, then fixes every container's rates for the tick from the
load (vectorised over containers, see :mod:`.state`). Counters integrate ``rate * dt``
between any two times, so what is observed at ``t`` does not depend on how often the model
was advanced before, and a constant load gives an exact constant ``rate()``.

Lifecycle, as the kubelet shows it:

* A Deployment's ReplicaSet creates pods up to ``spec.replicas`` (:meth:`scale`). The
  namespace's ResourceQuotas admit each new pod first (:mod:`.quota`); a refused pod is not
  created: the ReplicaSet records ``FailedCreate`` and the Deployment carries the
  ``ReplicaFailure`` condition until every pod exists, retrying with the controller's
  exponential back-off (5 ms doubling, at most 1000 s; a scale change retries at once).
* A new pod is ``Pending`` until a node has room for its requests (preferring the node
  with the fewest replicas of its Deployment, then the least allocated one, then config
  order); if none has, it stays ``Pending`` and unschedulable with the scheduler's reason
  (:mod:`.scheduling`), retried whenever a node's room grows.
* Once scheduled its containers wait ``ContainerCreating`` for the Deployment's
  ``startup_delay``, then run; each becomes ready ``readinessProbe.initialDelaySeconds``
  later. A pod is ready when all its containers are. Only ready pods receive load.
* A container whose working set passes its memory limit is ``OOMKilled``: its restart count
  increments, it waits in ``CrashLoopBackOff`` (10 s, doubling per consecutive crash, at most
  5 min; a run of 10 min resets it) and restarts as a new container id.
* CPU demand above the limit is throttled: usage is capped at the limit and the CFS
  throttled periods and seconds count up.
* A Deployment with a ``queue`` consumes it: its load is published to the queue and its
  ready pods serve what they take from it (:mod:`.queues`).
* A pod the ReplicaSet removes (newest, least ready first) terminates: it keeps its node
  resources and its containers run, but it serves no load, for the Deployment's
  ``terminationGracePeriodSeconds``; then it is gone. A pod not bound to a node goes at once.

Controllers record Kubernetes events in :attr:`SimulatedCluster.events` (an
:class:`~kubeprom.model.events.EventLog`): ``ScalingReplicaSet`` on Deployments,
``SuccessfulCreate`` / ``SuccessfulDelete`` / ``FailedCreate`` on ReplicaSets, ``Scheduled`` /
``FailedScheduling`` on pods.

With ``warm_start`` the initial pods are already running and ready at ``t0`` (as if the
cluster had been up for a while). Every name, id and noise draw derives from ``spec.seed``.
Not thread-safe: drive it from one thread or event loop.
"""

from __future__ import annotations

import heapq
import itertools
from enum import Enum
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from kubeprom.config.cluster import (
    ClusterSpec,
    DeploymentSpec,
    ResourceQuotaSpec,
)
from kubeprom.errors import KubepromError
from kubeprom.exporters import ids, snapshot
from kubeprom.exporters.load import rps_at
from kubeprom.exporters.queues import QueueTable
from kubeprom.exporters.quota import add_usage, admit, pod_usage
from kubeprom.exporters.records import (
    ContainerRecord,
    DeploymentRecord,
    NodeRecord,
    PodRecord,
    deletion_rank,
    node_ip,
    pod_ip,
    qos_of,
    row_params,
)
from kubeprom.exporters.scheduling import fits, free_room, unschedulable_message
from kubeprom.exporters.state import RX, ContainerTable
from kubeprom.exporters.views import (
    ContainerUsage,
    DeploymentInfo,
    DeploymentUsage,
    HPAStatus,
    NodeCgroups,
    NodeInfo,
    PodInfo,
    PodRows,
    PodState,
    QueueInfo,
)
from kubeprom.model.events import EventLog, EventType, ObjectRef
from kubeprom.model.selectors import Requirement

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
#: The ReplicaSet controller's retry back-off after a failed pod creation (client-go's
#: default item rate limiter: 5 ms doubling per failure, at most 1000 s).
RS_BACKOFF_BASE_S = 0.005
RS_BACKOFF_MAX_S = 1000.0
DEPLOYMENT_CONTROLLER = "deployment-controller"
REPLICASET_CONTROLLER = "replicaset-controller"
SCHEDULER = "default-scheduler"


_UsageRows = tuple[
    NDArray[np.intp], NDArray[np.str_], NDArray[np.str_], NDArray[np.str_], NDArray[np.float64]
]


class _Event(Enum):
    START = 1
    READY = 2
    GONE = 3  # a terminating pod's grace period is over


class SimulatedCluster:
    """A deterministic Kubernetes-like cluster; see the module docstring for its behaviour.

    Snapshots (:meth:`nodes`, :meth:`pods`, :meth:`deployments`) are taken at :attr:`now_s`.
    :meth:`scale` is what a HorizontalPodAutoscaler calls; :meth:`set_hpa` publishes an
    HPA's spec and status to kube-state-metrics.
    """

    def __init__(
        self, spec: ClusterSpec, *, start_s: float, events: EventLog | None = None
    ) -> None:
        self.spec = spec
        self.events = events if events is not None else EventLog()
        self.start_s = float(start_s)
        self._t = self.start_s
        self._tick = 0
        self._seq = itertools.count()
        self._events: list[tuple[float, int, _Event, PodRecord, int, int]] = []
        self._hpas: dict[tuple[str, str], HPAStatus] = {}
        self._row_owner: dict[int, tuple[PodRecord, ContainerRecord]] = {}
        self._pending: list[PodRecord] = []  # not bound to a node yet, in creation order
        self._schedule_dirty = False  # a pending pod may fit now
        self._rows_version = 0  # bumped when a container starts, stops or leaves a row
        self._binds = 0  # bumped when a pod is bound to a node
        self._node_shapes: dict[int, snapshot.NodeShape] = {}
        self._usage_key = -1
        self._usage_rows: _UsageRows = (
            np.zeros(0, np.intp),
            np.zeros(0, np.str_),
            np.zeros(0, np.str_),
            np.zeros(0, np.str_),
            np.zeros(0),
        )
        self._ns_usage: dict[str, dict[str, Fraction]] = {}  # what quotas count, by namespace
        self._quotas: dict[str, list[ResourceQuotaSpec]] = {}
        for q in spec.resource_quotas:
            self._quotas.setdefault(q.namespace, [])
            self._quotas[q.namespace].append(q)
        self._ids = ids.IdStream(spec.seed, "containers")
        #: Each image's (reference, digest reference) as the runtime reports them.
        self.image_ids: dict[str, tuple[str, str]] = {}
        self.table = ContainerTable(spec.seed)
        machine = ids.IdStream(spec.seed, "nodes")
        self._nodes = [
            NodeRecord(n, i, node_ip(10, i), machine.uid(), machine.hex(32), machine.uid())
            for i, n in enumerate(spec.nodes)
        ]
        self._node_index = {n.spec.name: n.index for n in self._nodes}
        count = len(self._nodes)
        self._overhead_cpu = np.array([n.spec.overhead_cpu for n in self._nodes])
        self._overhead_mem = np.array([n.spec.overhead_memory for n in self._nodes])
        self.node_cpu_seconds = np.zeros(count)
        self._node_cpu_rate = self._overhead_cpu.copy()
        self.node_memory = self._overhead_mem.copy()
        # Every pod by namespace and name, kept until a pod is created or removed.
        self._sorted: list[PodRecord] | None = None
        self._deps = [self._new_deployment(i, d) for i, d in enumerate(spec.deployments)]
        self._by_name = {(d.spec.namespace, d.spec.name): d for d in self._deps}
        self.queue_table = QueueTable(spec.deployments)
        for dep in self._deps:
            self._sync_replicaset(dep, self._t, warm=spec.warm_start)
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
        """Set a Deployment's ``spec.replicas`` now (the scale subresource's write); its
        ReplicaSet creates or removes pods at once.

        Removal prefers unscheduled, then not-running, then not-ready, then the newest pods
        (as the ReplicaSet controller ranks them). Raises KubepromError for an unknown
        Deployment or a negative count.
        """
        dep = self._deployment(namespace, name)
        if replicas < 0:
            raise KubepromError(f"cannot scale {namespace}/{name} to {replicas} replicas")
        if replicas != dep.replicas:
            direction = "up" if replicas > dep.replicas else "down"
            self._event(
                dep.ref,
                EventType.NORMAL,
                "ScalingReplicaSet",
                f"Scaled {direction} replica set {dep.rs_name} from {dep.replicas} to {replicas}",
                DEPLOYMENT_CONTROLLER,
            )
            dep.replicas = replicas
            dep.generation += 1
        dep.failures = 0  # an update is handled at once, not after the back-off
        self._sync_replicaset(dep, self._t)
        self._schedule(self._t)
        self._refresh_rates(self._t)

    def has_deployment(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self._by_name

    def deployment_selector(self, namespace: str, name: str) -> tuple[Requirement, ...]:
        """A Deployment's ``spec.selector`` (its scale subresource's ``status.selector``)."""
        return self._deployment(namespace, name).spec.selector

    def nodes(self) -> list[NodeInfo]:
        """Every node, in configuration order."""
        return [snapshot.node_info(self, n) for n in self._nodes]

    def node(self, name: str) -> NodeInfo:
        if name not in self._node_index:
            raise KubepromError(f"node {name!r} not found")
        return snapshot.node_info(self, self._nodes[self._node_index[name]])

    def pods(self, node: str | None = None) -> list[PodInfo]:
        """Pods sorted by namespace and name, terminating ones included; only those bound to
        ``node`` when given."""
        pods = self._sorted_pods()
        if node is not None:
            index = self._node_index.get(node)
            pods = [p for p in pods if index is not None and p.node == index]
        return snapshot.pod_infos(self, pods)

    def pod_rows(self) -> PodRows:
        """Every pod as columns, in :meth:`pods`' order (what kube-state-metrics reads)."""
        return snapshot.pod_rows(self, self._sorted_pods())

    def _sorted_pods(self) -> list[PodRecord]:
        """Every pod, terminating ones included, by namespace and name (shared: read only)."""
        if self._sorted is None:
            pods = [p for d in self._deps for p in (*d.pods, *d.terminating)]
            pods.sort(key=lambda p: (p.dep.spec.namespace, p.name))
            self._sorted = pods
        return self._sorted

    def node_cgroups(self, node: str) -> NodeCgroups:
        """The cgroups of the pods bound to ``node`` and their usage, as columns (no pod
        objects: what cAdvisor and the kubelet's resource metrics read every scrape)."""
        index = self._node_index.get(node, -2)
        pods = self._sorted_pods()
        # Kept while the pods (the sorted list object), bindings and containers hold.
        key = (pods, self._binds, self._rows_version)
        shape = self._node_shapes.get(index)
        if shape is None or not shape.holds(key):
            shape = snapshot.node_shape(self, [p for p in pods if p.node == index], key)
            self._node_shapes[index] = shape
        return snapshot.node_cgroups(self, shape)

    def pod_states(self, namespace: str) -> list[PodState]:
        """The pods of a namespace, terminating ones included, in creation order."""
        return snapshot.pod_states(self, namespace)

    def container_usage(self) -> ContainerUsage:
        """Every running container's cumulative CPU and working set at :attr:`now_s`, as
        columns (what the kubelets' ``/metrics/resource`` would report)."""
        return snapshot.container_usage(self)

    def deployments(self) -> list[DeploymentInfo]:
        """Every Deployment, sorted by namespace and name."""
        deps = sorted(self._deps, key=lambda d: (d.spec.namespace, d.spec.name))
        return [snapshot.deployment_info(self, d) for d in deps]

    def deployment_usage(self) -> DeploymentUsage:
        """Per Deployment (configuration order): CPU used and demanded, memory, pending pods."""
        return snapshot.deployment_usage(self)

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

    def queues(self) -> list[QueueInfo]:
        """The queue workers' queues, sorted by vhost and name (see :mod:`.queues`)."""
        return self.queue_table.infos(self.spec.deployments)

    # ---- ticks ----------------------------------------------------------------------------
    @property
    def tick_start_s(self) -> float:
        """Start of the current tick; rates and gauges hold from here to the next one."""
        return self.start_s + self._tick * self.spec.tick_s

    def _integrate(self, dt_s: float) -> None:
        if dt_s > 0:
            self.table.integrate(dt_s)
            self.queue_table.integrate(dt_s)
            self.node_cpu_seconds += self._node_cpu_rate * dt_s

    def _run_tick(self, t: float) -> None:
        while self._events and self._events[0][0] <= t + _EPSILON_S:
            _, _, kind, pod, index, instance = heapq.heappop(self._events)
            if pod.deleted:
                continue  # the pod this event was for is gone
            if kind is _Event.GONE:
                self._remove_pod(pod)
                continue
            container = pod.containers[index]
            if container.instance != instance or pod.deleting_since_s is not None:
                continue  # that container instance is gone, or the pod is shutting down
            if kind is _Event.START:
                self._start(pod, container, t)
            else:
                self._set_ready(pod, container, True, t)
        for dep in self._deps:
            if dep.retry_at_s is not None and dep.retry_at_s <= t + _EPSILON_S:
                self._sync_replicaset(dep, t)
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
        # Queue workers serve what they take from their queue until the next tick.
        horizon = self.tick_start_s + self.spec.tick_s - self._t
        served = self.queue_table.serve(rps, ready, horizon)
        table.compute_rates(self.tick_start_s, self._tick, served, ready)
        cpu, mem = table.node_sums(len(self._nodes))
        self._node_cpu_rate = cpu + self._overhead_cpu
        self.node_memory = mem + self._overhead_mem

    # ---- lifecycle ------------------------------------------------------------------------
    def _new_deployment(self, index: int, spec: DeploymentSpec) -> DeploymentRecord:
        template = repr((spec.pod_labels, spec.containers))
        rs_name = f"{spec.name}-{ids.pod_template_hash(template)}"
        stream = ids.IdStream(self.spec.seed, f"pods/{spec.namespace}/{spec.name}")
        uids = ids.IdStream(self.spec.seed, f"deployments/{spec.namespace}/{spec.name}")
        created = self.start_s - _WARM_AGE_S[1] if self.spec.warm_start else self.start_s
        dep = DeploymentRecord(index, spec, spec.replicas, rs_name, qos_of(spec), stream, created)
        dep.uid, dep.rs_uid = uids.uid(), uids.uid()
        dep.request_cpu = sum(c.requests.cpu or 0.0 for c in spec.containers)
        dep.request_memory = sum(c.requests.memory or 0.0 for c in spec.containers)
        dep.quota_usage = pod_usage(spec.containers)
        return dep

    def _event(self, ref: ObjectRef, type_: str, reason: str, message: str, source: str) -> None:
        self.events.record(round(self._t * 1000), ref, type_, reason, message, source)

    def _sync_replicaset(self, dep: DeploymentRecord, t: float, *, warm: bool = False) -> None:
        """The ReplicaSet controller's sync: create pods up to ``spec.replicas`` through
        quota admission, or remove the surplus; on a refusal, record it and retry later."""
        dep.retry_at_s = None
        surplus = len(dep.pods) - dep.replicas
        if surplus > 0:
            for pod in sorted(dep.pods, key=deletion_rank)[:surplus]:
                self._terminate(pod, t)
        while len(dep.pods) < dep.replicas:
            refusal = admit(
                self._quotas.get(dep.spec.namespace, ()),
                dep.spec.containers,
                self._ns_usage.get(dep.spec.namespace, {}),
            )
            if refusal is not None:
                message = f'pods "{dep.rs_name}-" is forbidden: {refusal}'
                self._event(
                    dep.rs_ref,
                    EventType.WARNING,
                    "FailedCreate",
                    f"Error creating: {message}",
                    REPLICASET_CONTROLLER,
                )
                if dep.failure is None:
                    dep.failure_since_s = t
                dep.failure = message
                backoff = min(RS_BACKOFF_BASE_S * 2**dep.failures, RS_BACKOFF_MAX_S)
                dep.failures += 1
                dep.retry_at_s = t + backoff
                return
            pod = self._create_pod(dep, warm=warm)
            self._event(
                dep.rs_ref,
                EventType.NORMAL,
                "SuccessfulCreate",
                f"Created pod: {pod.name}",
                REPLICASET_CONTROLLER,
            )
        dep.failure = None
        dep.failures = 0

    def _create_pod(self, dep: DeploymentRecord, *, warm: bool) -> PodRecord:
        taken = {p.name for p in (*dep.pods, *dep.terminating)}
        name = f"{dep.rs_name}-{dep.stream.suffix()}"
        while name in taken:
            name = f"{dep.rs_name}-{dep.stream.suffix()}"
        created = self._t - dep.stream.uniform(*_WARM_AGE_S) if warm else self._t
        load = dep.spec.load
        containers = [
            ContainerRecord(c, row_params(dep.index, i == 0, c, load))
            for i, c in enumerate(dep.spec.containers)
        ]
        pod = PodRecord(dep, name, dep.stream.uid(), next(self._seq), created, containers)
        dep.pods.append(pod)
        self._sorted = None
        add_usage(self._ns_usage.setdefault(dep.spec.namespace, {}), dep.quota_usage)
        if not (warm and self._bind(pod, created)):
            self._pending.append(pod)
            self._schedule_dirty = True
            return pod
        # Leaks count from the cluster start, staggered so replicas do not crash together.
        leak_since = self._t - dep.stream.uniform(0.0, _WARM_LEAK_STAGGER_S)
        for container in containers:
            self._start(pod, container, created, leak_since=leak_since)
            self._set_ready(pod, container, True, created)
        return pod

    def _terminate(self, pod: PodRecord, t: float) -> None:
        """Delete a pod: it leaves at once if no node runs it, else after its grace period,
        serving nothing meanwhile."""
        dep = pod.dep
        dep.pods.remove(pod)
        self._event(
            dep.rs_ref,
            EventType.NORMAL,
            "SuccessfulDelete",
            f"Deleted pod: {pod.name}",
            REPLICASET_CONTROLLER,
        )
        if pod.node < 0:
            self._remove_pod(pod)
            return
        pod.deleting_since_s = t
        dep.terminating.append(pod)
        for c in pod.containers:
            self.table.pod_ready[c.row] = False  # out of the endpoints: no more load
        grace = dep.spec.termination_grace_s
        heapq.heappush(self._events, (t + grace, next(self._seq), _Event.GONE, pod, -1, 0))

    def _remove_pod(self, pod: PodRecord) -> None:
        """The pod is gone: its node room, container rows and quota usage are freed."""
        pod.deleted = True
        self._sorted = None
        dep = pod.dep
        if pod in dep.pods:
            dep.pods.remove(pod)
        if pod in dep.terminating:
            dep.terminating.remove(pod)
        add_usage(self._ns_usage[dep.spec.namespace], dep.quota_usage, -1)
        if pod.node >= 0:
            node = self._nodes[pod.node]
            node.used_cpu -= dep.request_cpu
            node.used_memory -= dep.request_memory
            node.used_pods -= 1
            for c in pod.containers:
                self.table.free(c.row)
                del self._row_owner[c.row]
            self._rows_version += 1
            self._schedule_dirty = True

    def _schedule(self, t: float) -> None:
        """Try to bind every pending pod, oldest first, when a node's room may have grown or
        a pod was added; a Deployment whose pod fits nowhere skips its later pods (they
        request as much)."""
        if not self._schedule_dirty:
            return
        self._schedule_dirty = False
        pending, self._pending = self._pending, []
        failed: dict[int, str] = {}
        for pod in pending:
            if pod.deleted:
                continue
            message = failed.get(pod.dep.index)
            if message is None and self._bind(pod, t):
                self._event(
                    ObjectRef("Pod", pod.dep.spec.namespace, pod.name, "v1", pod.uid),
                    EventType.NORMAL,
                    "Scheduled",
                    f"Successfully assigned {pod.dep.spec.namespace}/{pod.name} to "
                    f"{self._nodes[pod.node].spec.name}",
                    SCHEDULER,
                )
                for i in range(len(pod.containers)):
                    self._push(t + pod.dep.spec.startup_delay_s, _Event.START, pod, i)
                continue
            message = message or self._unschedulable(pod)
            failed[pod.dep.index] = message
            pod.unschedulable = True
            if pod.schedule_message != message:
                pod.schedule_message = message
                self._event(
                    ObjectRef("Pod", pod.dep.spec.namespace, pod.name, "v1", pod.uid),
                    EventType.WARNING,
                    "FailedScheduling",
                    message,
                    SCHEDULER,
                )
            self._pending.append(pod)

    def _unschedulable(self, pod: PodRecord) -> str:
        cpu, mem, slots = free_room(self._nodes)
        return unschedulable_message(
            *fits(cpu, mem, slots, pod.dep.request_cpu, pod.dep.request_memory)
        )

    def _bind(self, pod: PodRecord, t: float) -> bool:
        """Place ``pod`` on a node that fits its requests: the one with the fewest pods of
        the same Deployment (spreading replicas), then the least allocated, then the first."""
        dep = pod.dep
        cpu, mem, slots = free_room(self._nodes)
        no_slot, low_cpu, low_mem = fits(cpu, mem, slots, dep.request_cpu, dep.request_memory)
        ok = ~(no_slot | low_cpu | low_mem)
        if not ok.any():
            return False
        siblings = np.zeros(len(self._nodes), dtype=np.int64)
        for other in (*dep.pods, *dep.terminating):
            if other.node >= 0:
                siblings[other.node] += 1
        alloc_cpu = np.array([n.spec.allocatable.cpu or 1.0 for n in self._nodes])
        alloc_mem = np.array([n.spec.allocatable.memory or 1.0 for n in self._nodes])
        free = (cpu - dep.request_cpu) / alloc_cpu + (mem - dep.request_memory) / alloc_mem
        # The best key (-siblings, free), the first node on ties: lexsort sorts by the last key.
        order = np.lexsort((np.arange(len(ok)), -free, siblings))
        best = self._nodes[int(order[ok[order]][0])]
        best.used_cpu += dep.request_cpu
        best.used_memory += dep.request_memory
        best.used_pods += 1
        pod.node, pod.scheduled_s, pod.unschedulable = best.index, t, False
        self._binds += 1
        pod.schedule_message = ""
        pod.ready_changed_s = t  # the kubelet reports Ready=False from the start
        pod.pod_ip = pod_ip(best.index, next(best.ips))
        for c in pod.containers:
            c.row = self.table.add(c.params, best.index)
            self._row_owner[c.row] = (pod, c)
        return True

    def _start(
        self, pod: PodRecord, c: ContainerRecord, t: float, *, leak_since: float | None = None
    ) -> None:
        c.instance += 1
        c.container_id = f"containerd://{self._ids.hex()}"
        c.started_s, c.running, c.waiting_reason = t, True, None
        self._rows_version += 1
        self.table.start(c.row, self._ids.key(), t if leak_since is None else leak_since)
        if c.spec.readiness_delay_s > 0:
            self._push(t + c.spec.readiness_delay_s, _Event.READY, pod, pod.containers.index(c))
        else:
            self._set_ready(pod, c, True, t)

    def _set_ready(self, pod: PodRecord, c: ContainerRecord, ready: bool, t: float) -> None:
        was_ready = pod.ready
        c.ready = ready
        pod_ready = pod.ready
        if pod_ready != was_ready:
            pod.ready_changed_s = t
        serving = pod_ready and pod.deleting_since_s is None
        for other in pod.containers:
            self.table.pod_ready[other.row] = serving

    def _oom_kill(self, owner: tuple[PodRecord, ContainerRecord], t: float) -> None:
        pod, c = owner
        pod.carried += self.table.counters[c.row, :RX]
        self.table.counters[c.row, :RX] = 0.0  # carried: the pod total must not count it twice
        ran = t - (c.started_s if c.started_s is not None else t)
        c.crash_streak = 1 if ran >= BACKOFF_RESET_S else c.crash_streak + 1
        c.restart_count += 1
        c.last_terminated_reason = "OOMKilled"
        c.running, c.waiting_reason = False, "CrashLoopBackOff"
        self._set_ready(pod, c, False, t)
        self.table.stop(c.row)
        self._rows_version += 1
        backoff = min(BACKOFF_INITIAL_S * 2 ** (c.crash_streak - 1), BACKOFF_MAX_S)
        c.instance += 1  # invalidates a READY still queued for the killed instance
        self._push(t + backoff, _Event.START, pod, pod.containers.index(c))

    def _push(
        self, t: float, kind: _Event, pod: PodRecord, index: int, instance: int | None = None
    ) -> None:
        inst = pod.containers[index].instance if instance is None else instance
        heapq.heappush(self._events, (t, next(self._seq), kind, pod, index, inst))

    def _deployment(self, namespace: str, name: str) -> DeploymentRecord:
        try:
            return self._by_name[(namespace, name)]
        except KeyError:
            raise KubepromError(f"deployment {namespace}/{name} not found") from None
