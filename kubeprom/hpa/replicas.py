"""One metric's replica proposal: upstream's ``ReplicaCalculator`` (ALGORITHM.md section 5).

Each method fetches through the :class:`MetricsSource`, then computes as
``replica_calculator.go`` and ``metrics/utilization.go`` do: int64 milli-values with Go's
wrapping and truncating arithmetic, float64 ratios, ``int32(math.Ceil(...))`` counts and the
tolerance test ``1 - down <= ratio <= 1 + up``. A failure raises :class:`CalcError` worded as
upstream's error. Every result carries a :class:`CalcTrace`: what was counted and why the
proposal is what it is (the decision record the simulation writes).

Pod-level work (grouping, request sums, averages) runs on numpy arrays over the pod list.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from kubeprom.config.hpa_spec import CrossVersionObjectReference, LabelSelector
from kubeprom.errors import KubepromError
from kubeprom.hpa.goarith import (
    INT32_MAX,
    INT64_MAX,
    ceil32,
    div,
    fceil,
    fdiv,
    to_int32,
    to_int64,
    wrap32,
    wrap64,
)
from kubeprom.hpa.pods import Grouping, PodList, PodSamples, group_pods, pod_requests
from kubeprom.hpa.pods import ready_running_count as _ready_running
from kubeprom.hpa.source import (
    MetricFailure,
    MetricsSource,
    describe_selector,
    selector_requirements,
)

NO_PODS = "no pods returned by selector while calculating replica count"


class CalcError(KubepromError):
    """A metric whose proposal cannot be computed; the message is upstream's error text."""


@dataclass(frozen=True, slots=True)
class Tolerances:
    """Per-direction tolerances on the usage ratio (``Tolerances`` upstream)."""

    scale_down: float = 0.1
    scale_up: float = 0.1

    def within(self, ratio: float) -> bool:
        """``isWithin``: inclusive on both sides; NaN is never within."""
        return (1.0 - self.scale_down) <= ratio <= (1.0 + self.scale_up)


def _no_names() -> NDArray[np.str_]:
    return np.zeros(0, dtype=np.str_)


@dataclass(frozen=True, slots=True, eq=False)
class PodGroups:
    """Names of the pods in each group of ``groupPods`` and the samples of no listed pod."""

    ready: NDArray[np.str_] = field(default_factory=_no_names)
    unready: NDArray[np.str_] = field(default_factory=_no_names)
    missing: NDArray[np.str_] = field(default_factory=_no_names)
    ignored: NDArray[np.str_] = field(default_factory=_no_names)
    superfluous: NDArray[np.str_] = field(default_factory=_no_names)


@dataclass(frozen=True, slots=True)
class Rebalance:
    """The second estimate, with missing and unready pods filled in (section 5.1 step 6)."""

    missing_as: str  # what each missing pod counted as: "0", "left out", a value
    unready_as_zero: bool
    usage: int  # the recomputed utilization (percent) or average (milli)
    ratio: float
    count: int  # samples in the second estimate, superfluous ones included
    proposal: int  # ceil(ratio * count), before the direction guard


@dataclass(frozen=True, slots=True, eq=False)
class CalcTrace:
    """Every intermediate of one metric's proposal.

    ``method`` names the arithmetic: ``utilization`` (Resource/ContainerResource percent),
    ``average`` (AverageValue resource and Pods metrics), ``value`` (Object/External Value),
    ``per-pod`` (Object/External AverageValue). ``usage`` is the first utilization (percent)
    or average/value (milli); ``kept_current`` says why the current count was proposed.
    """

    method: str
    target: int
    tolerances: Tolerances
    usage: int | None = None
    raw_average: int | None = None
    ratio: float | None = None
    within_tolerance: bool | None = None
    groups: PodGroups | None = None
    sample_pods: NDArray[np.str_] = field(default_factory=_no_names)  # "" = superfluous
    sample_values: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    usage_total: int | None = None
    requests_total: int | None = None
    multiplier: int | None = None  # the pod count the ratio was multiplied by
    rebalance: Rebalance | None = None
    kept_current: str | None = None
    proposal: int | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Proposal:
    """A metric's proposal; ``usage`` is what status reports (utilization percent for
    Utilization targets, else milli) and ``raw_usage`` the raw average beside a utilization."""

    replicas: int
    usage: int
    trace: CalcTrace
    raw_usage: int | None = None


@dataclass(frozen=True, slots=True)
class _SampleSet:
    """The sample map during a calculation: values (milli) and the pod each belongs to."""

    values: NDArray[np.int64]
    pod: NDArray[np.intp]  # -1 for a superfluous sample

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def plus(self, pods: NDArray[np.intp], values: NDArray[np.int64]) -> _SampleSet:
        return _SampleSet(np.concatenate([self.values, values]), np.concatenate([self.pod, pods]))


def _trunc_div(x: NDArray[np.int64], d: int) -> NDArray[np.int64]:
    """Go's truncating integer division, elementwise."""
    out: NDArray[np.int64] = np.sign(x) * (np.abs(x) // d)
    return out


def _utilization(
    samples: _SampleSet, requests: NDArray[np.int64], target: int
) -> tuple[float, int, int, int, int]:
    """``GetResourceUtilizationRatio``: (ratio, utilization %, raw average, Σ usage, Σ requests)."""
    known = samples.pod >= 0
    count = int(known.sum())
    # numpy int64 sums wrap like Go's int64 additions.
    usage_total = int(samples.values[known].sum(dtype=np.int64))
    requests_total = int(requests[samples.pod[known]].sum(dtype=np.int64))
    if requests_total == 0:
        raise CalcError("no metrics returned matched known pods")
    utilization = wrap32(div(wrap64(usage_total * 100), requests_total))
    raw = div(usage_total, count)
    return fdiv(float(utilization), float(target)), utilization, raw, usage_total, requests_total


def _average(samples: _SampleSet, target: int) -> tuple[float, int, int]:
    """``GetMetricUsageRatio``: (ratio, average, Σ usage) over every sample, superfluous too."""
    total = int(samples.values.sum(dtype=np.int64))
    average = div(total, len(samples))
    return fdiv(float(average), float(target)), average, total


@dataclass(frozen=True, slots=True)
class ReplicaCalculator:
    """Computes proposals for one HPA at one sync.

    ``pods`` are the pods the scale target's ``selector`` matches; ``now_ms`` is the sync
    time the CPU readiness rules compare against; ``pod_level_resources`` is the
    PodLevelResources feature gate.
    """

    source: MetricsSource
    pods: PodList
    namespace: str
    selector: str
    now_ms: int
    cpu_initialization_period_ms: int = 300_000
    initial_readiness_delay_ms: int = 30_000
    pod_level_resources: bool = True

    # ---- per-pod metrics -------------------------------------------------------------------
    def _group(self, samples: PodSamples, resource: str) -> tuple[Grouping, _SampleSet]:
        if len(self.pods) == 0:
            raise CalcError(NO_PODS)
        g = group_pods(
            self.pods,
            samples,
            resource,
            self.now_ms,
            self.cpu_initialization_period_ms,
            self.initial_readiness_delay_ms,
        )
        dropped = g.ignored | g.unready
        pod = g.sample_pod
        keep = (pod < 0) | ~dropped[np.maximum(pod, 0)]
        kept = _SampleSet(samples.values[keep], pod[keep])
        if len(kept) == 0:
            raise CalcError("did not receive metrics for targeted pods (pods might be unready)")
        return g, kept

    def _groups(self, g: Grouping, samples: PodSamples) -> PodGroups:
        return PodGroups(
            ready=self.pods.names[g.ready],
            unready=self.pods.names[g.unready],
            missing=self.pods.names[g.missing],
            ignored=self.pods.names[g.ignored],
            superfluous=samples.names[g.sample_pod < 0],
        )

    def _sample_pods(self, kept: _SampleSet) -> NDArray[np.str_]:
        return np.where(kept.pod >= 0, self.pods.names[np.maximum(kept.pod, 0)], "")

    def resource_replicas(
        self,
        current: int,
        target_utilization: int,
        resource: str,
        tolerances: Tolerances,
        container: str = "",
    ) -> Proposal:
        """``GetResourceReplicas``: a Utilization target (section 5.1)."""
        fetched = self.source.resource(self.namespace, self.selector, resource, container)
        if isinstance(fetched, MetricFailure):
            raise CalcError(f"unable to get metrics for resource {resource}: {fetched.message}")
        g, kept = self._group(fetched, resource)
        requests = pod_requests(self.pods, resource, container, pod_level=self.pod_level_resources)
        if isinstance(requests, str):
            raise CalcError(requests)
        ratio, utilization, raw, usage_total, requests_total = _utilization(
            kept, requests, target_utilization
        )
        trace = CalcTrace(
            method="utilization",
            target=target_utilization,
            tolerances=tolerances,
            usage=utilization,
            raw_average=raw,
            ratio=ratio,
            groups=self._groups(g, fetched),
            sample_pods=self._sample_pods(kept),
            sample_values=kept.values,
            usage_total=usage_total,
            requests_total=requests_total,
        )
        unready = np.nonzero(g.unready)[0]
        missing = np.nonzero(g.missing)[0]
        with_unready = unready.size > 0 and ratio > 1.0
        if not with_unready and missing.size == 0:
            return self._first(current, ratio, g.ready_count, tolerances, trace, utilization, raw)
        missing_as = "left out"
        if missing.size and ratio < 1.0:
            fallback = max(100, target_utilization)
            # int64 products wrap in numpy as in Go; then Go's truncating division
            kept = kept.plus(missing, _trunc_div(requests[missing] * np.int64(fallback), 100))
            missing_as = f"{fallback}% of request"
        elif missing.size and ratio > 1.0:
            kept = kept.plus(missing, np.zeros(missing.size, dtype=np.int64))
            missing_as = "0"
        if with_unready:
            kept = kept.plus(unready, np.zeros(unready.size, dtype=np.int64))
        new_ratio, new_utilization, _, _, _ = _utilization(kept, requests, target_utilization)
        return self._second(
            current,
            ratio,
            new_ratio,
            new_utilization,
            len(kept),
            missing_as,
            with_unready,
            tolerances,
            trace,
            utilization,
            raw,
        )

    def _first(
        self,
        current: int,
        ratio: float,
        ready: int,
        tolerances: Tolerances,
        trace: CalcTrace,
        usage: int,
        raw: int | None,
    ) -> Proposal:
        if tolerances.within(ratio):
            trace = _done(trace, current, within=True, kept="within tolerance")
            return Proposal(current, usage, trace, raw)
        replicas = ceil32(ratio * float(ready))
        trace = _done(trace, replicas, within=False, multiplier=ready)
        return Proposal(replicas, usage, trace, raw)

    def _second(
        self,
        current: int,
        ratio: float,
        new_ratio: float,
        new_usage: int,
        count: int,
        missing_as: str,
        with_unready: bool,
        tolerances: Tolerances,
        trace: CalcTrace,
        usage: int,
        raw: int | None,
    ) -> Proposal:
        proposal = ceil32(new_ratio * float(count))
        rebalance = Rebalance(missing_as, with_unready, new_usage, new_ratio, count, proposal)
        within = tolerances.within(new_ratio)
        kept = None
        if within:
            kept = "within tolerance after rebalancing"
        elif (ratio < 1.0 and new_ratio > 1.0) or (ratio > 1.0 and new_ratio < 1.0):
            kept = "rebalancing changed the direction"
        elif (new_ratio < 1.0 and proposal > current) or (new_ratio > 1.0 and proposal < current):
            kept = "the pod count would change the direction"
        replicas = current if kept else proposal
        trace = _done(trace, replicas, within=within, kept=kept, multiplier=count)
        return Proposal(replicas, usage, _with_rebalance(trace, rebalance), raw)

    def raw_resource_replicas(
        self,
        current: int,
        target_usage: int,
        resource: str,
        tolerances: Tolerances,
        container: str = "",
    ) -> Proposal:
        """``GetRawResourceReplicas``: a Resource/ContainerResource AverageValue target."""
        fetched = self.source.resource(self.namespace, self.selector, resource, container)
        if isinstance(fetched, MetricFailure):
            raise CalcError(f"unable to get metrics for resource {resource}: {fetched.message}")
        return self._plain(fetched, current, target_usage, tolerances, resource)

    def metric_replicas(
        self,
        current: int,
        target_usage: int,
        metric: str,
        tolerances: Tolerances,
        metric_selector: LabelSelector | None,
    ) -> Proposal:
        """``GetMetricReplicas``: a Pods metric (section 5.2)."""
        fetched = self.source.pods(self.namespace, self.selector, metric, metric_selector)
        if isinstance(fetched, MetricFailure):
            raise CalcError(f"unable to get metric {metric}: {fetched.message}")
        return self._plain(fetched, current, target_usage, tolerances, "")

    def _plain(
        self, samples: PodSamples, current: int, target: int, tolerances: Tolerances, resource: str
    ) -> Proposal:
        """``calcPlainMetricReplicas``."""
        g, kept = self._group(samples, resource)
        ratio, average, total = _average(kept, target)
        trace = CalcTrace(
            method="average",
            target=target,
            tolerances=tolerances,
            usage=average,
            ratio=ratio,
            groups=self._groups(g, samples),
            sample_pods=self._sample_pods(kept),
            sample_values=kept.values,
            usage_total=total,
        )
        unready = np.nonzero(g.unready)[0]
        missing = np.nonzero(g.missing)[0]
        with_unready = unready.size > 0 and ratio > 1.0
        if not with_unready and missing.size == 0:
            return self._first(current, ratio, g.ready_count, tolerances, trace, average, None)
        missing_as = "left out"
        if missing.size and ratio < 1.0:
            kept = kept.plus(missing, np.full(missing.size, target, dtype=np.int64))
            missing_as = "the target"
        elif missing.size and ratio > 1.0:
            kept = kept.plus(missing, np.zeros(missing.size, dtype=np.int64))
            missing_as = "0"
        if with_unready:
            kept = kept.plus(unready, np.zeros(unready.size, dtype=np.int64))
        new_ratio, new_average, _ = _average(kept, target)
        return self._second(
            current,
            ratio,
            new_ratio,
            new_average,
            len(kept),
            missing_as,
            with_unready,
            tolerances,
            trace,
            average,
            None,
        )

    # ---- object and external metrics -------------------------------------------------------
    def _usage_ratio_replicas(
        self, current: int, ratio: float, tolerances: Tolerances, trace: CalcTrace
    ) -> tuple[int, CalcTrace]:
        """``getUsageRatioReplicaCount``: ratio x Running-and-Ready pods, or ceil(ratio) from 0."""
        if current == 0:
            replicas = ceil32(ratio)
            return replicas, _done(trace, replicas, kept=None)
        if tolerances.within(ratio):
            return current, _done(trace, current, within=True, kept="within tolerance")
        if len(self.pods) == 0:
            raise CalcError(f"unable to calculate ready pods: {NO_PODS}")
        ready = _ready_running(self.pods)
        product = ratio * float(ready)
        replicas = INT32_MAX if product > INT32_MAX else ceil32(product)
        return replicas, _done(trace, replicas, within=False, multiplier=ready)

    def _object_value(
        self, metric: str, obj: CrossVersionObjectReference, metric_selector: LabelSelector | None
    ) -> int:
        value = self.source.object(self.namespace, obj, metric, metric_selector)
        if isinstance(value, MetricFailure):
            # Upstream's arguments are out of order; its message reads exactly like this.
            raise CalcError(
                f"unable to get metric {metric}: {obj.kind} on {self.namespace} "
                f"{obj.name}/{value.message}"
            )
        return value

    def object_replicas(
        self,
        current: int,
        target: int,
        metric: str,
        tolerances: Tolerances,
        obj: CrossVersionObjectReference,
        metric_selector: LabelSelector | None,
    ) -> Proposal:
        """``GetObjectMetricReplicas``: an Object Value target (section 5.3)."""
        usage = self._object_value(metric, obj, metric_selector)
        ratio = fdiv(float(usage), float(target))
        trace = CalcTrace("value", target, tolerances, usage=usage, ratio=ratio)
        replicas, trace = self._usage_ratio_replicas(current, ratio, tolerances, trace)
        return Proposal(replicas, usage, trace)

    def object_per_pod_replicas(
        self,
        status_replicas: int,
        target: int,
        metric: str,
        tolerances: Tolerances,
        obj: CrossVersionObjectReference,
        metric_selector: LabelSelector | None,
    ) -> Proposal:
        """``GetObjectPerPodMetricReplicas``: an Object AverageValue target (section 5.4)."""
        usage = self._object_value(metric, obj, metric_selector)
        ratio = fdiv(float(usage), float(target) * float(status_replicas))
        within = tolerances.within(ratio)
        replicas = status_replicas
        if not within:
            replicas = to_int32(fceil(fdiv(float(usage), float(target))))
        per_pod = to_int64(fceil(fdiv(float(usage), float(status_replicas))))
        trace = CalcTrace(
            "per-pod",
            target,
            tolerances,
            usage=per_pod,
            ratio=ratio,
            usage_total=usage,
            multiplier=status_replicas,
        )
        kept = "within tolerance" if within else None
        return Proposal(replicas, per_pod, _done(trace, replicas, within=within, kept=kept))

    def _external_values(self, metric: str, metric_selector: LabelSelector | None) -> list[int]:
        try:
            selector_requirements(metric_selector)
        except ValueError as err:
            raise CalcError(str(err)) from None
        values = self.source.external(self.namespace, metric, metric_selector)
        if isinstance(values, MetricFailure):
            raise CalcError(
                f"unable to get external metric {self.namespace}/{metric}/"
                f"{describe_selector(metric_selector)}: {values.message}"
            )
        return list(values)

    def external_replicas(
        self,
        current: int,
        target: int,
        metric: str,
        tolerances: Tolerances,
        metric_selector: LabelSelector | None,
    ) -> Proposal:
        """``GetExternalMetricReplicas``: an External Value target (section 5.3)."""
        usage = 0
        for value in self._external_values(metric, metric_selector):
            if value > 0 and usage > INT64_MAX - value:
                usage = INT64_MAX  # upstream caps a positive overflow
                break
            usage = wrap64(usage + value)
        ratio = fdiv(float(usage), float(target))
        trace = CalcTrace("value", target, tolerances, usage=usage, ratio=ratio)
        replicas, trace = self._usage_ratio_replicas(current, ratio, tolerances, trace)
        return Proposal(replicas, usage, trace)

    def external_per_pod_replicas(
        self,
        status_replicas: int,
        target: int,
        metric: str,
        tolerances: Tolerances,
        metric_selector: LabelSelector | None,
    ) -> Proposal:
        """``GetExternalPerPodMetricReplicas``: an External AverageValue target (section 5.4)."""
        usage = 0
        for value in self._external_values(metric, metric_selector):
            usage = wrap64(usage + value)
            if usage < 0:
                usage = INT64_MAX  # the only way there is an int64 overflow
                break
        ratio = fdiv(float(usage), float(target) * float(status_replicas))
        within = tolerances.within(ratio)
        replicas = status_replicas
        if not within:
            result = fceil(fdiv(float(usage), float(target)))
            replicas = INT32_MAX if result > float(INT32_MAX) else to_int32(result)
        if float(usage) >= float(INT64_MAX):
            per_pod = INT64_MAX
        else:
            per_pod = to_int64(fceil(fdiv(float(usage), float(status_replicas))))
        trace = CalcTrace(
            "per-pod",
            target,
            tolerances,
            usage=per_pod,
            ratio=ratio,
            usage_total=usage,
            multiplier=status_replicas,
        )
        kept = "within tolerance" if within else None
        return Proposal(replicas, per_pod, _done(trace, replicas, within=within, kept=kept))


def _done(
    trace: CalcTrace,
    proposal: int,
    *,
    within: bool | None = None,
    kept: str | None = None,
    multiplier: int | None = None,
) -> CalcTrace:
    return replace(
        trace,
        proposal=proposal,
        within_tolerance=within if within is not None else trace.within_tolerance,
        kept_current=kept,
        multiplier=multiplier if multiplier is not None else trace.multiplier,
    )


def _with_rebalance(trace: CalcTrace, rebalance: Rebalance) -> CalcTrace:
    return replace(trace, rebalance=rebalance)
