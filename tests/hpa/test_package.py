"""The hpa package's public surface."""

from __future__ import annotations

import kubeprom.hpa
from tests.test_architecture import isort_style_key

EXPORTED = [
    "AcceptWrites", "Branch", "Condition", "Container", "ControllerConfig", "Decision", "Event",
    "EventType", "HPAState", "HPAStatus", "History", "MetricFailure", "MetricStatus",
    "MetricsSource", "Phase", "Pod", "PodList", "PodSamples", "PodTemplate", "PodUsage", "Ready",
    "Recommendations", "Scale", "ScaleEvents", "ScaleFailure", "ScaleWriter",
    "StaticMetricsSource", "SyncInputs", "SyncResult", "Tolerances", "reconcile", "render",
    "resource_samples", "tolerances_for",
]  # fmt: skip


def test_exported_members() -> None:
    exported = list(kubeprom.hpa.__all__)
    assert exported == EXPORTED
    assert exported == sorted(exported, key=isort_style_key)
    assert [name for name in exported if not hasattr(kubeprom.hpa, name)] == []
