"""The pods an HPA's selector matches, as columns, and how the controller sorts them.

A :class:`PodList` holds one entry per pod in numpy columns (phase, deletion, the Ready
condition, start and transition times in ms) plus an index into a small table of
:class:`PodTemplate` s (the containers and their requests: pods of one workload share one),
so grouping and request sums run over arrays, not pod by pod.

:func:`group_pods` is upstream's ``groupPods`` (ALGORITHM.md section 4); :func:`pod_requests`
is ``calculateRequests``; :func:`ready_running_count` is ``getReadyPodsCount``. Times are
integer milliseconds; ``now_ms`` is the controller's "now".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from kubeprom.hpa.goarith import wrap64

CPU = "cpu"
# Resources a pod-level `resources.requests` may set (PodLevelResources).
POD_LEVEL_RESOURCES = frozenset({"cpu", "memory"})


class Phase(IntEnum):
    PENDING = 0
    RUNNING = 1
    SUCCEEDED = 2
    FAILED = 3
    UNKNOWN = 4


class Ready(IntEnum):
    """The pod's Ready condition: absent, or its status."""

    ABSENT = -1
    FALSE = 0
    TRUE = 1
    UNKNOWN = 2


PHASES = {p.name.capitalize(): p for p in Phase}


@dataclass(frozen=True, slots=True)
class Container:
    """A container's name and its requests in milli-units (a resource absent = no request).

    ``sidecar`` marks an init container with ``restartPolicy: Always``; plain init containers
    are not listed at all (their requests never count).
    """

    name: str
    requests: tuple[tuple[str, int], ...] = ()
    sidecar: bool = False

    def request(self, resource: str) -> int | None:
        for name, value in self.requests:
            if name == resource:
                return value
        return None


@dataclass(frozen=True, slots=True)
class PodTemplate:
    """What pods of one shape request: containers (sidecars last) and pod-level requests."""

    containers: tuple[Container, ...] = (Container("app"),)
    pod_requests: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Pod:
    """One pod, as the row builder of :meth:`PodList.of` takes it."""

    name: str
    template: PodTemplate = PodTemplate()
    phase: Phase = Phase.RUNNING
    deleting: bool = False
    ready: Ready = Ready.TRUE
    start_ms: int | None = None
    ready_transition_ms: int | None = None


_NO_TIME = np.iinfo(np.int64).min


@dataclass(frozen=True, slots=True, eq=False)
class PodList:
    """Pods as columns; every array has one entry per pod, in list order. Arrays are owned by
    the list and must not be written."""

    names: NDArray[np.str_]
    template: NDArray[np.int32]
    templates: tuple[PodTemplate, ...]
    phase: NDArray[np.int8]
    deleting: NDArray[np.bool_]
    ready: NDArray[np.int8]
    start_ms: NDArray[np.int64]
    has_start: NDArray[np.bool_]
    transition_ms: NDArray[np.int64]
    _order: NDArray[np.intp] = field(init=False, repr=False)
    _sorted: NDArray[np.str_] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        order = np.argsort(self.names, kind="stable")
        object.__setattr__(self, "_order", order)
        object.__setattr__(self, "_sorted", self.names[order])

    def __len__(self) -> int:
        return int(self.names.shape[0])

    @classmethod
    def of(cls, pods: Sequence[Pod]) -> PodList:
        """Columns from pod rows; equal templates are stored once. A missing transition time
        defaults to the start time."""
        index: dict[PodTemplate, int] = {}
        for p in pods:
            index.setdefault(p.template, len(index))
        start = [p.start_ms for p in pods]
        transition = [
            p.ready_transition_ms if p.ready_transition_ms is not None else p.start_ms for p in pods
        ]
        return cls(
            names=np.array([p.name for p in pods], dtype=np.str_),
            template=np.array([index[p.template] for p in pods], dtype=np.int32),
            templates=tuple(index),
            phase=np.array([p.phase for p in pods], dtype=np.int8),
            deleting=np.array([p.deleting for p in pods], dtype=np.bool_),
            ready=np.array([p.ready for p in pods], dtype=np.int8),
            start_ms=np.array([_NO_TIME if s is None else s for s in start], dtype=np.int64),
            has_start=np.array([s is not None for s in start], dtype=np.bool_),
            transition_ms=np.array(
                [_NO_TIME if t is None else t for t in transition], dtype=np.int64
            ),
        )

    def lookup(self, names: NDArray[np.str_]) -> NDArray[np.intp]:
        """The pod index of each name, -1 for names that are not in the list."""
        if len(self) == 0 or names.shape[0] == 0:
            return np.full(names.shape[0], -1, dtype=np.intp)
        if names is self.names or (names.shape == self.names.shape and (names == self.names).all()):
            return np.arange(len(self), dtype=np.intp)  # samples listed in pod order
        pos = np.searchsorted(self._sorted, names)
        pos_clipped = np.minimum(pos, len(self) - 1)
        found = self._sorted[pos_clipped] == names
        return np.where(found, self._order[pos_clipped], -1)


@dataclass(frozen=True, slots=True, eq=False)
class PodSamples:
    """Per-pod metric values (``PodMetricsInfo``): names unique, values in milli-units.

    ``timestamp_ms`` and ``window_ms`` say what the sample covers (the CPU readiness rule
    reads them).
    """

    names: NDArray[np.str_]
    values: NDArray[np.int64]
    timestamp_ms: NDArray[np.int64]
    window_ms: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.names.shape[0])

    @classmethod
    def of(cls, rows: Mapping[str, tuple[int, int, int]]) -> PodSamples:
        """From ``{pod: (value, timestamp_ms, window_ms)}``."""
        items = list(rows.items())
        return cls(
            names=np.array([k for k, _ in items], dtype=np.str_),
            values=np.array([v[0] for _, v in items], dtype=np.int64),
            timestamp_ms=np.array([v[1] for _, v in items], dtype=np.int64),
            window_ms=np.array([v[2] for _, v in items], dtype=np.int64),
        )


@dataclass(frozen=True, slots=True, eq=False)
class Grouping:
    """``groupPods`` as masks over the pod list, plus which pod each sample belongs to."""

    ready: NDArray[np.bool_]
    unready: NDArray[np.bool_]
    missing: NDArray[np.bool_]
    ignored: NDArray[np.bool_]
    sample_pod: NDArray[np.intp]  # per sample: its pod index, -1 when superfluous

    @property
    def ready_count(self) -> int:
        return int(self.ready.sum())


def group_pods(
    pods: PodList,
    samples: PodSamples,
    resource: str,
    now_ms: int,
    cpu_initialization_period_ms: int,
    initial_readiness_delay_ms: int,
) -> Grouping:
    """Sort pods into ready / unready / missing / ignored (ALGORITHM.md section 4).

    ``resource`` is the resource name for Resource and ContainerResource metrics and ``""``
    for Pods metrics; the readiness rules apply to ``cpu`` only. Comparisons are upstream's:
    "started less than the period ago" is ``start + period > now``.
    """
    sample_pod = pods.lookup(samples.names)
    n = len(pods)
    pod_sample = np.full(n, -1, dtype=np.intp)
    matched = sample_pod >= 0
    pod_sample[sample_pod[matched]] = np.nonzero(matched)[0]

    ignored = pods.deleting | (pods.phase == Phase.FAILED)
    pending = ~ignored & (pods.phase == Phase.PENDING)
    has_sample = pod_sample >= 0
    missing = ~ignored & ~pending & ~has_sample
    candidate = ~ignored & ~pending & has_sample
    cpu_unready = np.zeros(n, dtype=np.bool_)
    if resource == CPU and n:
        idx = np.where(has_sample, pod_sample, 0)
        ts = samples.timestamp_ms[idx] if len(samples) else np.zeros(n, dtype=np.int64)
        window = samples.window_ms[idx] if len(samples) else np.zeros(n, dtype=np.int64)
        no_condition = (pods.ready == Ready.ABSENT) | ~pods.has_start
        cond_false = pods.ready == Ready.FALSE
        start = pods.start_ms
        transition = pods.transition_ms
        in_init = start + cpu_initialization_period_ms > now_ms
        fresh_unready = cond_false | (ts < transition + window)
        never_ready = cond_false & (start + initial_readiness_delay_ms > transition)
        cpu_unready = candidate & (no_condition | np.where(in_init, fresh_unready, never_ready))
    return Grouping(
        ready=candidate & ~cpu_unready,
        unready=pending | cpu_unready,
        missing=missing,
        ignored=ignored,
        sample_pod=sample_pod,
    )


@dataclass(frozen=True, slots=True)
class _TemplateRequest:
    value: int
    error: str | None  # a message with {pod} for the pod's name


def _template_request(
    template: PodTemplate, resource: str, container: str, pod_level: bool
) -> _TemplateRequest:
    if pod_level and template.pod_requests and not container and resource in POD_LEVEL_RESOURCES:
        for name, value in template.pod_requests:
            if name == resource:
                return _TemplateRequest(value, None)
        return _TemplateRequest(0, f"missing pod-level request for {resource} in Pod {{pod}}")
    total = 0
    for c in template.containers:
        if not container or container == c.name:
            request = c.request(resource)
            if request is None:
                message = f"missing request for {resource} in container {c.name} of Pod {{pod}}"
                return _TemplateRequest(0, message)
            total = wrap64(total + request)
        if container == c.name:
            return _TemplateRequest(total, None)
    if container:
        return _TemplateRequest(0, f"container {container} not found in Pod {{pod}}")
    return _TemplateRequest(total, None)


def pod_requests(
    pods: PodList, resource: str, container: str = "", *, pod_level: bool = True
) -> NDArray[np.int64] | str:
    """Each pod's request for ``resource`` (``calculateRequests``), or the error message for
    the first pod (in list order) that lacks one.

    ``container`` limits it to one container (ContainerResource metrics); ``pod_level`` is
    the PodLevelResources feature gate: pod-level cpu/memory requests, when set, replace the
    container sum except for a named container.
    """
    per_template = [_template_request(t, resource, container, pod_level) for t in pods.templates]
    errors = [r.error for r in per_template]
    if len(pods):
        bad = np.array([e is not None for e in errors], dtype=np.bool_)[pods.template]
        if bad.any():
            first = int(np.argmax(bad))
            message = errors[int(pods.template[first])] or ""
            return message.format(pod=str(pods.names[first]))
    values = np.array([r.value for r in per_template], dtype=np.int64)
    return values[pods.template] if len(pods) else np.zeros(0, dtype=np.int64)


def ready_running_count(pods: PodList) -> int:
    """Pods that are Running with Ready=True (``getReadyPodsCount``); deletion is not looked at."""
    return int(((pods.phase == Phase.RUNNING) & (pods.ready == Ready.TRUE)).sum())
