"""The simulated cluster as the HPA controller sees it: scale subresources, pods, publishing.

:class:`ClusterWorkloads` implements :class:`kubeprom.hpa.manager.Workloads` over a
:class:`~kubeprom.exporters.SimulatedCluster` (or over no cluster at all, where every
target is missing), for ``kubeprom run`` and simulations alike:

* the scale subresource of a Deployment is its ``spec.replicas``, ``status.replicas``
  (pods not terminating) and ``spec.selector``; any other target fails as the API server's
  REST mapper and registry fail: ``no matches for kind "Foo" in group "apps"`` for a kind the
  server does not know, ``statefulsets.apps "db" not found`` for one it knows;
* the pods an HPA sees carry their phase, deletion, Ready condition and its transition time,
  ``status.startTime`` (when bound) and their containers' requests in milli-units;
* after each sync every HPA is published to kube-state-metrics (:func:`hpa_status`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from kubeprom.config.cluster import ContainerSpec
from kubeprom.config.hpa_spec import CrossVersionObjectReference, MetricSpec, MetricTarget
from kubeprom.exporters import HPAStatus, MetricValue, PodPhase, PodState, SimulatedCluster
from kubeprom.hpa import Container, Phase, Pod, PodList, PodTemplate, Ready, Scale, ScaleFailure
from kubeprom.hpa.compute import MetricStatus
from kubeprom.hpa.manager import Autoscaler
from kubeprom.model.quantity import Quantity
from kubeprom.model.selectors import Requirement, matches, parse_label_selector

#: Kinds with a scale subresource, by (API group, kind): their resource name.
SCALABLE = {
    ("apps", "Deployment"): "deployments",
    ("apps", "ReplicaSet"): "replicasets",
    ("apps", "StatefulSet"): "statefulsets",
    ("", "ReplicationController"): "replicationcontrollers",
}
_INT64_MAX = (1 << 63) - 1
_NO_TIME = np.iinfo(np.int64).min  # PodList's "no time"


def api_group(api_version: str) -> str:
    """``schema.ParseGroupVersion``'s group (``apps/v1`` -> ``apps``, ``v1`` -> ``""``);
    raises ValueError with apimachinery's message for more than one slash."""
    if api_version.count("/") > 1:
        raise ValueError(f"unexpected GroupVersion string: {api_version}")
    return api_version.split("/")[0] if "/" in api_version else ""


def missing_target(ref: CrossVersionObjectReference) -> str | None:
    """Why a target has no scale subresource in an empty cluster, as the API says it."""
    try:
        group = api_group(ref.api_version)
    except ValueError as err:
        return str(err)
    resource = SCALABLE.get((group, ref.kind))
    if resource is None:
        return f'no matches for kind "{ref.kind}" in group "{group}"'
    qualified = f"{resource}.{group}" if group else resource
    return f'{qualified} "{ref.name}" not found'


class ClusterWorkloads:
    """See the module docstring. Use from the thread that drives the cluster."""

    def __init__(self, cluster: SimulatedCluster | None) -> None:
        self.cluster = cluster
        self._published: set[tuple[str, str]] = set()
        # The pods of each namespace listed since sync(), at the cluster's time then: the
        # HPAs of a namespace list their targets one after another before any of them
        # writes a scale. Dropped by sync(), write_scale() and observe().
        self._states: dict[str, tuple[float, list[PodState]]] = {}

    def _deployment(self, namespace: str, ref: CrossVersionObjectReference) -> str | None:
        """None when ``ref`` is a Deployment of the cluster, else why it has no scale."""
        try:
            group = api_group(ref.api_version)
        except ValueError as err:
            return str(err)
        found = self.cluster is not None and self.cluster.has_deployment(namespace, ref.name)
        if (group, ref.kind) == ("apps", "Deployment") and found:
            return None
        return missing_target(ref)

    def sync(self, now_ms: int) -> None:
        self._states = {}
        if self.cluster is not None:
            self.cluster.advance_to(now_ms / 1000)

    def scale(self, namespace: str, ref: CrossVersionObjectReference) -> Scale | ScaleFailure:
        why = self._deployment(namespace, ref)
        if why is not None or self.cluster is None:
            return ScaleFailure(why or "")
        info = self.cluster.deployment(namespace, ref.name)
        return Scale(info.spec_replicas, info.replicas, info.selector)

    def pods(self, namespace: str, selector: str) -> PodList:
        if self.cluster is None:
            return PodList.of([])
        requirements = parse_label_selector(selector)
        now = self.cluster.now_s
        listed = self._states.get(namespace)
        if listed is None or listed[0] != now:
            listed = self._states[namespace] = (now, self.cluster.pod_states(namespace))
        return pod_list(listed[1], requirements)

    def write_scale(
        self, namespace: str, ref: CrossVersionObjectReference, replicas: int
    ) -> str | None:
        self._states = {}
        why = self._deployment(namespace, ref)
        if why is not None or self.cluster is None:
            return why
        self.cluster.scale(namespace, ref.name, replicas)
        return None

    def observe(self, autoscalers: Sequence[Autoscaler]) -> None:
        self._states = {}
        if self.cluster is None:
            return
        now = {(a.hpa.namespace, a.hpa.name) for a in autoscalers}
        for namespace, name in self._published - now:
            self.cluster.remove_hpa(namespace, name)
        for a in autoscalers:
            self.cluster.set_hpa(hpa_status(a))
        self._published = now


_PHASES = {PodPhase.PENDING: Phase.PENDING, PodPhase.RUNNING: Phase.RUNNING}


def _milli_cores(cores: float) -> int:
    return round(cores * 1000)


def _template(specs: Sequence[ContainerSpec]) -> PodTemplate:
    containers = []
    for c in specs:
        requests = []
        if c.requests.cpu is not None:
            requests.append(("cpu", _milli_cores(c.requests.cpu)))
        if c.requests.memory is not None:
            requests.append(("memory", round(c.requests.memory) * 1000))
        containers.append(Container(c.name, tuple(requests)))
    return PodTemplate(tuple(containers))


def pod(p: PodState) -> Pod:
    """The row of one pod, as :meth:`PodList.of` takes it (:func:`pod_list` builds the
    columns of many at once, with the same values)."""
    return Pod(
        name=p.name,
        template=_template(p.containers),
        phase=_PHASES.get(p.phase, Phase.UNKNOWN),
        deleting=p.deleting,
        ready=(Ready.TRUE if p.ready else Ready.FALSE) if p.bound else Ready.ABSENT,
        start_ms=None if p.start_s is None else round(p.start_s * 1000),
        ready_transition_ms=None if p.ready_changed_s is None else round(p.ready_changed_s * 1000),
    )


def _ms(seconds: list[float | None]) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Whole ms of each time (``round``, half to even as Python's), and which are known."""
    s = np.array([np.nan if x is None else x for x in seconds], dtype=np.float64)
    known = ~np.isnan(s)
    ms = np.where(known, np.rint(np.where(known, s, 0.0) * 1000), 0.0).astype(np.int64)
    return np.where(known, ms, _NO_TIME), known


def pod_list(states: Sequence[PodState], requirements: tuple[Requirement, ...]) -> PodList:
    """``PodList.of([pod(p) for p in states if matches(requirements, p.labels)])``, built as
    columns: the pods of one Deployment share their labels and container specs (the same
    objects), so each is matched and converted once per call, not once per pod (this runs
    for every HPA at every sync)."""
    matched: dict[int, bool] = {}
    by_specs: dict[int, int] = {}  # specs -> position in index (equal templates once)
    index: dict[PodTemplate, int] = {}
    kept: list[PodState] = []
    template: list[int] = []
    for p in states:
        ok = matched.get(id(p.labels))
        if ok is None:
            ok = matched[id(p.labels)] = matches(requirements, p.labels)
        if not ok:
            continue
        t = by_specs.get(id(p.containers))
        if t is None:
            t = by_specs[id(p.containers)] = index.setdefault(_template(p.containers), len(index))
        kept.append(p)
        template.append(t)
    start_ms, has_start = _ms([p.start_s for p in kept])
    changed_ms, has_changed = _ms([p.ready_changed_s for p in kept])
    bound = np.array([p.bound for p in kept], dtype=np.bool_)
    ready = np.array([p.ready for p in kept], dtype=np.bool_)
    readiness = np.where(bound, np.where(ready, Ready.TRUE, Ready.FALSE), Ready.ABSENT)
    unknown = Phase.UNKNOWN
    return PodList(
        names=np.array([p.name for p in kept], dtype=np.str_),
        template=np.array(template, dtype=np.int32),
        templates=tuple(index),
        phase=np.array([_PHASES.get(p.phase, unknown) for p in kept], dtype=np.int8),
        deleting=np.array([p.deleting for p in kept], dtype=np.bool_),
        ready=readiness.astype(np.int8),
        start_ms=start_ms,
        has_start=has_start,
        # A missing transition time defaults to the start time (as PodList.of does).
        transition_ms=np.where(has_changed, changed_ms, start_ms),
    )


# ---- kube-state-metrics ---------------------------------------------------------------------
def _float(q: Quantity) -> float:
    """kube-state-metrics' ``convertValueToFloat64``: milli-precision unless that overflows."""
    value = q.value
    if value > _INT64_MAX // 1000:
        return float(int(value))
    return q.milli_value() / 1000


def _target_values(name: str, target: MetricTarget, container: str = "") -> list[MetricValue]:
    out = []
    if target.value is not None:
        out.append(MetricValue(name, "value", _float(target.value), container))
    if target.average_value is not None:
        out.append(MetricValue(name, "average", _float(target.average_value), container))
    if target.average_utilization is not None:
        out.append(MetricValue(name, "utilization", float(target.average_utilization), container))
    return out


def _spec_values(m: MetricSpec) -> list[MetricValue]:
    if m.resource is not None and m.type == "Resource":
        return _target_values(m.resource.name, m.resource.target)
    if m.container_resource is not None and m.type == "ContainerResource":
        cr = m.container_resource
        return _target_values(cr.name, cr.target, cr.container)
    if m.pods is not None and m.type == "Pods":
        return _target_values(m.pods.metric.name, m.pods.target)
    if m.object is not None and m.type == "Object":
        return _target_values(m.object.metric.name, m.object.target)
    if m.external is not None and m.type == "External":
        return _target_values(m.external.metric.name, m.external.target)
    return []  # an unknown type: kube-state-metrics skips it


def _status_values(s: MetricStatus) -> list[MetricValue]:
    out = []
    if s.value_m is not None:
        out.append(MetricValue(s.name, "value", s.value_m / 1000, s.container))
    if s.average_value_m is not None:
        out.append(MetricValue(s.name, "average", s.average_value_m / 1000, s.container))
    if s.average_utilization is not None:
        out.append(MetricValue(s.name, "utilization", float(s.average_utilization), s.container))
    return out


def hpa_status(a: Autoscaler) -> HPAStatus:
    """What kube-state-metrics exports of an HPA."""
    hpa = a.hpa
    spec = hpa.spec
    status = a.state.status
    behavior = spec.behavior
    up = behavior.scale_up.tolerance if behavior and behavior.scale_up else None
    down = behavior.scale_down.tolerance if behavior and behavior.scale_down else None
    return HPAStatus(
        namespace=hpa.namespace,
        name=hpa.name,
        target_name=spec.scale_target_ref.name,
        target_kind=spec.scale_target_ref.kind,
        target_api_version=spec.scale_target_ref.api_version,
        min_replicas=1 if spec.min_replicas is None else spec.min_replicas,
        max_replicas=spec.max_replicas,
        current_replicas=status.current_replicas,
        desired_replicas=status.desired_replicas,
        labels=dict(hpa.labels),
        annotations=dict(hpa.annotations),
        generation=a.generation,
        created_s=a.created_ms // 1000,
        spec_metrics=tuple(v for m in spec.metrics for v in _spec_values(m)),
        status_metrics=tuple(v for s in status.current_metrics if s for v in _status_values(s)),
        conditions=tuple((c.type, "true" if c.status else "false") for c in status.conditions),
        scale_up_tolerance=None if up is None else up.approximate_float(),
        scale_down_tolerance=None if down is None else down.approximate_float(),
    )
