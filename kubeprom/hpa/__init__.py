"""The autoscaling/v2 HorizontalPodAutoscaler controller, kube-controller-manager's algorithm.

:func:`reconcile` is one sync of one HPA, a pure step: it takes the HPA, its state
(:class:`HPAState`: status and the controller's memory), what the cluster answers
(:class:`SyncInputs`: the scale, the selected pods, a :class:`MetricsSource`, a
:class:`ScaleWriter`) and ``now_ms``, and returns the new state, the events and a
:class:`Decision` record (:func:`render` prints it). Metric backends implement
:class:`MetricsSource`; :class:`StaticMetricsSource` holds values given up front.

:class:`MetricsBackends` is a cluster's metrics APIs computed with PromQL through a
:class:`~kubeprom.promql.api.QueryAPI`: metrics-server from the kubelet's series, custom and
external metrics from a prometheus-adapter config (:func:`compile_adapter`) and KEDA
ScaledObjects (:class:`KedaOperator`, which also runs KEDA's 0 <-> 1 loop).
``MetricsBackends.source(pods, now_ms, spec_replicas=...)`` is the :class:`MetricsSource` of one
sync. :func:`dry_run` runs a sync against stored data, with the cluster read from
kube-state-metrics (:class:`KSMReader`); :func:`render_dry_run` prints it.
"""

from kubeprom.hpa.adapter import PrometheusAdapter
from kubeprom.hpa.adapter_naming import CompiledAdapter, compile_adapter
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
from kubeprom.hpa.dryrun import DryRun, dry_run
from kubeprom.hpa.dryrun_render import render_dry_run
from kubeprom.hpa.keda import KedaOperator, PollResult, check_generated_hpa, generated_hpa
from kubeprom.hpa.ksm_view import ClusterState, KSMReader
from kubeprom.hpa.metrics import FetchRecord, MetricsBackends, PromQLMetricsSource
from kubeprom.hpa.metrics_resource import MetricsServerConfig
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
    "ClusterState",
    "CompiledAdapter",
    "Condition",
    "Container",
    "ControllerConfig",
    "Decision",
    "DryRun",
    "Event",
    "EventType",
    "FetchRecord",
    "HPAState",
    "HPAStatus",
    "History",
    "KSMReader",
    "KedaOperator",
    "MetricFailure",
    "MetricStatus",
    "MetricsBackends",
    "MetricsServerConfig",
    "MetricsSource",
    "Phase",
    "Pod",
    "PodList",
    "PodSamples",
    "PodTemplate",
    "PodUsage",
    "PollResult",
    "PromQLMetricsSource",
    "PrometheusAdapter",
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
    "check_generated_hpa",
    "compile_adapter",
    "dry_run",
    "generated_hpa",
    "reconcile",
    "render",
    "render_dry_run",
    "resource_samples",
    "tolerances_for",
]
