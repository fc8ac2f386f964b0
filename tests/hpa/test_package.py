"""The hpa package's public surface."""

from __future__ import annotations

import kubeprom.hpa
from tests.test_architecture import isort_style_key

EXPORTED = [
    "AcceptWrites", "Branch", "ClusterState", "CompiledAdapter", "Condition", "Container",
    "ControllerConfig", "Decision", "DryRun", "Event", "EventType", "FetchRecord", "HPAState",
    "HPAStatus", "History", "KSMReader", "KedaOperator", "MetricFailure", "MetricStatus",
    "MetricsBackends", "MetricsServerConfig", "MetricsSource", "Phase", "Pod", "PodList",
    "PodSamples", "PodTemplate", "PodUsage", "PollResult", "PromQLMetricsSource",
    "PrometheusAdapter", "Ready", "Recommendations", "Scale", "ScaleEvents", "ScaleFailure",
    "ScaleWriter", "StaticMetricsSource", "SyncInputs", "SyncResult", "Tolerances",
    "check_generated_hpa", "compile_adapter", "dry_run", "generated_hpa", "reconcile", "render",
    "render_dry_run", "resource_samples", "tolerances_for",
]  # fmt: skip


def test_exported_members() -> None:
    exported = list(kubeprom.hpa.__all__)
    assert exported == EXPORTED
    assert exported == sorted(exported, key=isort_style_key)
    assert [name for name in exported if not hasattr(kubeprom.hpa, name)] == []
