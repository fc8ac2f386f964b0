"""The live HPA controller's metrics seam: what ``kubeprom run`` (and a simulation of it)
reads its metrics through, built from the configuration's autoscaling sections.

:func:`load_autoscaling_parts` reads and checks ``horizontal_pod_autoscalers``,
``prometheus_adapter`` and ``scaled_objects``; :func:`metrics_backends` builds the
:class:`~kubeprom.hpa.metrics.MetricsBackends` over a query API (the server's store) that
the controller (:class:`~kubeprom.hpa.manager.Autoscalers`) and KEDA's loop
(:class:`~kubeprom.hpa.keda_loop.KedaLoop`) read.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeprom.config.hpa import AutoscalingConfig, load_autoscaling
from kubeprom.config.hpa_spec import FeatureGates, HorizontalPodAutoscaler
from kubeprom.config.load import MainConfig
from kubeprom.hpa.adapter import RELIST_INTERVAL_MS
from kubeprom.hpa.adapter_naming import CompiledAdapter, compile_adapter
from kubeprom.hpa.keda import check_generated_hpa
from kubeprom.hpa.metrics import MetricsBackends
from kubeprom.hpa.metrics_resource import (
    DEFAULT_METRIC_RESOLUTION_MS,
    STORE_READS,
    MetricsServerConfig,
)
from kubeprom.promql.api import QueryAPI
from kubeprom.rules.exprinfo import reads


def kubelet_resolution_ms(config: MainConfig) -> int:
    """metrics-server's ``--metric-resolution`` here: how often the ``kubelet`` job scrapes
    ``/metrics/resource`` (metrics-server's own default when there is no such job)."""
    job = config.scrape_config("kubelet")
    return job.scrape_interval_ms if job is not None else DEFAULT_METRIC_RESOLUTION_MS


def metrics_backends(
    api: QueryAPI,
    loaded: LoadedAutoscaling,
    config: MainConfig,
    now_ms: int,
    *,
    adapter_relist_interval_ms: int = RELIST_INTERVAL_MS,
) -> MetricsBackends:
    """Where the live HPA controller reads metrics, as a cluster's are installed: PromQL over
    ``api`` (the server's store) as metrics-server (the ``kubelet`` job's ``/metrics/resource``
    series), prometheus-adapter (``prometheus_adapter:``, relisting its series every
    ``adapter_relist_interval_ms``) and KEDA (``scaled_objects:``, created at ``now_ms``)
    compute them. One per controller: the backends keep state."""
    return MetricsBackends(
        api,
        metrics_server=MetricsServerConfig(metric_resolution_ms=kubelet_resolution_ms(config)),
        adapter=loaded.adapter,
        scaled_objects=loaded.config.scaled_objects,
        created_ms=now_ms,
        adapter_relist_interval_ms=adapter_relist_interval_ms,
    )


@dataclass(frozen=True, slots=True)
class LoadedAutoscaling:
    """The configuration's autoscaling sections, checked: every HPA the controller syncs
    (KEDA's included) and the compiled adapter rules."""

    config: AutoscalingConfig
    hpas: tuple[HorizontalPodAutoscaler, ...]
    adapter: CompiledAdapter | None

    def store_reads(self) -> frozenset[str] | None:
        """The metric names the controller's backends may select from the store: what
        metrics-server reads, and the names KEDA's trigger queries fix; None when that is
        not known (prometheus-adapter's templated queries, a selector without a name)."""
        if self.adapter is not None:
            return None
        names = set(STORE_READS)
        for so in self.config.scaled_objects:
            for trigger in so.scaled_object.triggers:
                found = reads(trigger.query)
                if found.opaque or found.unnamed:
                    return None
                names.update(found.by_name)
        return frozenset(names)

    def backends_changed(self, other: LoadedAutoscaling) -> bool:
        """Whether the metrics backends must be rebuilt for ``other``."""
        return (self.config.adapter, self.config.scaled_objects) != (
            other.config.adapter,
            other.config.scaled_objects,
        )


def load_autoscaling_parts(config: MainConfig, gates: FeatureGates) -> LoadedAutoscaling:
    """Read and check ``horizontal_pod_autoscalers``, ``prometheus_adapter`` and
    ``scaled_objects`` as the API server, the adapter and KEDA would. Raises ConfigError."""
    loaded = load_autoscaling(config, gates)
    keda = tuple(check_generated_hpa(so) for so in loaded.scaled_objects)
    adapter = compile_adapter(loaded.adapter) if loaded.adapter is not None else None
    return LoadedAutoscaling(loaded, tuple(h.hpa for h in loaded.hpas) + keda, adapter)


__all__ = [
    "LoadedAutoscaling",
    "kubelet_resolution_ms",
    "load_autoscaling_parts",
    "metrics_backends",
]
