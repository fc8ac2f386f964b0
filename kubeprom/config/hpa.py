"""HorizontalPodAutoscaler manifests: read, defaulted and validated as the API server would.

A manifest file holds one or more YAML documents, each a ``HorizontalPodAutoscaler``::

    apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    metadata: {name: web, namespace: default}
    spec:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
      minReplicas: 2                     # default 1
      maxReplicas: 10
      metrics:                           # default: cpu Utilization 80
        - type: Resource
          resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
        - type: Pods
          pods: {metric: {name: qps}, target: {type: AverageValue, averageValue: "15"}}
      behavior:                          # present (even {}) = the behavior algorithm
        scaleDown:
          stabilizationWindowSeconds: 300
          selectPolicy: Max              # Max | Min | Disabled
          policies: [{type: Percent, value: 100, periodSeconds: 15}]
          tolerance: "0.05"              # HPAConfigurableTolerance

``autoscaling/v1`` objects (``targetCPUUtilizationPercentage``) are converted as the API
server converts them. Errors render ``file:line:col: field.path: message``, e.g.
``hpa.yml:9:40: spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must
be greater than 0``. The types are in :mod:`~kubeprom.config.hpa_spec`, the reader in
:mod:`~kubeprom.config.hpa_parse`, the checks in :mod:`~kubeprom.config.hpa_validate`.
"""

from __future__ import annotations

import glob
from pathlib import Path

import yaml

from kubeprom.config.hpa_parse import parse_manifest_node, parse_manifests
from kubeprom.config.hpa_spec import FeatureGates, LoadedHPA
from kubeprom.config.hpa_validate import check
from kubeprom.config.nodes import error, is_null
from kubeprom.errors import ConfigError

SECTION = "horizontal_pod_autoscalers"
_GLOB_CHARS = frozenset("*?[")


def load_hpa_text(text: str, source: str, gates: FeatureGates | None = None) -> list[LoadedHPA]:
    """Every HPA of a manifest text, defaulted and validated (``source`` names it in errors).

    Raises :class:`~kubeprom.errors.ConfigError` for YAML, schema or validation errors.
    """
    return [check(item, gates or FeatureGates()) for item in parse_manifests(text, source)]


def load_hpa_file(path: str | Path, gates: FeatureGates | None = None) -> list[LoadedHPA]:
    """As :func:`load_hpa_text` for a file; OSError when it cannot be read."""
    return load_hpa_text(Path(path).read_text(encoding="utf-8"), str(path), gates)


def load_hpa_config(
    node: yaml.Node | None,
    source: str,
    base_dir: str | None,
    gates: FeatureGates | None = None,
) -> list[LoadedHPA]:
    """The ``horizontal_pod_autoscalers:`` section of kubeprom.yml: a list whose items are
    manifest files (a path or glob, relative to ``base_dir``; a glob may match nothing) or
    HPA objects written inline. Every HPA is defaulted and validated; errors in a manifest
    name its file and line, errors inline name kubeprom.yml's line and the item
    (``horizontal_pod_autoscalers[1].spec.maxReplicas: ...``). Two HPAs of one namespace and
    name are an error. Raises ConfigError.
    """
    if node is None or is_null(node):
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise error(node, source, SECTION, "expected a list of manifest files or objects")
    gates = gates or FeatureGates()
    out: list[LoadedHPA] = []
    where: dict[str, str] = {}
    for i, item in enumerate(node.value):
        path = f"{SECTION}[{i}]"
        if isinstance(item, yaml.MappingNode):
            loaded = [_inline(item, source, path, gates)]
        elif isinstance(item, yaml.ScalarNode) and item.tag.endswith(":str") and item.value:
            loaded = _files(item, source, path, base_dir, gates)
        else:
            raise error(item, source, path, "expected a manifest file name or an HPA object")
        for hpa in loaded:
            key = hpa.hpa.key
            pos = hpa.position_of("metadata.name")
            here = f"{hpa.source}:{pos.line}" if pos is not None else hpa.source
            if key in where:
                raise error(
                    item,
                    source,
                    path,
                    f"duplicate HorizontalPodAutoscaler {key!r} ({here}; first at {where[key]})",
                )
            where[key] = here
            out.append(hpa)
    return out


def _inline(node: yaml.MappingNode, source: str, path: str, gates: FeatureGates) -> LoadedHPA:
    try:
        return check(parse_manifest_node(node, source), gates)
    except ConfigError as err:
        field = f"{path}.{err.field}" if err.field else path
        raise ConfigError(
            err.message, file=err.file, line=err.line, col=err.col, field=field
        ) from err


def _files(
    node: yaml.ScalarNode, source: str, path: str, base_dir: str | None, gates: FeatureGates
) -> list[LoadedHPA]:
    pattern = str(node.value)
    full = (
        pattern
        if base_dir is None or Path(pattern).is_absolute()
        else str(Path(base_dir) / pattern)
    )
    names = sorted(glob.glob(full)) if _GLOB_CHARS & set(pattern) else [full]
    out: list[LoadedHPA] = []
    for name in names:
        try:
            out += load_hpa_file(name, gates)
        except OSError as err:
            raise error(
                node, source, path, f"cannot read HPA manifest {name!r}: {err.strerror or err}"
            ) from err
    return out
