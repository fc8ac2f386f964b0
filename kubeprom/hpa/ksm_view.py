"""The cluster as an HPA sees it, read back from kube-state-metrics series with PromQL.

A dry run has no API server: the scale target's scale and the pods it selects come from the
series any Prometheus that scrapes kube-state-metrics holds. The Deployment's
``spec.replicas`` and ``status.replicas`` are ``kube_deployment_spec_replicas`` and
``kube_deployment_status_replicas``; its pods are those owned (``kube_pod_owner``) by its
ReplicaSets (``kube_replicaset_owner``); each pod's phase, Ready condition and start time are
``kube_pod_status_phase``, ``kube_pod_status_ready`` and ``kube_pod_start_time``; its
containers and their requests are ``kube_pod_container_resource_requests`` and
``kube_pod_container_info``. When kube-state-metrics exports them,
``kube_pod_status_ready_time`` gives the Ready transition (otherwise the start time stands in,
as :meth:`PodList.of <kubeprom.hpa.pods.PodList.of>` does) and
``kube_pod_deletion_timestamp`` marks terminating pods.

kube-state-metrics does not export a Deployment's selector; the scale's selector is rebuilt
from the labels every selected pod carries in ``kube_pod_labels`` (``pod-template-hash``
aside), and ``pod-template-hash in (...)`` when it exports none. It is only checked for being
well-formed and unambiguous, as the controller does; the pods are the ones found above.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from kubeprom.hpa.controller import Scale, ScaleFailure
from kubeprom.hpa.pods import PHASES, Container, Phase, Pod, PodList, PodTemplate, Ready
from kubeprom.hpa.promread import equal, selector
from kubeprom.model.labels import Labels
from kubeprom.promql.api import QueryAPI

KSM_MATCHERS = 'job="kube-state-metrics"'  # kubernetes-mixin's job name
_READY = {"true": Ready.TRUE, "false": Ready.FALSE, "unknown": Ready.UNKNOWN}
_TEMPLATE_HASH = "label_pod_template_hash"


@dataclass(frozen=True, slots=True)
class ClusterState:
    """What one sync reads of the cluster: the target's scale (or why not) and its pods."""

    scale: Scale | ScaleFailure
    pods: PodList


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _cpu_milli(cores: float) -> int:
    # kube-state-metrics exports MilliValue() / 1000 for cpu
    return round(cores * 1000)


def _memory_milli(count: float) -> int:
    return round(count) * 1000


@dataclass(frozen=True, slots=True)
class KSMReader:
    """Reads scales and pods at a time ``t_ms`` through ``api``."""

    api: QueryAPI
    matchers: str = KSM_MATCHERS

    def _vector(self, metric: str, *matchers: str, t_ms: int) -> list[tuple[Labels, float]]:
        result = self.api.instant(selector(metric, [self.matchers, *matchers]), t_ms)
        return [(lab, float(v[-1])) for lab, _, v in result.series() if len(v)]

    def _per_pod(self, metric: str, namespace: str, t_ms: int) -> dict[str, float]:
        out: dict[str, float] = {}
        for lab, value in self._vector(metric, equal("namespace", namespace), t_ms=t_ms):
            out.setdefault(lab.get("pod"), value)
        return out

    def read(self, namespace: str, kind: str, name: str, t_ms: int) -> ClusterState:
        """The scale of ``kind/name`` and the pods it selects. Raises
        :class:`~kubeprom.errors.KubepromError` when a query fails."""
        if kind != "Deployment":
            failure = ScaleFailure(
                f"kubeprom reads the scale of Deployments from kube-state-metrics, not of {kind}"
            )
            return ClusterState(failure, PodList.of([]))
        ns, dep = equal("namespace", namespace), equal("deployment", name)
        spec = self._vector("kube_deployment_spec_replicas", ns, dep, t_ms=t_ms)
        if not spec:
            return ClusterState(
                ScaleFailure(f'deployments.apps "{name}" not found'), PodList.of([])
            )
        status = self._vector("kube_deployment_status_replicas", ns, dep, t_ms=t_ms)
        owners = self._vector(
            "kube_replicaset_owner",
            ns,
            equal("owner_kind", "Deployment"),
            equal("owner_name", name),
            t_ms=t_ms,
        )
        replicasets = {lab.get("replicaset") for lab, _ in owners}
        pod_owners = self._vector(
            "kube_pod_owner", ns, equal("owner_kind", "ReplicaSet"), t_ms=t_ms
        )
        names = sorted(
            {lab.get("pod") for lab, _ in pod_owners if lab.get("owner_name") in replicasets}
        )
        pods = self._pods(namespace, names, t_ms)
        sel = self._selector(namespace, names, replicasets, t_ms)
        scale = Scale(
            spec_replicas=int(spec[0][1]),
            status_replicas=int(status[0][1]) if status else 0,
            selector=sel,
        )
        return ClusterState(scale, pods)

    def _pods(self, namespace: str, names: list[str], t_ms: int) -> PodList:
        ns = equal("namespace", namespace)
        wanted = set(names)
        phase: dict[str, Phase] = {}
        for lab, value in self._vector("kube_pod_status_phase", ns, t_ms=t_ms):
            if value == 1 and lab.get("pod") in wanted:
                phase[lab.get("pod")] = PHASES.get(lab.get("phase"), Phase.UNKNOWN)
        ready: dict[str, Ready] = {}
        for lab, value in self._vector("kube_pod_status_ready", ns, t_ms=t_ms):
            if value == 1 and lab.get("pod") in wanted:
                ready[lab.get("pod")] = _READY.get(lab.get("condition"), Ready.UNKNOWN)
        start = self._per_pod("kube_pod_start_time", namespace, t_ms)
        ready_time = self._per_pod("kube_pod_status_ready_time", namespace, t_ms)
        deletion = self._per_pod("kube_pod_deletion_timestamp", namespace, t_ms)
        containers: dict[str, dict[str, dict[str, int]]] = {}
        for lab, value in self._vector("kube_pod_container_resource_requests", ns, t_ms=t_ms):
            pod = lab.get("pod")
            if pod not in wanted or not math.isfinite(value):
                continue
            res = containers.setdefault(pod, {}).setdefault(lab.get("container"), {})
            resource = lab.get("resource")
            if resource == "cpu":
                res["cpu"] = _cpu_milli(value)
            elif resource == "memory":
                res["memory"] = _memory_milli(value)
            else:
                res[resource] = _memory_milli(value)
        for lab, _ in self._vector("kube_pod_container_info", ns, t_ms=t_ms):
            if lab.get("pod") in wanted:
                containers.setdefault(lab.get("pod"), {}).setdefault(lab.get("container"), {})
        rows = []
        for name in names:
            specs = containers.get(name, {})
            template = PodTemplate(
                tuple(Container(c, tuple(sorted(specs[c].items()))) for c in sorted(specs))
            )
            rows.append(
                Pod(
                    name,
                    template,
                    phase=phase.get(name, Phase.UNKNOWN),
                    deleting=name in deletion,
                    ready=ready.get(name, Ready.ABSENT),
                    start_ms=_ms(start[name]) if name in start else None,
                    ready_transition_ms=_ms(ready_time[name]) if name in ready_time else None,
                )
            )
        return PodList.of(rows)

    def _selector(
        self, namespace: str, names: Iterable[str], replicasets: set[str], t_ms: int
    ) -> str:
        wanted = set(names)
        common: set[tuple[str, str]] | None = None
        for lab, _ in self._vector("kube_pod_labels", equal("namespace", namespace), t_ms=t_ms):
            if lab.get("pod") not in wanted:
                continue
            pairs = {
                (n.removeprefix("label_"), v)
                for n, v in lab
                if n.startswith("label_") and n != _TEMPLATE_HASH
            }
            common = pairs if common is None else common & pairs
        if common:
            return ",".join(f"{k}={v}" for k, v in sorted(common))
        hashes = sorted(rs.rsplit("-", 1)[-1] for rs in replicasets)
        return f"pod-template-hash in ({','.join(hashes)})" if hashes else ""
