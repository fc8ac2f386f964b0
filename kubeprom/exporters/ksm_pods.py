"""kube-state-metrics' pod and container families (``internal/store/pod.go``), as columns.

Each pod is one :class:`~kubeprom.exporters.columns.Block` (its series and their labels,
built when the pod first shows with those labels, reused while they hold) and one row of
values; :class:`PodColumns` keeps the blocks from one collection to the next. Families,
labels and which series exist follow kube-state-metrics v2 as in :mod:`.ksm`.
"""

from __future__ import annotations

import re

import numpy as np

from kubeprom.exporters.columns import Block, BlockBuilder, BlockCache, Columns, FamilySpec
from kubeprom.exporters.views import ClusterView, PodInfo, PodPhase

_S = "[STABLE] "
_LABEL_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")
_POD = ("namespace", "pod", "uid")
_CONTAINER = (*_POD, "container")
_RESOURCE = (*_CONTAINER, "node", "resource", "unit")
_STATUSES = ("true", "false", "unknown")
#: The exit code of a container killed by SIGKILL (128 + 9), as the OOM killer leaves it.
_OOM_EXIT_CODE = 137


def _flag(value: bool) -> float:
    return 1.0 if value else 0.0


def _container_state(name: str, doc: str) -> FamilySpec:
    return FamilySpec(f"kube_pod_container_status_{name}", "gauge", _S + doc, _CONTAINER)


_POD_FAMILIES = (
    FamilySpec(
        "kube_pod_info",
        "gauge",
        _S + "Information about pod.",
        (
            *_POD,
            "host_ip",
            "pod_ip",
            "node",
            "created_by_kind",
            "created_by_name",
            "priority_class",
            "host_network",
        ),
    ),
    FamilySpec(
        "kube_pod_owner",
        "gauge",
        _S + "Information about the Pod's owner.",
        (*_POD, "owner_kind", "owner_name", "owner_is_controller"),
    ),
    FamilySpec("kube_pod_created", "gauge", _S + "Unix creation timestamp", _POD),
    FamilySpec("kube_pod_deletion_timestamp", "gauge", "Unix deletion timestamp", _POD),
    FamilySpec(
        "kube_pod_start_time", "gauge", _S + "Start time in unix timestamp for a pod.", _POD
    ),
    FamilySpec("kube_pod_status_phase", "gauge", _S + "The pods current phase.", (*_POD, "phase")),
    FamilySpec(
        "kube_pod_status_ready",
        "gauge",
        _S + "Describes whether the pod is ready to serve requests.",
        (*_POD, "condition"),
    ),
    FamilySpec(
        "kube_pod_status_scheduled",
        "gauge",
        _S + "Describes the status of the scheduling process for the pod.",
        (*_POD, "condition"),
    ),
    FamilySpec(
        "kube_pod_status_unschedulable",
        "gauge",
        _S + "Describes the unschedulable status for the pod.",
        _POD,
    ),
    FamilySpec(
        "kube_pod_status_qos_class", "gauge", "The pods current qosClass.", (*_POD, "qos_class")
    ),
    FamilySpec(
        "kube_pod_restart_policy",
        "gauge",
        _S + "Describes the restart policy in use by this pod.",
        (*_POD, "type"),
    ),
    # Pod labels as kube-state-metrics exports them with --metric-labels-allowlist=pods=[*]:
    # label_<key> with the key's non-alphanumerics turned into "_".
    FamilySpec(
        "kube_pod_labels", "gauge", _S + "Kubernetes labels converted to Prometheus labels."
    ),
    FamilySpec(
        "kube_pod_container_info",
        "gauge",
        _S + "Information about a container in a pod.",
        (*_CONTAINER, "image_spec", "image", "image_id", "container_id"),
    ),
    FamilySpec(
        "kube_pod_container_resource_requests",
        "gauge",
        "The number of requested request resource by a container. It is recommended to "
        "use the kube_pod_resource_requests metric exposed by kube-scheduler instead, as "
        "it is more precise.",
        _RESOURCE,
    ),
    FamilySpec(
        "kube_pod_container_resource_limits",
        "gauge",
        "The number of requested limit resource by a container. It is recommended to use "
        "the kube_pod_resource_limits metric exposed by kube-scheduler instead, as it is "
        "more precise.",
        _RESOURCE,
    ),
    FamilySpec(
        "kube_pod_container_state_started",
        "gauge",
        _S + "Start time in unix timestamp for a pod container.",
        _CONTAINER,
    ),
    FamilySpec(
        "kube_pod_container_status_last_terminated_exitcode",
        "gauge",
        "Describes the exit code for the last container in terminated state.",
        _CONTAINER,
    ),
    FamilySpec(
        "kube_pod_container_status_last_terminated_reason",
        "gauge",
        "Describes the last reason the container was in terminated state.",
        (*_CONTAINER, "reason"),
    ),
    _container_state("ready", "Describes whether the containers readiness check succeeded."),
    FamilySpec(
        "kube_pod_container_status_restarts_total",
        "counter",
        _S + "The number of container restarts per container.",
        _CONTAINER,
    ),
    _container_state("running", "Describes whether the container is currently in running state."),
    _container_state(
        "terminated", "Describes whether the container is currently in terminated state."
    ),
    _container_state("waiting", "Describes whether the container is currently in waiting state."),
    FamilySpec(
        "kube_pod_container_status_waiting_reason",
        "gauge",
        _S + "Describes the reason the container is currently in waiting state.",
        (*_CONTAINER, "reason"),
    ),
)
(
    _P_INFO,
    _P_OWNER,
    _P_CREATED,
    _P_DELETION,
    _P_START,
    _P_PHASE,
    _P_READY,
    _P_SCHEDULED,
    _P_UNSCHEDULABLE,
    _P_QOS,
    _P_POLICY,
    _P_LABELS,
    _C_INFO,
    _C_REQUESTS,
    _C_LIMITS,
    _C_STARTED,
    _C_EXIT_CODE,
    _C_LAST_REASON,
    _C_READY,
    _C_RESTARTS,
    _C_RUNNING,
    _C_TERMINATED,
    _C_WAITING,
    _C_WAITING_REASON,
) = range(len(_POD_FAMILIES))
_QOS_CLASSES = ("BestEffort", "Burstable", "Guaranteed")
# A pod's value row: constants, then its own values, then a run of columns per container.
_ZERO, _ONE, _EXIT_CODE, _CREATED, _DELETION, _START = range(6)
_PHASE = 6  # one column per PodPhase
_READY = _PHASE + len(PodPhase)  # one per status of _STATUSES
_SCHEDULED = _READY + len(_STATUSES)
_QOS = _SCHEDULED + len(_STATUSES)
_CONTAINERS = _QOS + len(_QOS_CLASSES)
# Per container, from its first column:
_K_REQ_CPU, _K_REQ_MEM, _K_LIM_CPU, _K_LIM_MEM, _K_START, _K_READY, _K_RESTARTS, _K_RUN, _K_WAIT = (
    range(9)
)
_PER_CONTAINER = 9


def _pod_signature(p: PodInfo) -> tuple[object, ...]:
    """Everything the series of a pod (not their values) depend on."""
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


def _pod_block(p: PodInfo) -> Block:
    b = BlockBuilder(_POD_FAMILIES)
    key = [p.namespace, p.name, p.uid]
    node = p.node or ""
    extra = {f"label_{_LABEL_UNSAFE.sub('_', k)}": v for k, v in sorted(p.labels.items())}
    b.add_pairs(_P_LABELS, _ONE, tuple((dict(zip(_POD, key, strict=True)) | extra).items()))
    b.add(_P_INFO, _ONE, [*key, p.host_ip, p.pod_ip, node, p.owner_kind, p.owner_name, "", "false"])
    b.add(_P_OWNER, _ONE, [*key, p.owner_kind, p.owner_name, "true"])
    b.add(_P_CREATED, _CREATED, key)
    if p.deletion_s is not None:
        b.add(_P_DELETION, _DELETION, key)
    if p.started_s is not None:
        b.add(_P_START, _START, key)
    for i, phase in enumerate(PodPhase):
        b.add(_P_PHASE, _PHASE + i, [*key, phase.value])
    for i, status in enumerate(_STATUSES):
        b.add(_P_READY, _READY + i, [*key, status])
    if p.node is not None or p.unschedulable:
        for i, status in enumerate(_STATUSES):
            b.add(_P_SCHEDULED, _SCHEDULED + i, [*key, status])
    if p.unschedulable:
        b.add(_P_UNSCHEDULABLE, _ONE, key)
    for i, klass in enumerate(_QOS_CLASSES):
        b.add(_P_QOS, _QOS + i, [*key, klass])
    b.add(_P_POLICY, _ONE, [*key, "Always"])
    for n, c in enumerate(p.containers):
        at = _CONTAINERS + n * _PER_CONTAINER
        ckey = [*key, c.name]
        for fam, res, cpu, mem in (
            (_C_REQUESTS, c.requests, _K_REQ_CPU, _K_REQ_MEM),
            (_C_LIMITS, c.limits, _K_LIM_CPU, _K_LIM_MEM),
        ):
            if res.cpu is not None:
                b.add(fam, at + cpu, [*ckey, node, "cpu", "core"])
            if res.memory is not None:
                b.add(fam, at + mem, [*ckey, node, "memory", "byte"])
        if p.node is None:
            continue  # no container status before the pod is bound to a node
        b.add(_C_INFO, _ONE, [*ckey, c.image_spec, c.image, c.image_id, c.container_id])
        if c.started_s is not None:
            b.add(_C_STARTED, at + _K_START, ckey)
        if c.last_terminated_reason is not None:
            b.add(_C_EXIT_CODE, _EXIT_CODE, ckey)
            b.add(_C_LAST_REASON, _ONE, [*ckey, c.last_terminated_reason])
        b.add(_C_READY, at + _K_READY, ckey)
        b.add(_C_RESTARTS, at + _K_RESTARTS, ckey)
        b.add(_C_RUNNING, at + _K_RUN, ckey)
        b.add(_C_TERMINATED, _ZERO, ckey)
        b.add(_C_WAITING, at + _K_WAIT, ckey)
        if c.waiting_reason is not None:
            b.add(_C_WAITING_REASON, _ONE, [*ckey, c.waiting_reason])
    return b.build()


def _pod_row(p: PodInfo) -> list[float]:
    row = [0.0] * (_CONTAINERS + len(p.containers) * _PER_CONTAINER)
    row[_ONE] = 1.0
    row[_EXIT_CODE] = float(_OOM_EXIT_CODE)
    row[_CREATED] = p.created_s
    row[_DELETION] = p.deletion_s or 0.0
    row[_START] = p.started_s or 0.0
    for i, phase in enumerate(PodPhase):
        row[_PHASE + i] = _flag(p.phase is phase)
    for i, status in enumerate(_STATUSES):
        row[_READY + i] = _flag(status == ("true" if p.ready else "false"))
        row[_SCHEDULED + i] = _flag(status == ("true" if p.node is not None else "false"))
    for i, klass in enumerate(_QOS_CLASSES):
        row[_QOS + i] = _flag(p.qos.value == klass)
    for n, c in enumerate(p.containers):
        at = _CONTAINERS + n * _PER_CONTAINER
        row[at + _K_REQ_CPU] = c.requests.cpu or 0.0
        row[at + _K_REQ_MEM] = c.requests.memory or 0.0
        row[at + _K_LIM_CPU] = c.limits.cpu or 0.0
        row[at + _K_LIM_MEM] = c.limits.memory or 0.0
        row[at + _K_START] = c.started_s or 0.0
        row[at + _K_READY] = _flag(c.ready)
        row[at + _K_RESTARTS] = float(c.restart_count)
        row[at + _K_RUN] = _flag(c.running)
        row[at + _K_WAIT] = _flag(c.waiting_reason is not None)
    return row


class PodColumns:
    """The pod and container families of every pod of ``cluster``, as columns."""

    def __init__(self, cluster: ClusterView) -> None:
        self.cluster = cluster
        self._blocks = BlockCache()

    def columns(self) -> Columns:
        blocks: list[Block] = []
        rows: list[list[float]] = []
        for p in self.cluster.pods():
            signature = _pod_signature(p)
            block = self._blocks.get(signature)
            if block is None:
                block = self._blocks.put(signature, _pod_block(p))
            blocks.append(block)
            rows.append(_pod_row(p))
        self._blocks.end_collection()
        matrix = np.zeros((len(rows), max(map(len, rows), default=0)), dtype=np.float64)
        for i, row in enumerate(rows):
            matrix[i, : len(row)] = row
        return Columns(_POD_FAMILIES, blocks, matrix)
