"""``-o json|yaml``: NodeMetricsList / PodMetricsList as metrics.k8s.io/v1beta1 serves them.

The objects are what ``kubectl get --raw /apis/metrics.k8s.io/v1beta1/nodes`` (or
``.../namespaces/NS/pods``) returns from metrics-server, fields in its order:
``metadata.creationTimestamp`` is the evaluation time (metrics-server stamps the request
time), ``timestamp`` the newest sample's time, ``window`` the span the CPU rate covers
(``0s`` when it is not known) and usage in canonical quantities (``cpu: 250m``,
``memory: 1234Ki``). Items are sorted by namespace and name.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import yaml

from kubeprom.model.timeutil import NS_PER_MS, format_go_duration, format_rfc3339
from kubeprom.top.model import NodeMetrics, PodMetrics, Usage
from kubeprom.top.quantity import cpu_quantity, memory_quantity

API_VERSION = "metrics.k8s.io/v1beta1"


class OutputFormat(StrEnum):
    TABLE = ""
    JSON = "json"
    YAML = "yaml"


def _usage(u: Usage) -> dict[str, str]:
    return {"cpu": cpu_quantity(u.cpu_nano), "memory": memory_quantity(u.memory_bytes)}


def _window(window_ms: int | None) -> str:
    # metav1.Duration marshals as time.Duration.String()
    return format_go_duration((window_ms or 0) * NS_PER_MS)


def node_metrics_list(metrics: Sequence[NodeMetrics], t_ms: int) -> dict[str, Any]:
    items = [
        {
            "metadata": {"name": m.name, "creationTimestamp": format_rfc3339(t_ms)},
            "timestamp": format_rfc3339(m.timestamp_ms),
            "window": _window(m.window_ms),
            "usage": _usage(m.usage),
        }
        for m in sorted(metrics, key=lambda m: m.name)
    ]
    return {"kind": "NodeMetricsList", "apiVersion": API_VERSION, "metadata": {}, "items": items}


def pod_metrics_list(metrics: Sequence[PodMetrics], t_ms: int) -> dict[str, Any]:
    items = [
        {
            "metadata": {
                "name": m.name,
                "namespace": m.namespace,
                "creationTimestamp": format_rfc3339(t_ms),
            },
            "timestamp": format_rfc3339(m.timestamp_ms),
            "window": _window(m.window_ms),
            "containers": [{"name": c.name, "usage": _usage(c.usage)} for c in m.containers],
        }
        for m in sorted(metrics, key=lambda m: (m.namespace, m.name))
    ]
    return {"kind": "PodMetricsList", "apiVersion": API_VERSION, "metadata": {}, "items": items}


def dump(obj: dict[str, Any], fmt: OutputFormat) -> str:
    """The text of ``obj`` in ``fmt`` (JSON indented as kubectl does, 4 spaces), with a
    final newline."""
    if fmt is OutputFormat.YAML:
        text: str = yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)
        return text
    return json.dumps(obj, indent=4) + "\n"
