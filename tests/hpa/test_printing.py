"""kubectl's words for HPAs: the TARGETS column, describe's metric lines, ages."""

from __future__ import annotations

from typing import Any

import pytest

from kubeprom.cli.kubectl_print import human_duration
from kubeprom.hpa.printing import describe_metrics, targets


def resource(name: str, target: dict[str, Any], kind: str = "Resource") -> dict[str, Any]:
    field = "resource" if kind == "Resource" else "containerResource"
    body: dict[str, Any] = {"name": name, "target": target}
    if kind == "ContainerResource":
        body["container"] = "app"
    return {"type": kind, field: body}


UTIL50 = {"type": "Utilization", "averageUtilization": 50}
AVG = {"type": "AverageValue", "averageValue": "500m"}
PODS = {
    "type": "Pods",
    "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}},
}
EXT_VALUE = {
    "type": "External",
    "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "30"}},
}
EXT_AVG = {
    "type": "External",
    "external": {
        "metric": {"name": "queue"},
        "target": {"type": "AverageValue", "averageValue": "5"},
    },
}
OBJ = {
    "type": "Object",
    "object": {
        "describedObject": {
            "kind": "Ingress",
            "name": "main",
            "apiVersion": "networking.k8s.io/v1",
        },
        "metric": {"name": "rps"},
        "target": {"type": "Value", "value": "2k"},
    },
}


def hpa(
    specs: list[dict[str, Any]], statuses: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"spec": {"metrics": specs}, "status": {"currentMetrics": statuses}}


@pytest.mark.parametrize(
    ("obj", "want"),
    [
        (hpa([]), "<none>"),
        (hpa([resource("cpu", UTIL50)]), "cpu: <unknown>/50%"),
        (
            hpa(
                [resource("cpu", UTIL50)],
                [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "current": {"averageUtilization": 45, "averageValue": "45m"},
                        },
                    }
                ],
            ),
            "cpu: 45%/50%",
        ),
        (hpa([resource("memory", AVG)]), "memory: <unknown>/500m"),
        (hpa([resource("cpu", {"type": "Utilization"})]), "cpu: <unknown>/<auto>"),
        (hpa([resource("cpu", UTIL50, "ContainerResource")]), "cpu: <unknown>/50%"),
        (
            hpa(
                [PODS],
                [
                    {
                        "type": "Pods",
                        "pods": {"metric": {"name": "qps"}, "current": {"averageValue": "12"}},
                    }
                ],
            ),
            "12/10",
        ),
        (hpa([EXT_VALUE]), "<unknown>/30"),
        (hpa([EXT_AVG]), "<unknown>/5 (avg)"),
        (
            hpa(
                [OBJ],
                [
                    {
                        "type": "Object",
                        "object": {"metric": {"name": "rps"}, "current": {"value": "1500"}},
                    }
                ],
            ),
            "1500/2k",
        ),
        (hpa([{"type": "Foo"}]), "<unknown type>"),
        (
            hpa([resource("cpu", UTIL50), PODS, EXT_VALUE, EXT_AVG]),
            "cpu: <unknown>/50%, <unknown>/10 + 2 more...",
        ),
        # A failed metric leaves an empty entry (type ""): that metric is unknown.
        (
            hpa(
                [resource("cpu", UTIL50), PODS],
                [{"type": ""}, {"type": "Pods", "pods": {"current": {"averageValue": "3"}}}],
            ),
            "cpu: <unknown>/50%, 3/10",
        ),
    ],
    ids=[
        "none",
        "utilization-unknown",
        "utilization",
        "average-value",
        "auto",
        "container-resource",
        "pods",
        "external-value",
        "external-average",
        "object",
        "unknown-type",
        "more",
        "failed-metric",
    ],
)
def test_targets_as_kubectl_prints_them(obj: dict[str, Any], want: str) -> None:
    assert targets(obj) == want


def test_describe_metric_lines() -> None:
    obj = hpa(
        [resource("cpu", UTIL50), resource("memory", AVG, "ContainerResource"), PODS, EXT_AVG, OBJ],
        [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "current": {"averageUtilization": 45, "averageValue": "45m"},
                },
            },
        ],
    )
    assert describe_metrics(obj) == [
        (1, "resource cpu on pods  (as a percentage of request):", "45% (45m) / 50%"),
        (1, 'resource memory of container "app" on pods:', "<unknown> / 500m"),
        (1, '"qps" on pods:', "<unknown> / 10"),
        (1, '"queue" (target average value):', "<unknown> / 5"),
        (1, '"rps" on Ingress/main (target value):', "<unknown> / 2k"),
    ]


@pytest.mark.parametrize(
    ("ms", "want"),
    [
        (-2_500, "<invalid>"),
        (-500, "0s"),
        (0, "0s"),
        (119_999, "119s"),
        (120_000, "2m"),
        (150_000, "2m30s"),
        (600_000, "10m"),
        (3 * 3_600_000 - 1, "179m"),
        (3 * 3_600_000, "3h"),
        (3 * 3_600_000 + 600_000, "3h10m"),
        (8 * 3_600_000, "8h"),
        (47 * 3_600_000, "47h"),
        (49 * 3_600_000, "2d1h"),
        (8 * 86_400_000, "8d"),
        (2 * 365 * 86_400_000 + 86_400_000, "2y1d"),
        (9 * 365 * 86_400_000, "9y"),
    ],
)
def test_human_duration_is_apimachinerys(ms: int, want: str) -> None:
    assert human_duration(ms) == want
