"""Resource metrics as metrics-server serves them, computed with PromQL from the kubelet's
``/metrics/resource`` series.

metrics-server scrapes every kubelet each ``--metric-resolution`` and keeps, per container,
the points of its last two scrapes (``pkg/storage/pod.go``). A pod's usage is served when
every container of its latest scrape has a point in the scrape before (or is a *fresh*
container, started between 10 s and one resolution ago, whose start time with zero CPU
stands in for that point); a container whose cumulative CPU went down is left out. CPU is
``(cpu_last - cpu_prev) / window`` in nanocores (both cumulative values truncated to integer
nanoseconds first), memory the working set of the latest scrape; the pod's timestamp is its
container's latest sample time and its window the time between the two points (both read by
the HPA's CPU readiness rule). A scrape that reports a container with zero CPU or memory
drops the whole pod from that scrape (``checkContainerMetrics``).

Here "a scrape" is one scrape of the kubelet target by Prometheus: a container series
belongs to the latest scrape when its newest sample is newer than the target's previous
``up`` sample, and its second newest to the scrape before when it is newer than the ``up``
sample before that. Prometheus keeps no staleness markers for the kubelet's explicitly
timestamped series, so this is what tells a vanished container or a failed scrape apart
from a live one; without ``up`` (no kubelet matchers) the two newest samples are used as
they are. The queries read the store through :class:`~kubeprom.promql.api.QueryAPI` only, so
the same code runs on kubeprom's store and on a real Prometheus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from kubeprom.errors import KubepromError
from kubeprom.hpa.pods import PodList, PodSamples
from kubeprom.hpa.promread import (
    equal,
    label_values,
    newest,
    pick,
    selector,
    series_index,
    series_keys,
    values_at,
)
from kubeprom.hpa.source import MetricFailure
from kubeprom.model.samples import I64Array
from kubeprom.model.timeutil import format_duration_ms
from kubeprom.promql.api import QueryAPI

KUBELET_MATCHERS = 'job="kubelet"'  # kubernetes-mixin's job name, as ``kubeprom top`` uses
CONTAINER_CPU = "container_cpu_usage_seconds_total"
CONTAINER_MEMORY = "container_memory_working_set_bytes"
CONTAINER_START = "container_start_time_seconds"
DEFAULT_LOOKBACK_MS = 5 * 60_000  # far enough back for the three newest kubelet scrapes
DEFAULT_METRIC_RESOLUTION_MS = 60_000  # metrics-server's --metric-resolution default
FRESH_CONTAINER_MIN_NS = 10 * 1_000_000_000  # freshContainerMinMetricsResolution
_NS_PER_MS = 1_000_000
_NS_PER_S = 1_000_000_000
_NS_PER_MILLICORE = 1_000_000
_NO_TIME = np.iinfo(np.int64).min
UNAVAILABLE = (
    "unable to fetch metrics from resource metrics API: the server is currently unable to "
    "handle the request (get pods.metrics.k8s.io)"
)
STORE_READS = frozenset({"up", CONTAINER_CPU, CONTAINER_MEMORY, CONTAINER_START})
"""Every metric name metrics-server's readings here select from the store."""
NO_METRICS = "no metrics returned from resource metrics API"


@dataclass(frozen=True, slots=True)
class MetricsServerConfig:
    """Where the kubelet series are and how metrics-server is run."""

    kubelet_matchers: str = KUBELET_MATCHERS
    lookback_ms: int = DEFAULT_LOOKBACK_MS
    metric_resolution_ms: int = DEFAULT_METRIC_RESOLUTION_MS


class Verdict(StrEnum):
    """What became of one container's points."""

    OK = "ok"
    FRESH = "fresh container: usage since its start"
    NOT_SCRAPED = "not in the kubelet's latest scrape"
    POD_DROPPED = "the pod's latest scrape has a zero cpu or memory value"
    NO_PREVIOUS = "no point in the previous scrape"
    RESTARTED = "restarted since the previous scrape"
    DECREASED = "cumulative cpu went down"
    SIBLING = "another container of the pod has no previous point"
    NOT_LISTED = "not a pod of the scale target"


def _uint64(x: NDArray[np.float64]) -> NDArray[np.uint64]:
    """Go's ``uint64(x)`` for the non-negative values kubelets report (truncation)."""
    clipped = np.clip(np.nan_to_num(x, nan=0.0), 0.0, float(np.iinfo(np.uint64).max))
    return np.trunc(clipped).astype(np.uint64)


def _seconds(window_ns: I64Array) -> NDArray[np.float64]:
    """``time.Duration.Seconds()``: whole seconds plus the remainder, as Go adds them."""
    whole = window_ns // _NS_PER_S
    return whole.astype(np.float64) + (window_ns - whole * _NS_PER_S).astype(np.float64) / 1e9


@dataclass(frozen=True, slots=True, eq=False)
class ContainerScan:
    """Every container series of one namespace, as metrics-server would have stored it.

    Times are ns since the epoch (``_NO_TIME`` when absent); cumulative CPU is integer
    nanoseconds and memory bytes, as metrics-server stores them. ``included`` marks the
    containers whose usage is served; ``cpu_nanocores`` and ``window_ns`` are theirs.
    """

    pod: NDArray[np.str_]
    container: NDArray[np.str_]
    last_ns: I64Array
    prev_ns: I64Array
    start_ns: I64Array
    cpu_last: NDArray[np.uint64]
    cpu_prev: NDArray[np.uint64]
    memory: NDArray[np.uint64]
    verdict: NDArray[np.str_]
    included: NDArray[np.bool_]
    cpu_nanocores: NDArray[np.uint64]
    window_ns: I64Array

    def __len__(self) -> int:
        return int(self.pod.shape[0])


def _empty_scan() -> ContainerScan:
    s = np.zeros(0, dtype=np.str_)
    i = np.zeros(0, dtype=np.int64)
    u = np.zeros(0, dtype=np.uint64)
    return ContainerScan(s, s, i, i, i, u, u, u, s, np.zeros(0, np.bool_), u, i)


@dataclass(frozen=True, slots=True, eq=False)
class ResourceReading:
    """The pod metrics of one namespace at one time: the scan, the served pods (sorted by
    name, each with its timestamp and window in ms), or why nothing could be read."""

    scan: ContainerScan = field(default_factory=_empty_scan)
    pods: NDArray[np.str_] = field(default_factory=lambda: np.zeros(0, dtype=np.str_))
    timestamp_ms: I64Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    window_ms: I64Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    error: str | None = None

    def samples(self, namespace: str, resource: str, container: str) -> PodSamples | MetricFailure:
        """What the HPA's resource client makes of the served pods (``getPodMetrics`` /
        ``getContainerMetrics``): milli-cores for ``cpu``, milli-bytes for ``memory``."""
        if self.error is not None:
            return MetricFailure(UNAVAILABLE)
        if len(self.pods) == 0:
            return MetricFailure(NO_METRICS)
        scan = self.scan
        rows = np.nonzero(scan.included)[0]
        pod_of_row = np.searchsorted(self.pods, scan.pod[rows])
        if resource == "cpu":
            nc = scan.cpu_nanocores[rows]
            # Quantity.MilliValue() of nanocores rounds up.
            values = (
                (nc + np.uint64(_NS_PER_MILLICORE - 1)) // np.uint64(_NS_PER_MILLICORE)
            ).astype(np.int64)
        elif resource == "memory":
            values = scan.memory[rows].astype(np.int64) * 1000
        else:
            values = None  # metrics-server serves cpu and memory only: no pod has a sample
        if container:
            has = np.zeros(len(self.pods), dtype=np.bool_)
            mine = scan.container[rows] == container
            has[pod_of_row[mine]] = True
            if not has.all():
                pod = str(self.pods[int(np.argmin(has))])
                return MetricFailure(
                    f"failed to get container metrics: container {container} not present in "
                    f"metrics for pod {namespace}/{pod}"
                )
            if values is None:
                return PodSamples.of({})
            keep = np.nonzero(mine)[0]
            return PodSamples(
                self.pods[pod_of_row[keep]],
                values[keep],
                self.timestamp_ms[pod_of_row[keep]],
                self.window_ms[pod_of_row[keep]],
            )
        counts = np.bincount(pod_of_row, minlength=len(self.pods))
        if values is None:
            return PodSamples.of({})
        sums = np.zeros(len(self.pods), dtype=np.int64)
        np.add.at(sums, pod_of_row, values)  # int64 sums wrap as Go's do
        keep = np.nonzero(counts > 0)[0]
        return PodSamples(
            self.pods[keep], sums[keep], self.timestamp_ms[keep], self.window_ms[keep]
        )


def _up_times(
    api: QueryAPI, config: MetricsServerConfig, t_ms: int, window: str
) -> tuple[list[tuple[str, str]], I64Array, I64Array]:
    """Per kubelet target ``(job, instance)``: the times of its second and third newest
    scrapes (``_NO_TIME`` when it has fewer)."""
    up = api.instant(f"{selector('up', [config.kubelet_matchers])}[{window}]", t_ms)
    keys = [(lab.get("job"), lab.get("instance")) for lab in up.labels]
    second = pick(up.t, newest(up, 2), _NO_TIME).astype(np.int64)
    third = pick(up.t, newest(up, 3), _NO_TIME).astype(np.int64)
    return keys, second, third


def read_resource_metrics(
    api: QueryAPI,
    namespace: str,
    pods: PodList,
    t_ms: int,
    config: MetricsServerConfig | None = None,
) -> ResourceReading:
    """The ``metrics.k8s.io`` pod metrics of ``pods`` (all in ``namespace``) at ``t_ms``.

    A query error is reported in ``error`` (the HPA then sees the resource metrics API as
    unavailable); nothing raises for missing data.
    """
    config = config or MetricsServerConfig()
    return serve(read_kubelet_points(api, namespace, t_ms, config), pods)


@dataclass(frozen=True, slots=True, eq=False)
class KubeletPoints:
    """What metrics-server holds for one namespace at one time, before any pod list is
    applied: per container series (``pod``, ``container``) its points and where they come
    from, per pod (``pods``, ``pod_row`` maps series to them) whether it is served; or the
    query error. The same for every HPA of the namespace at that time (see :func:`serve`)."""

    error: str | None
    pod: NDArray[np.str_]
    container: NDArray[np.str_]
    pods: NDArray[np.str_]
    pod_row: I64Array
    last_ns: I64Array
    prev_ns: I64Array
    base_ns: I64Array
    start_ns: I64Array
    cpu_last: NDArray[np.uint64]
    cpu_prev: NDArray[np.uint64]
    base_cpu: NDArray[np.uint64]
    memory: NDArray[np.uint64]
    in_last: NDArray[np.bool_]
    in_prev: NDArray[np.bool_]
    fresh: NDArray[np.bool_]
    restarted: NDArray[np.bool_]
    has_prev: NDArray[np.bool_]
    decreased: NDArray[np.bool_]
    scraped: NDArray[np.bool_]
    pod_ok_last: NDArray[np.bool_]
    pod_served: NDArray[np.bool_]

    @classmethod
    def empty(cls, error: str | None = None) -> KubeletPoints:
        """No series (or only ``error``)."""
        s, i = np.zeros(0, dtype=np.str_), np.zeros(0, dtype=np.int64)
        u, b = np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.bool_)
        return cls(error, s, s, s, i, i, i, i, i, u, u, u, u, b, b, b, b, b, b, b, b, b)


def read_kubelet_points(
    api: QueryAPI, namespace: str, t_ms: int, config: MetricsServerConfig
) -> KubeletPoints:
    """The kubelet queries of ``namespace`` at ``t_ms`` and everything derived from them
    that does not depend on which pods an HPA lists."""
    window = format_duration_ms(config.lookback_ms)
    base = [config.kubelet_matchers, equal("namespace", namespace), 'container!=""']
    try:
        cpu = api.instant(f"{selector(CONTAINER_CPU, base)}[{window}]", t_ms)
        mem = api.instant(f"{selector(CONTAINER_MEMORY, base)}[{window}]", t_ms)
        start = api.instant(selector(CONTAINER_START, base), t_ms)
        if config.kubelet_matchers:
            up_keys, up2, up3 = _up_times(api, config, t_ms, window)
        else:
            up_keys, up2, up3 = [], np.zeros(0, np.int64), np.zeros(0, np.int64)
    except KubepromError as err:
        return KubeletPoints.empty(str(err))
    n = len(cpu.labels)
    if n == 0:
        return KubeletPoints.empty()
    keys = series_keys(cpu)
    pods_of, containers_of, jobs, instances = label_values(
        cpu, ("pod", "container", "job", "instance")
    )
    pod = np.array(pods_of, dtype=np.str_)
    container = np.array(containers_of, dtype=np.str_)
    c1, c2 = newest(cpu, 1), newest(cpu, 2)
    last_ms = pick(cpu.t, c1, _NO_TIME).astype(np.int64)
    prev_ms = pick(cpu.t, c2, _NO_TIME).astype(np.int64)
    cpu_last = _uint64(pick(cpu.v, c1, 0.0).astype(np.float64) * 1e9)
    cpu_prev = _uint64(pick(cpu.v, c2, 0.0).astype(np.float64) * 1e9)
    mem_idx = series_index(series_keys(mem), keys)
    mem_last_v, mem_last_ok = values_at(mem, mem_idx, last_ms)
    mem_prev_v, mem_prev_ok = values_at(mem, mem_idx, prev_ms)
    mem_last = np.where(mem_last_ok, _uint64(mem_last_v), np.uint64(0))
    mem_prev = np.where(mem_prev_ok, _uint64(mem_prev_v), np.uint64(0))
    start_idx = series_index(series_keys(start), keys)
    start_s = pick(start.v, start_idx, np.nan).astype(np.float64)
    start_known = np.isfinite(start_s)
    start_ns = np.where(start_known, np.trunc(np.nan_to_num(start_s) * 1e9), 0).astype(np.int64)
    start_ns = np.where(start_known, start_ns, _NO_TIME)

    # Which scrape each point came from, from the target's `up` samples.
    target: list[tuple[str, ...]] = list(zip(jobs, instances, strict=True))
    up_idx = series_index(list(up_keys), target)
    scrape2 = pick(up2, up_idx, _NO_TIME).astype(np.int64)
    scrape3 = pick(up3, up_idx, _NO_TIME).astype(np.int64)
    in_last = (c1 >= 0) & (last_ms > scrape2)
    in_prev = (c2 >= 0) & (prev_ms > scrape3)

    last_ns = np.where(c1 >= 0, last_ms * _NS_PER_MS, _NO_TIME)
    prev_ns = np.where(c2 >= 0, prev_ms * _NS_PER_MS, _NO_TIME)
    upods, pod_row = np.unique(pod, return_inverse=True)
    npods = len(upods)
    zero_last = (cpu_last == 0) | (mem_last == 0)
    zero_prev = (cpu_prev == 0) | (mem_prev == 0)
    pod_ok_last = np.bincount(pod_row, weights=(in_last & zero_last), minlength=npods) == 0
    pod_in_prev = np.bincount(pod_row, weights=in_prev, minlength=npods) > 0
    pod_ok_prev = pod_in_prev & (
        np.bincount(pod_row, weights=(in_prev & zero_prev), minlength=npods) == 0
    )
    age = np.where(start_known, last_ns - np.where(start_known, start_ns, 0), -1)
    fresh = (
        in_last
        & start_known
        & (start_ns < last_ns)
        & (age < config.metric_resolution_ms * _NS_PER_MS)
        & (age >= FRESH_CONTAINER_MIN_NS)
    )
    restarted = start_known & (c2 >= 0) & (start_ns >= prev_ns)
    keep_prev = ~fresh & in_last & pod_ok_prev[pod_row] & in_prev & ~restarted
    has_prev = fresh | keep_prev
    base_ns = np.where(fresh, start_ns, prev_ns)
    base_cpu = np.where(fresh, np.uint64(0), cpu_prev)
    decreased = has_prev & (cpu_last < base_cpu)

    scraped = in_last & pod_ok_last[pod_row]
    missing_prev = np.bincount(pod_row, weights=(scraped & ~has_prev), minlength=npods) > 0
    any_prev = np.bincount(pod_row, weights=(scraped & has_prev), minlength=npods) > 0
    pod_served = pod_ok_last & any_prev & ~missing_prev

    return KubeletPoints(
        None,
        pod,
        container,
        upods,
        pod_row,
        last_ns,
        prev_ns,
        base_ns,
        start_ns,
        cpu_last,
        cpu_prev,
        base_cpu,
        mem_last,
        in_last,
        in_prev,
        fresh,
        restarted,
        has_prev,
        decreased,
        scraped,
        pod_ok_last,
        pod_served,
    )


def serve(points: KubeletPoints, pods: PodList) -> ResourceReading:
    """What metrics-server serves of ``points`` to a client listing ``pods``."""
    if points.error is not None:
        return ResourceReading(error=points.error)
    n = len(points.pod)
    if n == 0:
        return ResourceReading()
    p = points
    pod, pod_row, upods = p.pod, p.pod_row, p.pods
    npods = len(upods)
    in_last, in_prev, fresh, restarted = p.in_last, p.in_prev, p.fresh, p.restarted
    has_prev, decreased, scraped, pod_ok_last = p.has_prev, p.decreased, p.scraped, p.pod_ok_last
    last_ns, base_ns, base_cpu, cpu_last = p.last_ns, p.base_ns, p.base_cpu, p.cpu_last
    listed = np.isin(pod, pods.names)
    pod_served = p.pod_served.copy()
    served_listed = np.zeros(npods, dtype=np.bool_)
    served_listed[pod_row[listed]] = True
    pod_served &= served_listed
    included = scraped & pod_served[pod_row] & ~decreased & listed

    window_ns = np.where(included, last_ns - base_ns, 0)
    delta = np.where(included, cpu_last - np.where(included, base_cpu, 0), np.uint64(0))
    safe = np.where(window_ns > 0, window_ns, 1)
    rate = delta.astype(np.float64) / _seconds(safe)
    nanocores = np.where(included, _uint64(rate), np.uint64(0))

    verdict = np.full(n, Verdict.OK.value, dtype=object)
    verdict[fresh] = Verdict.FRESH.value
    verdict[has_prev & decreased] = Verdict.DECREASED.value
    verdict[in_last & ~has_prev & ~restarted] = Verdict.NO_PREVIOUS.value
    verdict[in_last & ~has_prev & restarted & in_prev] = Verdict.RESTARTED.value
    verdict[in_last & has_prev & ~decreased & ~pod_served[pod_row]] = Verdict.SIBLING.value
    verdict[in_last & ~pod_ok_last[pod_row]] = Verdict.POD_DROPPED.value
    verdict[~in_last] = Verdict.NOT_SCRAPED.value
    verdict[~listed] = Verdict.NOT_LISTED.value

    # The pod's time is that of its container with the earliest latest sample.
    served = np.nonzero(pod_served)[0]
    inc = np.nonzero(included)[0]
    first_ns = np.full(npods, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_ns, pod_row[inc], last_ns[inc])
    order = np.lexsort((last_ns[inc], pod_row[inc]))
    firsts = inc[order][np.r_[True, np.diff(pod_row[inc][order]) != 0]] if inc.size else inc
    pod_window = np.zeros(npods, dtype=np.int64)
    pod_window[pod_row[firsts]] = window_ns[firsts]
    pod_ts = np.where(first_ns == np.iinfo(np.int64).max, 0, first_ns)
    scan = ContainerScan(
        pod=pod,
        container=p.container,
        last_ns=last_ns,
        prev_ns=np.where(has_prev, base_ns, p.prev_ns),
        start_ns=p.start_ns,
        cpu_last=cpu_last,
        cpu_prev=np.where(has_prev, base_cpu, p.cpu_prev),
        memory=p.memory,
        verdict=verdict.astype(np.str_),
        included=included,
        cpu_nanocores=nanocores,
        window_ns=window_ns,
    )
    return ResourceReading(
        scan=scan,
        pods=upods[served],
        timestamp_ms=pod_ts[served] // _NS_PER_MS,
        window_ms=-(-pod_window[served] // _NS_PER_MS),  # rounded up: see CPU readiness
    )
