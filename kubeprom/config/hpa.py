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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import yaml

from kubeprom.config.adapter import AdapterConfig, load_adapter_file, load_adapter_node
from kubeprom.config.hpa_parse import parse_manifest_node, parse_manifests
from kubeprom.config.hpa_spec import FeatureGates, LoadedHPA
from kubeprom.config.hpa_validate import check
from kubeprom.config.keda import (
    LoadedScaledObject,
    load_scaled_object_node,
    load_scaled_objects_file,
)
from kubeprom.config.load import MainConfig
from kubeprom.config.nodes import error, is_null
from kubeprom.errors import ConfigError

SECTION = "horizontal_pod_autoscalers"
ADAPTER_SECTION = "prometheus_adapter"
SCALED_OBJECTS_SECTION = "scaled_objects"
_T = TypeVar("_T")
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
        elif isinstance(item, yaml.ScalarNode) and _is_file_name(item):
            loaded = _files(
                item, source, path, base_dir, "HPA manifest", lambda f: load_hpa_file(f, gates)
            )
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
    node: yaml.ScalarNode,
    source: str,
    path: str,
    base_dir: str | None,
    what: str,
    load: Callable[[str], list[_T]],
) -> list[_T]:
    """Everything ``load`` reads from the files a path or glob names (a glob may match
    nothing); a file that cannot be read is an error at ``node``."""
    pattern = str(node.value)
    full = (
        pattern
        if base_dir is None or Path(pattern).is_absolute()
        else str(Path(base_dir) / pattern)
    )
    names = sorted(glob.glob(full)) if _GLOB_CHARS & set(pattern) else [full]
    out: list[_T] = []
    for name in names:
        try:
            out += load(name)
        except OSError as err:
            raise error(
                node, source, path, f"cannot read {what} {name!r}: {err.strerror or err}"
            ) from err
    return out


def _is_file_name(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":str") and bool(node.value)


def load_adapter_config(
    node: yaml.Node | None, source: str, base_dir: str | None
) -> AdapterConfig | None:
    """The ``prometheus_adapter:`` section of kubeprom.yml: prometheus-adapter's rules config
    (``rules``, ``externalRules``) as a file name (relative to ``base_dir``) or written inline
    (errors then name kubeprom.yml's line and ``prometheus_adapter.rules[0]...``). None: no
    adapter. Raises ConfigError; :func:`kubeprom.hpa.adapter_naming.compile_adapter` checks
    the rules further."""
    if node is None or is_null(node):
        return None
    if isinstance(node, yaml.MappingNode):
        return load_adapter_node(node, source, ADAPTER_SECTION)
    if not isinstance(node, yaml.ScalarNode) or not _is_file_name(node):
        raise error(
            node, source, ADAPTER_SECTION, "expected a config file name or the config itself"
        )
    configs = _files(
        node,
        source,
        ADAPTER_SECTION,
        base_dir,
        "prometheus-adapter config",
        lambda f: [load_adapter_file(f)],
    )
    if len(configs) != 1:
        raise error(
            node,
            source,
            ADAPTER_SECTION,
            f"expected one config file, {node.value!r} names {len(configs)}",
        )
    return configs[0]


def load_scaled_objects_config(
    node: yaml.Node | None, source: str, base_dir: str | None
) -> list[LoadedScaledObject]:
    """The ``scaled_objects:`` section of kubeprom.yml: KEDA ScaledObjects, as manifest files
    (paths or globs relative to ``base_dir``) or written inline, as for
    ``horizontal_pod_autoscalers``. Two of one namespace and name are an error. Raises
    ConfigError."""
    if node is None or is_null(node):
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise error(
            node, source, SCALED_OBJECTS_SECTION, "expected a list of manifest files or objects"
        )
    out: list[LoadedScaledObject] = []
    where: dict[str, str] = {}
    for i, item in enumerate(node.value):
        path = f"{SCALED_OBJECTS_SECTION}[{i}]"
        if isinstance(item, yaml.MappingNode):
            loaded = [_inline_scaled_object(item, source, path)]
        elif isinstance(item, yaml.ScalarNode) and _is_file_name(item):
            loaded = _files(
                item, source, path, base_dir, "ScaledObject manifest", load_scaled_objects_file
            )
        else:
            raise error(item, source, path, "expected a manifest file name or a ScaledObject")
        for so in loaded:
            key = so.scaled_object.key
            pos = so.positions.get("metadata.name")
            here = f"{so.source}:{pos.line}" if pos is not None else so.source
            if key in where:
                raise error(
                    item,
                    source,
                    path,
                    f"duplicate ScaledObject {key!r} ({here}; first at {where[key]})",
                )
            where[key] = here
            out.append(so)
    return out


def _inline_scaled_object(node: yaml.MappingNode, source: str, path: str) -> LoadedScaledObject:
    try:
        loaded = load_scaled_object_node(node, source)
    except ConfigError as err:
        field = f"{path}.{err.field}" if err.field else path
        raise ConfigError(
            err.message, file=err.file, line=err.line, col=err.col, field=field
        ) from err
    return LoadedScaledObject(loaded.scaled_object, loaded.source, loaded.positions, path)


@dataclass(frozen=True, slots=True)
class AutoscalingConfig:
    """What ``kubeprom run`` autoscales with: the HPAs, prometheus-adapter's rules (None: no
    adapter installed) and KEDA's ScaledObjects (none: no KEDA)."""

    hpas: tuple[LoadedHPA, ...] = ()
    adapter: AdapterConfig | None = None
    scaled_objects: tuple[LoadedScaledObject, ...] = ()


def load_autoscaling(config: MainConfig, gates: FeatureGates | None = None) -> AutoscalingConfig:
    """The three autoscaling sections of a configuration, each checked; an HPA of the name
    KEDA gives a ScaledObject's HPA (``keda-hpa-NAME``) is an error, as KEDA refuses to adopt
    an HPA it did not create. Raises ConfigError."""
    hpas = load_hpa_config(config.hpa_node, config.source, config.base_dir, gates)
    adapter = load_adapter_config(config.adapter_node, config.source, config.base_dir)
    scaled = load_scaled_objects_config(config.scaled_objects_node, config.source, config.base_dir)
    names = {h.hpa.key: h for h in hpas}
    for so in scaled:
        s = so.scaled_object
        clash = names.get(f"{s.namespace}/{s.generated_hpa_name}")
        if clash is not None:
            pos = clash.position_of("metadata.name")
            at = f"{clash.source}:{pos.line}" if pos is not None else clash.source
            raise so.error(
                "metadata.name",
                f"the HPA KEDA creates, {s.namespace}/{s.generated_hpa_name}, is already "
                f"configured ({at})",
            )
    return AutoscalingConfig(tuple(hpas), adapter, tuple(scaled))
