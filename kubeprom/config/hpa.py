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

from pathlib import Path

from kubeprom.config.hpa_parse import parse_manifests
from kubeprom.config.hpa_spec import FeatureGates, LoadedHPA
from kubeprom.config.hpa_validate import check


def load_hpa_text(text: str, source: str, gates: FeatureGates | None = None) -> list[LoadedHPA]:
    """Every HPA of a manifest text, defaulted and validated (``source`` names it in errors).

    Raises :class:`~kubeprom.errors.ConfigError` for YAML, schema or validation errors.
    """
    return [check(item, gates or FeatureGates()) for item in parse_manifests(text, source)]


def load_hpa_file(path: str | Path, gates: FeatureGates | None = None) -> list[LoadedHPA]:
    """As :func:`load_hpa_text` for a file; OSError when it cannot be read."""
    return load_hpa_text(Path(path).read_text(encoding="utf-8"), str(path), gates)
