"""The ``cluster:`` section's Deployment selectors and queues, ResourceQuotas and CSV load
files, read with the positions of :class:`~kubeprom.config.cluster_parse.ClusterParser`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from kubeprom.config.cluster import QUOTA_RESOURCES, QueueSpec, ResourceQuotaSpec
from kubeprom.config.hpa_spec import LabelSelector, LabelSelectorRequirement
from kubeprom.errors import ConfigError
from kubeprom.model.quantity import Quantity
from kubeprom.model.quantity import parse_quantity as exact_quantity
from kubeprom.model.selectors import Op, Requirement, format_selector, matches

if TYPE_CHECKING:
    from kubeprom.config.cluster_parse import ClusterParser

_Node = yaml.Node
#: RabbitMQ's limits on queue names: at most 255 bytes of UTF-8, and the ``amq.`` prefix is
#: reserved for the broker (declaring such a queue is refused with ACCESS_REFUSED).
QUEUE_NAME_MAX_BYTES = 255
RESERVED_QUEUE_PREFIX = "amq."


def labels_selector(labels: dict[str, str]) -> tuple[Requirement, ...]:
    """The selector that matches exactly these labels (``matchLabels``)."""
    return tuple(Requirement(k, Op.EQUALS, (v,)) for k, v in sorted(labels.items()))


def parse_selector(
    p: ClusterParser, spec: dict[str, _Node], path: str, pod_labels: dict[str, str]
) -> tuple[Requirement, ...]:
    """``spec.selector`` as requirements; it must select the template's labels, as the
    API server requires of a Deployment. Without one, the template's labels."""
    if "selector" not in spec:
        return labels_selector(pod_labels)
    node = spec["selector"]
    where = f"{path}.selector"
    f = p.mapping(node, where, "label selector", {"matchLabels", "matchExpressions"})
    match_labels = p.labels(f["matchLabels"], f"{where}.matchLabels") if "matchLabels" in f else {}
    expressions: list[LabelSelectorRequirement] = []
    if "matchExpressions" in f:
        items = p.sequence(f["matchExpressions"], f"{where}.matchExpressions")
        for i, item in enumerate(items):
            epath = f"{where}.matchExpressions[{i}]"
            e = p.mapping(
                item,
                epath,
                "label selector requirement",
                {"key", "operator", "values"},
                ("key", "operator"),
            )
            values = (
                tuple(
                    p.string(v, f"{epath}.values[{j}]")
                    for j, v in enumerate(p.sequence(e["values"], f"{epath}.values"))
                )
                if "values" in e
                else ()
            )
            expressions.append(
                LabelSelectorRequirement(
                    p.string(e["key"], f"{epath}.key"),
                    p.string(e["operator"], f"{epath}.operator"),
                    values,
                )
            )
    selector = LabelSelector(tuple(sorted(match_labels.items())), tuple(expressions))
    try:
        requirements = selector.requirements()
    except ValueError as err:
        raise p.err(node, where, str(err)) from err
    if not requirements:
        raise p.err(node, where, "empty selector is invalid for deployment")
    if not matches(requirements, pod_labels):
        raise p.err(
            node,
            where,
            f"selector {format_selector(requirements)!r} does not match the template's "
            f"labels {format_selector(labels_selector(pod_labels))!r}",
        )
    return requirements


def parse_resource_quotas(
    p: ClusterParser, node: _Node, path: str
) -> tuple[ResourceQuotaSpec, ...]:
    out: list[ResourceQuotaSpec] = []
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(p.sequence(node, f"{path}.resource_quotas")):
        quota = _resource_quota(p, item, f"{path}.resource_quotas[{i}]")
        if (quota.namespace, quota.name) in seen:
            raise p.err(
                item,
                f"{path}.resource_quotas[{i}]",
                f"duplicate resource quota {quota.namespace}/{quota.name}",
            )
        seen.add((quota.namespace, quota.name))
        out.append(quota)
    return tuple(out)


def _resource_quota(p: ClusterParser, node: _Node, path: str) -> ResourceQuotaSpec:
    f = p.mapping(
        node,
        path,
        "ResourceQuota",
        {"apiVersion", "kind", "metadata", "spec"},
        ("metadata", "spec"),
    )
    if "apiVersion" in f and p.string(f["apiVersion"], f"{path}.apiVersion") != "v1":
        raise p.err(f["apiVersion"], f"{path}.apiVersion", "expected 'v1'")
    if "kind" in f and p.string(f["kind"], f"{path}.kind") != "ResourceQuota":
        raise p.err(f["kind"], f"{path}.kind", "expected 'ResourceQuota'")
    meta = p.mapping(
        f["metadata"],
        f"{path}.metadata",
        "metadata",
        {"name", "namespace", "labels", "annotations"},
        ("name",),
    )
    name = p.subdomain(meta["name"], f"{path}.metadata.name")
    ns = (
        p.name(meta["namespace"], f"{path}.metadata.namespace")
        if "namespace" in meta
        else "default"
    )
    if "labels" in meta:
        p.labels(meta["labels"], f"{path}.metadata.labels")
    p.annotations(meta, f"{path}.metadata")
    spec = p.mapping(f["spec"], f"{path}.spec", "ResourceQuota spec", {"hard"}, ("hard",))
    hard_node = spec["hard"]
    if not isinstance(hard_node, yaml.MappingNode):
        raise p.err(hard_node, f"{path}.spec.hard", "expected a mapping of resource quantities")
    hard: dict[str, Quantity] = {}
    for key, value in hard_node.value:
        resource = str(key.value)
        where = f"{path}.spec.hard.{resource}"
        if resource not in QUOTA_RESOURCES:
            raise p.err(
                key,
                where,
                f"resource {resource!r} cannot be limited here; expected one of "
                + ", ".join(QUOTA_RESOURCES),
            )
        if resource in hard:
            raise p.err(key, where, f"field {resource!r} already set")
        text = p.string(value, where)
        try:
            quantity = exact_quantity(text)
        except ValueError as err:
            raise p.err(value, where, f"cannot parse quantity {text!r}: {err}") from None
        if quantity.sign() < 0:
            raise p.err(value, where, f"must be greater than or equal to 0, got {text!r}")
        if resource == "pods" and quantity.value.denominator != 1:
            raise p.err(value, where, f"must be an integer, got {text!r}")
        hard[resource] = quantity
    return ResourceQuotaSpec(ns, name, tuple(sorted(hard.items())))


def parse_load_csv(
    p: ClusterParser, node: _Node, path: str
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    name = p.string(node, path)
    file = Path(name)
    if not file.is_absolute() and p.base_dir is not None:
        file = p.base_dir / file
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise p.err(node, path, f"cannot read load file {str(file)!r}: {err.strerror}") from err
    times: list[float] = []
    rps: list[float] = []
    for lineno, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        cells = [c.strip() for c in text.split(",")]
        if lineno == 1 and not _is_number(cells[0]):
            continue  # a header row such as "time_s,rps"
        if len(cells) != 2:
            raise ConfigError(
                f"expected 2 columns 'time_s,rps', got {len(cells)}",
                file=str(file),
                line=lineno,
            )
        try:
            t, r = float(cells[0]), float(cells[1])
        except ValueError:
            raise ConfigError(
                f"cannot parse row {text!r}: expected two numbers", file=str(file), line=lineno
            ) from None
        if not (math.isfinite(t) and math.isfinite(r)) or t < 0 or r < 0:
            raise ConfigError(
                f"time and rps must be finite and >= 0, got {text!r}",
                file=str(file),
                line=lineno,
            )
        if times and t <= times[-1]:
            raise ConfigError(
                f"time {cells[0]!r} is not after the previous row's",
                file=str(file),
                line=lineno,
            )
        times.append(t)
        rps.append(r)
    if not times:
        raise p.err(node, path, f"load file {str(file)!r} has no rows")
    return tuple(times), tuple(rps)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_queue(p: ClusterParser, node: _Node, path: str) -> QueueSpec:
    """A Deployment's ``queue``: the RabbitMQ queue its pods consume."""
    f = p.mapping(
        node,
        path,
        "queue",
        {"name", "vhost", "consume_rate", "initial_messages"},
        ("name", "consume_rate"),
    )
    name = p.string(f["name"], f"{path}.name")
    if not name or len(name.encode()) > QUEUE_NAME_MAX_BYTES:
        raise p.err(
            f["name"],
            f"{path}.name",
            f"invalid queue name {name!r}: expected 1 to {QUEUE_NAME_MAX_BYTES} bytes",
        )
    if name.startswith(RESERVED_QUEUE_PREFIX):
        raise p.err(
            f["name"],
            f"{path}.name",
            f"invalid queue name {name!r}: the prefix {RESERVED_QUEUE_PREFIX!r} is reserved "
            "for the broker",
        )
    vhost = p.string(f["vhost"], f"{path}.vhost") if "vhost" in f else "/"
    if not vhost:
        raise p.err(f["vhost"], f"{path}.vhost", "vhost must not be empty")
    rate = p.number(f["consume_rate"], f"{path}.consume_rate")
    if rate <= 0:
        raise p.err(
            f["consume_rate"],
            f"{path}.consume_rate",
            f"consume_rate must be greater than 0 messages per second, got {rate:g}",
        )
    initial = (
        p.number(f["initial_messages"], f"{path}.initial_messages")
        if "initial_messages" in f
        else 0.0
    )
    return QueueSpec(name, rate, vhost, initial)
