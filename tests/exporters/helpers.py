"""Shared helpers for the exporter tests: small cluster specs and exposition parsing."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from kubeprom.config.cluster import ClusterSpec
from kubeprom.config.cluster_parse import parse_cluster_config
from kubeprom.scraper.exposition import MISSING, parse_series, parse_text

NODE = '{name: node-1, capacity: {cpu: "4", memory: 16Gi, pods: 110}}'


def spec(text: str) -> ClusterSpec:
    """A cluster spec from a ``cluster:`` document (dedented)."""
    parsed = parse_cluster_config(textwrap.dedent(text), "test.yml")
    if parsed is None:
        raise AssertionError("the document has no cluster: section")
    return parsed


def deployment(
    name: str = "web",
    *,
    replicas: int = 2,
    resources: str = "{requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 500m, memory: 256Mi}}",
    load: str = "{type: constant, rps: 10, cpu_per_request: 10m, baseline_cpu: 20m}",
    readiness: int = 0,
    namespace: str = "default",
    extra: str = "",
) -> str:
    """One deployment item, as YAML flow text for a ``deployments:`` list."""
    probe = f", readinessProbe: {{initialDelaySeconds: {readiness}}}" if readiness else ""
    return (
        f"- {{metadata: {{name: {name}, namespace: {namespace}}}, "
        f"spec: {{replicas: {replicas}, template: {{spec: {{containers: "
        f"[{{name: app, image: 'nginx:1.25', resources: {resources}{probe}}}]}}}}}}, "
        f"load: {load}{extra}}}"
    )


def cluster(
    *deployments: str, nodes: str = NODE, header: str = "seed: 1", quotas: str = ""
) -> ClusterSpec:
    """A cluster spec from deployment items (see :func:`deployment`) and, when given, a
    ``resource_quotas`` list in flow style."""
    deps = "\n".join(f"    {d}" for d in deployments) or "    []"
    extra = f"  resource_quotas: {quotas}\n" if quotas else ""
    return spec(f"cluster:\n  {header}\n  nodes: [{nodes}]\n  deployments:\n{deps}\n{extra}")


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float
    timestamp_ms: int | None


def parse(body: bytes, *, openmetrics: bool = False) -> list[Sample]:
    """Every sample of a body, parsed back with kubeprom's own exposition parser."""
    parsed = parse_text(body, openmetrics=openmetrics)
    out = []
    for series, value, ts in zip(parsed.series, parsed.values, parsed.timestamps_ms, strict=True):
        labels = parse_series(series).to_dict()
        name = labels.pop("__name__")
        out.append(Sample(name, labels, float(value), None if ts == MISSING else int(ts)))
    return out


def find(samples: list[Sample], name: str, **labels: str) -> list[Sample]:
    return [
        s
        for s in samples
        if s.name == name and all(s.labels.get(k, "") == v for k, v in labels.items())
    ]


def one(samples: list[Sample], name: str, **labels: str) -> Sample:
    hits = find(samples, name, **labels)
    if len(hits) != 1:
        raise AssertionError(f"want one {name}{labels}, got {len(hits)}: {hits[:3]}")
    return hits[0]
