"""Walks the composed YAML of a ``cluster:`` section into :mod:`kubeprom.config.cluster` specs;
``load_cluster_config`` / ``parse_cluster_config`` are the entry points.

Every error names the node's 1-based line and column and the field path
(``cluster.deployments[0].spec.replicas``); see :mod:`kubeprom.config.cluster` for the format.
"""

from __future__ import annotations

import math
import re
from importlib import resources
from pathlib import Path

import yaml

from kubeprom.config.cluster import (
    DEFAULT_OVERHEAD_CPU,
    DEFAULT_OVERHEAD_MEMORY,
    DEFAULT_PODS_PER_NODE,
    DEFAULT_STARTUP_DELAY_S,
    DEFAULT_TERMINATION_GRACE_S,
    DEFAULT_TICK_S,
    ClusterSpec,
    ContainerSpec,
    DeploymentSpec,
    LoadSpec,
    LoadType,
    NodeSpec,
    Resources,
    parse_quantity,
)
from kubeprom.config.cluster_objects import (
    parse_load_csv,
    parse_queue,
    parse_resource_quotas,
    parse_selector,
)
from kubeprom.config.nodes import compose
from kubeprom.errors import ConfigError
from kubeprom.model.timeutil import parse_duration_ms

# RFC 1123 labels, as Kubernetes requires for namespaces, pod and node names.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?\Z")

_Node = yaml.Node
_COST_FIELDS = {
    "cpu_per_request": "cpu",
    "baseline_cpu": "cpu",
    "memory_per_rps": "memory",
    "baseline_memory": "memory",
    "memory_leak_per_hour": "memory",
    "rx_bytes_per_request": "memory",
    "tx_bytes_per_request": "memory",
    "noise": "float",
}
# The shape fields of each load type: yaml name -> required.
_SHAPE_FIELDS: dict[LoadType, dict[str, bool]] = {
    LoadType.CONSTANT: {"rps": True},
    LoadType.STEP: {"at": True, "from": True, "to": True},
    LoadType.RAMP: {"from": True, "to": True, "over": True, "at": False},
    LoadType.DIURNAL: {"base_rps": True, "amplitude_rps": True, "period": False, "phase": False},
    LoadType.SPIKE: {
        "base_rps": True,
        "at": True,
        "duration": True,
        "factor": True,
        "every": False,
    },
    LoadType.CSV: {"file": True, "loop": False},
}
_DURATION_FIELDS = {"at", "over", "period", "phase", "duration", "every"}
_RPS_ATTR = {"rps": "rps", "base_rps": "base_rps", "amplitude_rps": "amplitude_rps"}
_RPS_ATTR |= {"from": "from_rps", "to": "to_rps", "factor": "factor"}


class ClusterParser:
    """Turns composed YAML nodes into spec dataclasses, naming positions in every error."""

    def __init__(self, source: str, base_dir: Path | None) -> None:
        self.source = source
        self.base_dir = base_dir

    def err(self, node: _Node, path: str, message: str) -> ConfigError:
        return ConfigError(
            message,
            file=self.source,
            line=node.start_mark.line + 1,
            col=node.start_mark.column + 1,
            field=path,
        )

    def mapping(
        self, node: _Node, path: str, kind: str, allowed: set[str], required: tuple[str, ...] = ()
    ) -> dict[str, _Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.err(node, path, f"expected a mapping for {kind}, got {_kind(node)}")
        out: dict[str, _Node] = {}
        for key, value in node.value:
            name = str(key.value)
            if name not in allowed:
                raise self.err(key, f"{path}.{name}", f"field {name!r} not found in type {kind}")
            if name in out:
                raise self.err(key, f"{path}.{name}", f"field {name!r} already set")
            out[name] = value
        for name in required:
            if name not in out or is_null(out[name]):
                raise self.err(node, f"{path}.{name}", f"missing required field {name!r}")
        return out

    def sequence(self, node: _Node, path: str) -> list[_Node]:
        if is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.err(node, path, f"expected a list, got {_kind(node)}")
        return list(node.value)

    def string(self, node: _Node, path: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or is_null(node):
            raise self.err(node, path, f"expected a string, got {_kind(node)}")
        return str(node.value)

    def name(self, node: _Node, path: str, pattern: re.Pattern[str] = _DNS_LABEL) -> str:
        text = self.string(node, path)
        if len(text) > 63 or not pattern.match(text):
            raise self.err(
                node,
                path,
                f"invalid name {text!r}: expected lower case alphanumerics and '-', "
                "starting and ending with an alphanumeric (RFC 1123)",
            )
        return text

    def subdomain(self, node: _Node, path: str) -> str:
        """A name that may contain dots (RFC 1123 subdomain), as most object names."""
        return self.name(node, path, _DNS_SUBDOMAIN)

    def integer(self, node: _Node, path: str, minimum: int = 0) -> int:
        text = self.string(node, path)
        try:
            value = int(text)
        except ValueError:
            raise self.err(node, path, f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise self.err(node, path, f"must be at least {minimum}, got {value}")
        return value

    def number(self, node: _Node, path: str) -> float:
        text = self.string(node, path)
        try:
            value = float(text)
        except ValueError:
            raise self.err(node, path, f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value < 0:
            raise self.err(node, path, f"expected a finite number >= 0, got {text!r}")
        return value

    def boolean(self, node: _Node, path: str) -> bool:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":bool"):
            return str(node.value).lower() == "true"
        raise self.err(node, path, f"expected true or false, got {_kind(node)}")

    def duration(self, node: _Node, path: str) -> float:
        text = self.string(node, path)
        try:
            return parse_duration_ms(text) / 1000.0
        except ValueError as err:
            raise self.err(node, path, str(err)) from err

    def quantity(self, node: _Node, path: str) -> float:
        text = self.string(node, path)
        try:
            return parse_quantity(text)
        except ValueError as err:
            raise self.err(node, path, str(err)) from err

    def labels(self, node: _Node, path: str) -> dict[str, str]:
        if is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise self.err(node, path, f"expected a mapping of labels, got {_kind(node)}")
        return {str(k.value): self.string(v, f"{path}.{k.value}") for k, v in node.value}

    def resources(self, node: _Node, path: str, *, pods: bool) -> Resources:
        allowed = {"cpu", "memory", "pods"} if pods else {"cpu", "memory"}
        fields = self.mapping(node, path, "resource list", allowed)
        cpu = self.quantity(fields["cpu"], f"{path}.cpu") if "cpu" in fields else None
        mem = self.quantity(fields["memory"], f"{path}.memory") if "memory" in fields else None
        count = self.integer(fields["pods"], f"{path}.pods") if "pods" in fields else None
        return Resources(cpu=cpu, memory=mem, pods=count)

    # ---- the document --------------------------------------------------------------------
    def cluster(self, node: _Node, path: str) -> ClusterSpec:
        allowed = {"seed", "tick", "warm_start", "nodes", "deployments", "resource_quotas"}
        f = self.mapping(node, path, "cluster", allowed, ("nodes",))
        seed = self.integer(f["seed"], f"{path}.seed") if "seed" in f else 0
        tick = self.duration(f["tick"], f"{path}.tick") if "tick" in f else DEFAULT_TICK_S
        if tick <= 0:
            raise self.err(f["tick"], f"{path}.tick", "tick must be greater than 0s")
        warm = self.boolean(f["warm_start"], f"{path}.warm_start") if "warm_start" in f else True
        nodes: list[NodeSpec] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(self.sequence(f["nodes"], f"{path}.nodes")):
            for spec in self.nodes(item, f"{path}.nodes[{i}]"):
                if spec.name in seen:
                    raise self.err(item, f"{path}.nodes[{i}]", f"duplicate node {spec.name!r}")
                seen[spec.name] = i
                nodes.append(spec)
        if not nodes:
            raise self.err(f["nodes"], f"{path}.nodes", "a cluster needs at least one node")
        deployments: list[DeploymentSpec] = []
        names: set[tuple[str, str]] = set()
        consumed: dict[tuple[str, str], DeploymentSpec] = {}
        items = self.sequence(f["deployments"], f"{path}.deployments") if "deployments" in f else []
        for i, item in enumerate(items):
            dep = self.deployment(item, f"{path}.deployments[{i}]")
            if (dep.namespace, dep.name) in names:
                raise self.err(
                    item,
                    f"{path}.deployments[{i}]",
                    f"duplicate deployment {dep.namespace}/{dep.name}",
                )
            names.add((dep.namespace, dep.name))
            if dep.queue is not None:
                key = (dep.queue.vhost, dep.queue.name)
                other = consumed.setdefault(key, dep)
                if other is not dep:
                    raise self.err(
                        item,
                        f"{path}.deployments[{i}].queue.name",
                        f"queue {key[1]!r} in vhost {key[0]!r} is already consumed by "
                        f"deployment {other.namespace}/{other.name}",
                    )
            deployments.append(dep)
        quotas = (
            parse_resource_quotas(self, f["resource_quotas"], path)
            if "resource_quotas" in f
            else ()
        )
        return ClusterSpec(tuple(nodes), tuple(deployments), quotas, seed, tick, warm, self.source)

    def nodes(self, node: _Node, path: str) -> list[NodeSpec]:
        allowed = {"name", "count", "name_prefix", "capacity", "allocatable", "overhead", "labels"}
        f = self.mapping(node, path, "node", allowed, ("capacity",))
        if ("name" in f) == ("count" in f):
            raise self.err(node, f"{path}.name", "set exactly one of 'name' and 'count'")
        if "name_prefix" in f and "count" not in f:
            raise self.err(f["name_prefix"], f"{path}.name_prefix", "name_prefix needs count")
        cap = self.resources(f["capacity"], f"{path}.capacity", pods=True)
        if cap.cpu is None or cap.memory is None:
            raise self.err(f["capacity"], f"{path}.capacity", "capacity needs cpu and memory")
        pods = cap.pods if cap.pods is not None else DEFAULT_PODS_PER_NODE
        cap = Resources(cap.cpu, cap.memory, pods)
        alloc = cap
        if "allocatable" in f:
            given = self.resources(f["allocatable"], f"{path}.allocatable", pods=True)
            alloc = Resources(
                given.cpu if given.cpu is not None else cap.cpu,
                given.memory if given.memory is not None else cap.memory,
                given.pods if given.pods is not None else cap.pods,
            )
            for res in ("cpu", "memory", "pods"):
                if getattr(alloc, res) > getattr(cap, res):
                    raise self.err(
                        f["allocatable"],
                        f"{path}.allocatable.{res}",
                        f"allocatable {res} must be less than or equal to capacity {res}",
                    )
        over_cpu, over_mem = DEFAULT_OVERHEAD_CPU, DEFAULT_OVERHEAD_MEMORY
        if "overhead" in f:
            over = self.resources(f["overhead"], f"{path}.overhead", pods=False)
            over_cpu = over.cpu if over.cpu is not None else over_cpu
            over_mem = over.memory if over.memory is not None else over_mem
        labels = self.labels(f["labels"], f"{path}.labels") if "labels" in f else {}
        if "name" in f:
            names = [self.name(f["name"], f"{path}.name", _DNS_SUBDOMAIN)]
        else:
            count = self.integer(f["count"], f"{path}.count", minimum=1)
            prefix = (
                self.string(f["name_prefix"], f"{path}.name_prefix")
                if "name_prefix" in f
                else "node-"
            )
            names = [f"{prefix}{i}" for i in range(1, count + 1)]
            for n in names:
                if not _DNS_SUBDOMAIN.match(n):
                    raise self.err(f["name_prefix"], f"{path}.name_prefix", f"invalid name {n!r}")
        return [NodeSpec(n, cap, alloc, dict(labels), over_cpu, over_mem) for n in names]

    def deployment(self, node: _Node, path: str) -> DeploymentSpec:
        allowed = {"apiVersion", "kind", "metadata", "spec", "load", "startup_delay", "queue"}
        f = self.mapping(node, path, "deployment", allowed, ("metadata", "spec"))
        if "apiVersion" in f and self.string(f["apiVersion"], f"{path}.apiVersion") != "apps/v1":
            raise self.err(f["apiVersion"], f"{path}.apiVersion", "expected 'apps/v1'")
        if "kind" in f and self.string(f["kind"], f"{path}.kind") != "Deployment":
            raise self.err(f["kind"], f"{path}.kind", "expected 'Deployment'")
        meta = self.mapping(
            f["metadata"],
            f"{path}.metadata",
            "metadata",
            {"name", "namespace", "labels", "annotations"},
            ("name",),
        )
        name = self.name(meta["name"], f"{path}.metadata.name")
        ns = (
            self.name(meta["namespace"], f"{path}.metadata.namespace")
            if "namespace" in meta
            else "default"
        )
        labels = self.labels(meta["labels"], f"{path}.metadata.labels") if "labels" in meta else {}
        self.annotations(meta, f"{path}.metadata")
        spec = self.mapping(
            f["spec"],
            f"{path}.spec",
            "deployment spec",
            {"replicas", "selector", "template", "strategy", "minReadySeconds"},
            ("template",),
        )
        replicas = (
            self.integer(spec["replicas"], f"{path}.spec.replicas") if "replicas" in spec else 1
        )
        tpath = f"{path}.spec.template"
        tmpl = self.mapping(
            spec["template"], tpath, "pod template", {"metadata", "spec"}, ("spec",)
        )
        pod_labels = dict(labels)
        if "metadata" in tmpl:
            tmeta = self.mapping(
                tmpl["metadata"], f"{tpath}.metadata", "metadata", {"labels", "annotations"}
            )
            if "labels" in tmeta:
                pod_labels = self.labels(tmeta["labels"], f"{tpath}.metadata.labels")
            self.annotations(tmeta, f"{tpath}.metadata")
        selector = parse_selector(self, spec, f"{path}.spec", pod_labels)
        for key in ("strategy", "minReadySeconds"):
            if key in spec:
                raise self.err(
                    spec[key],
                    f"{path}.spec.{key}",
                    f"field {key!r} is not supported: pods are replaced one by one only by "
                    "scaling (the simulated cluster has no rollouts)",
                )
        pspec = self.mapping(
            tmpl["spec"],
            f"{tpath}.spec",
            "pod spec",
            {"containers", "restartPolicy", "terminationGracePeriodSeconds"},
            ("containers",),
        )
        grace = DEFAULT_TERMINATION_GRACE_S
        if "terminationGracePeriodSeconds" in pspec:
            grace = float(
                self.integer(
                    pspec["terminationGracePeriodSeconds"],
                    f"{tpath}.spec.terminationGracePeriodSeconds",
                )
            )
        if "restartPolicy" in pspec:
            policy = self.string(pspec["restartPolicy"], f"{tpath}.spec.restartPolicy")
            if policy != "Always":
                raise self.err(
                    pspec["restartPolicy"],
                    f"{tpath}.spec.restartPolicy",
                    f"a Deployment's restartPolicy must be 'Always', got {policy!r}",
                )
        cnodes = self.sequence(pspec["containers"], f"{tpath}.spec.containers")
        if not cnodes:
            raise self.err(
                pspec["containers"],
                f"{tpath}.spec.containers",
                "at least one container is required",
            )
        containers: list[ContainerSpec] = []
        for i, cnode in enumerate(cnodes):
            c = self.container(cnode, f"{tpath}.spec.containers[{i}]")
            if any(c.name == other.name for other in containers):
                raise self.err(
                    cnode,
                    f"{tpath}.spec.containers[{i}].name",
                    f"duplicate container name {c.name!r}",
                )
            containers.append(c)
        load = self.load(f["load"], f"{path}.load") if "load" in f else LoadSpec()
        startup = (
            self.duration(f["startup_delay"], f"{path}.startup_delay")
            if "startup_delay" in f
            else DEFAULT_STARTUP_DELAY_S
        )
        queue = parse_queue(self, f["queue"], f"{path}.queue") if "queue" in f else None
        return DeploymentSpec(
            ns,
            name,
            replicas,
            tuple(containers),
            load,
            labels,
            pod_labels,
            startup,
            selector,
            grace,
            queue,
        )

    def annotations(self, meta: dict[str, _Node], path: str) -> None:
        """Annotations are checked (a mapping of strings) and have no effect on the model."""
        if "annotations" in meta:
            self.labels(meta["annotations"], f"{path}.annotations")

    def container(self, node: _Node, path: str) -> ContainerSpec:
        allowed = {
            "name",
            "image",
            "imagePullPolicy",
            "resources",
            "readinessProbe",
            "livenessProbe",
            "ports",
            "env",
            "command",
            "args",
        }
        f = self.mapping(node, path, "container", allowed, ("name", "image"))
        name = self.name(f["name"], f"{path}.name")
        image = self.string(f["image"], f"{path}.image")
        requests, limits = Resources(), Resources()
        if "resources" in f:
            rf = self.mapping(
                f["resources"], f"{path}.resources", "resource requirements", {"requests", "limits"}
            )
            if "requests" in rf:
                requests = self.resources(rf["requests"], f"{path}.resources.requests", pods=False)
            if "limits" in rf:
                limits = self.resources(rf["limits"], f"{path}.resources.limits", pods=False)
            # Kubernetes defaults a missing request to its limit.
            requests = Resources(
                requests.cpu if requests.cpu is not None else limits.cpu,
                requests.memory if requests.memory is not None else limits.memory,
            )
            for res in ("cpu", "memory"):
                req, lim = getattr(requests, res), getattr(limits, res)
                if req is not None and lim is not None and req > lim:
                    where = rf["requests"] if "requests" in rf else f["resources"]
                    raise self.err(
                        where,
                        f"{path}.resources.requests.{res}",
                        f"requests.{res} {_fmt(req)} must be less than or equal to "
                        f"limits.{res} {_fmt(lim)}",
                    )
        delay = 0.0
        if "readinessProbe" in f:
            probe_fields = {
                "initialDelaySeconds",
                "periodSeconds",
                "timeoutSeconds",
                "successThreshold",
                "failureThreshold",
                "httpGet",
                "tcpSocket",
                "exec",
                "grpc",
            }
            probe = self.mapping(
                f["readinessProbe"], f"{path}.readinessProbe", "probe", probe_fields
            )
            if "initialDelaySeconds" in probe:
                delay = float(
                    self.integer(
                        probe["initialDelaySeconds"], f"{path}.readinessProbe.initialDelaySeconds"
                    )
                )
        return ContainerSpec(name, image, requests, limits, delay)

    def load(self, node: _Node, path: str) -> LoadSpec:
        every_shape = {name for shape in _SHAPE_FIELDS.values() for name in shape}
        f = self.mapping(node, path, "load", {"type"} | every_shape | set(_COST_FIELDS), ("type",))
        type_text = self.string(f["type"], f"{path}.type")
        try:
            kind = LoadType(type_text)
        except ValueError:
            known = ", ".join(t.value for t in LoadType)
            raise self.err(
                f["type"],
                f"{path}.type",
                f"unknown load type {type_text!r}; expected one of {known}",
            ) from None
        shape = _SHAPE_FIELDS[kind]
        values: dict[str, object] = {"type": kind}
        for key, value in f.items():
            if key == "type":
                continue
            if key in _COST_FIELDS:
                unit = _COST_FIELDS[key]
                if unit == "float":
                    values[key] = self.number(value, f"{path}.{key}")
                else:
                    values[key] = self.quantity(value, f"{path}.{key}")
                continue
            if key not in shape:
                raise self.err(
                    value, f"{path}.{key}", f"field {key!r} is not used by load type {kind.value!r}"
                )
            if key in _DURATION_FIELDS:
                values[f"{key}_s"] = self.duration(value, f"{path}.{key}")
            elif key == "loop":
                values["loop"] = self.boolean(value, f"{path}.loop")
            elif key == "file":
                times, rps = parse_load_csv(self, value, f"{path}.file")
                values["csv_times_s"], values["csv_rps"] = times, rps
            else:
                values[_RPS_ATTR[key]] = self.number(value, f"{path}.{key}")
        for key, required in shape.items():
            if required and key not in f:
                raise self.err(
                    node,
                    f"{path}.{key}",
                    f"missing required field {key!r} for load type {kind.value!r}",
                )
        for key in ("period", "duration", "over", "every"):
            if key in f and values[f"{key}_s"] == 0.0:
                raise self.err(f[key], f"{path}.{key}", f"{key} must be greater than 0s")
        return LoadSpec(**values)  # type: ignore[arg-type]


def is_null(node: _Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")


def _kind(node: _Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "null" if is_null(node) else f"{node.value!r}"


def _fmt(value: float) -> str:
    return f"{value:g}"


def parse_cluster_config(
    text: str, source: str, *, base_dir: Path | None = None
) -> ClusterSpec | None:
    """The ``cluster:`` section of a kubeprom.yml document, or None if it has none.

    Other top-level keys are ignored here (``load.parse_main_config`` checks them). CSV load
    files are read relative to ``base_dir``. Raises :class:`ConfigError` with the position.
    """
    root = compose(text, source)
    if root is None or not isinstance(root, yaml.MappingNode):
        return None
    for key, value in root.value:
        if key.value == "cluster":
            if is_null(value):
                return None
            return ClusterParser(source, base_dir).cluster(value, "cluster")
    return None


def load_cluster_config(path: str | None = None) -> ClusterSpec | None:
    """The cluster of ``path``, or of the embedded default kubeprom.yml when it is None."""
    if path is None:
        text = resources.files("kubeprom.config").joinpath("kubeprom.yml").read_text()
        return parse_cluster_config(text, "<embedded kubeprom.yml>", base_dir=None)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config: {err.strerror}", file=path) from err
    return parse_cluster_config(text, path, base_dir=Path(path).resolve().parent)
