"""The Kubernetes API resources a metrics adapter maps labels to, as a RESTMapper knows them.

prometheus-adapter turns label names into group-resources and back (``ResourceFor``,
``ResourceSingularizer``), and the HPA's custom metrics client turns a described object's
kind into its resource (``RESTMapping``). Without an API server, this table of the built-in
resources stands in for discovery; unknown names fail with the mapper's own messages.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeprom.errors import KubepromError


@dataclass(frozen=True, slots=True)
class GroupResource:
    """``schema.GroupResource``; ``str()`` is its ``String()`` (``deployments.apps``)."""

    group: str
    resource: str

    def __str__(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


@dataclass(frozen=True, slots=True)
class APIResource:
    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool = True

    @property
    def group_resource(self) -> GroupResource:
        return GroupResource(self.group, self.plural)


def _r(group: str, version: str, kind: str, plural: str, *, namespaced: bool = True) -> APIResource:
    return APIResource(group, version, kind, plural, kind.lower(), namespaced)


# The built-in resources of Kubernetes 1.33 a metric is commonly attached to.
RESOURCES = (
    _r("", "v1", "ConfigMap", "configmaps"),
    _r("", "v1", "Endpoints", "endpoints"),
    _r("", "v1", "Namespace", "namespaces", namespaced=False),
    _r("", "v1", "Node", "nodes", namespaced=False),
    _r("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False),
    _r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    _r("", "v1", "Pod", "pods"),
    _r("", "v1", "ReplicationController", "replicationcontrollers"),
    _r("", "v1", "Secret", "secrets"),
    _r("", "v1", "Service", "services"),
    _r("", "v1", "ServiceAccount", "serviceaccounts"),
    _r("apps", "v1", "DaemonSet", "daemonsets"),
    _r("apps", "v1", "Deployment", "deployments"),
    _r("apps", "v1", "ReplicaSet", "replicasets"),
    _r("apps", "v1", "StatefulSet", "statefulsets"),
    _r("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
    _r("batch", "v1", "CronJob", "cronjobs"),
    _r("batch", "v1", "Job", "jobs"),
    _r("networking.k8s.io", "v1", "Ingress", "ingresses"),
    _r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets"),
)
NAMESPACES = GroupResource("", "namespaces")
NODES = GroupResource("", "nodes")
PERSISTENT_VOLUMES = GroupResource("", "persistentvolumes")
PODS = GroupResource("", "pods")


class NoMatch(KubepromError):
    """The mapper knows no such resource or kind; ``str()`` is its message."""


def resource_for(partial: GroupResource) -> GroupResource:
    """``RESTMapper.ResourceFor``: the resource whose plural or singular name is
    ``partial.resource`` (any case) in ``partial.group`` (any group when empty)."""
    name = partial.resource.lower()
    hits = [
        r for r in RESOURCES if name in (r.plural, r.singular) and (partial.group in ("", r.group))
    ]
    if not hits:
        raise NoMatch(f"no matches for {partial.group}/, Resource={partial.resource}")
    if len(hits) > 1:
        found = ", ".join(str(h.group_resource) for h in hits)
        raise NoMatch(f"{partial.resource} matches multiple resources or kinds: {found}")
    return hits[0].group_resource


def singular(plural: str) -> str:
    """``RESTMapper.ResourceSingularizer``."""
    for r in RESOURCES:
        if plural.lower() in (r.plural, r.singular):
            return r.singular
    raise NoMatch(f"no singular of resource {plural!r} has been defined")


def resource_for_kind(group: str, kind: str) -> GroupResource:
    """``RESTMapper.RESTMapping(GroupKind)``: the resource of a kind in a group."""
    for r in RESOURCES:
        if r.kind == kind and r.group == group:
            return r.group_resource
    raise NoMatch(f'no matches for kind "{kind}" in group "{group}"')


def is_namespaced(resource: GroupResource) -> bool:
    return resource not in (NAMESPACES, NODES, PERSISTENT_VOLUMES)
