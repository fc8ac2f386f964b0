"""The autoscaling/v2 HorizontalPodAutoscaler controller, kube-controller-manager's algorithm.

:func:`reconcile` is one sync of one HPA, a pure step: it takes the HPA, its state
(:class:`HPAState`: status and the controller's memory), what the cluster answers
(:class:`SyncInputs`: the scale, the selected pods, a :class:`MetricsSource`, a
:class:`ScaleWriter`) and ``now_ms``, and returns the new state, the events and a
:class:`Decision` record (:func:`render` prints it). Metric backends implement
:class:`MetricsSource`; :class:`StaticMetricsSource` holds values given up front.
"""

from kubeprom.hpa.behavior import History, Recommendations, ScaleEvents
from kubeprom.hpa.compute import MetricStatus
from kubeprom.hpa.controller import (
    AcceptWrites,
    Condition,
    ControllerConfig,
    Event,
    EventType,
    HPAState,
    HPAStatus,
    Scale,
    ScaleFailure,
    ScaleWriter,
    SyncInputs,
    SyncResult,
    reconcile,
    tolerances_for,
)
from kubeprom.hpa.decision import Branch, Decision, render
from kubeprom.hpa.pods import Container, Phase, Pod, PodList, PodSamples, PodTemplate, Ready
from kubeprom.hpa.replicas import Tolerances
from kubeprom.hpa.source import (
    MetricFailure,
    MetricsSource,
    PodUsage,
    StaticMetricsSource,
    resource_samples,
)

__all__ = [
    "AcceptWrites",
    "Branch",
    "Condition",
    "Container",
    "ControllerConfig",
    "Decision",
    "Event",
    "EventType",
    "HPAState",
    "HPAStatus",
    "History",
    "MetricFailure",
    "MetricStatus",
    "MetricsSource",
    "Phase",
    "Pod",
    "PodList",
    "PodSamples",
    "PodTemplate",
    "PodUsage",
    "Ready",
    "Recommendations",
    "Scale",
    "ScaleEvents",
    "ScaleFailure",
    "ScaleWriter",
    "StaticMetricsSource",
    "SyncInputs",
    "SyncResult",
    "Tolerances",
    "reconcile",
    "render",
    "resource_samples",
    "tolerances_for",
]
