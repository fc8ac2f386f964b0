"""kube-state-metrics' pod and container families (``internal/store/pod.go``), as columns.

Each pod is one :class:`~kubeprom.exporters.columns.Block` (its series and their labels,
built when the pod first shows with those labels, reused while they hold) and one row of
values; :class:`PodColumns` keeps the blocks from one collection to the next. Families,
labels and which series exist follow kube-state-metrics v2 as in :mod:`.ksm`.
"""

from __future__ import annotations

import re

import numpy as np
from numpy.typing import NDArray

from kubeprom.exporters.columns import Block, BlockBuilder, BlockCache, Columns, FamilySpec
from kubeprom.exporters.views import ClusterView, PodInfo, PodPhase, PodRows, QoSClass

_S = "[STABLE] "
_LABEL_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")
_POD = ("namespace", "pod", "uid")
_CONTAINER = (*_POD, "container")
_RESOURCE = (*_CONTAINER, "node", "resource", "unit")
_STATUSES = ("true", "false", "unknown")
#: The exit code of a container killed by SIGKILL (128 + 9), as the OOM killer leaves it.
_OOM_EXIT_CODE = 137


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


class PodColumns:
    """The pod and container families of every pod of ``cluster``, as columns."""

    def __init__(self, cluster: ClusterView) -> None:
        self.cluster = cluster
        self._blocks = BlockCache()

    def columns(self) -> Columns:
        rows = self.cluster.pod_rows()
        infos: list[PodInfo] | None = None  # the views, taken only for a pod's new series
        blocks: list[Block] = []
        for i, key in enumerate(rows.keys):
            block = self._blocks.get(key)
            if block is None:
                infos = self.cluster.pods() if infos is None else infos
                block = self._blocks.put(key, _pod_block(infos[i]))
            blocks.append(block)
        self._blocks.end_collection()
        return Columns(_POD_FAMILIES, blocks, _values(rows))


def _values(rows: PodRows) -> NDArray[np.float64]:
    """The pods' value rows (see the layout above), padded with 0 to the widest pod."""
    n = len(rows.keys)
    counts = np.bincount(rows.pod, minlength=n)
    width = _CONTAINERS + _PER_CONTAINER * int(counts.max()) if n else 0
    m = np.zeros((n, width), dtype=np.float64)
    if n == 0:
        return m
    m[:, _ONE] = 1.0
    m[:, _EXIT_CODE] = float(_OOM_EXIT_CODE)
    m[:, _CREATED] = rows.created_s
    m[:, _DELETION] = rows.deletion_s
    m[:, _START] = rows.started_s
    for i in range(len(PodPhase)):
        m[:, _PHASE + i] = rows.phase == i
    for at in (_READY, _SCHEDULED):
        flag = rows.ready if at == _READY else rows.bound
        m[:, at] = flag
        m[:, at + 1] = ~flag  # "unknown" stays 0
    qos = list(QoSClass)
    for i, klass in enumerate(_QOS_CLASSES):
        m[:, _QOS + i] = rows.qos == qos.index(QoSClass(klass))
    first = _CONTAINERS + rows.slot * _PER_CONTAINER
    cols = first[:, None] + np.arange(_PER_CONTAINER)
    m[rows.pod[:, None], cols] = rows.containers
    return m
