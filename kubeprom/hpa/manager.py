"""The HPA controller over many HorizontalPodAutoscalers: a step and a thin loop on a clock.

:class:`Autoscalers` keeps the HPA objects (from the configuration or created through the
API), their state between syncs, their last decisions and replica history, and records
their events. :meth:`Autoscalers.reconcile_all` is one sync of every HPA at ``now_ms``, in
key order, against a :class:`Workloads` (the cluster's scale subresources and pods) and the
:class:`~kubeprom.hpa.source.MetricsSource` a :class:`MetricsProvider` gives for each HPA's
target at that time (``kubeprom run``: :class:`~kubeprom.hpa.metrics.MetricsBackends`, PromQL
over the server's store);
:meth:`Autoscalers.run` calls it every sync period on a clock (kube-controller-manager's
``--horizontal-pod-autoscaler-sync-period``). ``kubeprom run`` drives the loop on the real
clock; simulations drive the same step on a virtual one.

One HPA never affects another: a sync that fails (a metric backend that raises, a bug) is
logged and recorded on that HPA (:attr:`Autoscaler.last_error`), its state kept, and the
others go on. Every sync of every HPA shares one cadence (upstream requeues each HPA
separately), so a run is a pure function of its inputs and the times it is stepped at.

Not thread-safe: use from one event loop (the web handlers share it).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Protocol

from kubeprom.clock import Clock
from kubeprom.config.hpa_spec import (
    CrossVersionObjectReference,
    HorizontalPodAutoscaler,
    LabelSelector,
)
from kubeprom.errors import StatusError
from kubeprom.hpa.controller import (
    ControllerConfig,
    EventType,
    HPAState,
    Scale,
    ScaleFailure,
    SyncInputs,
    reconcile,
)
from kubeprom.hpa.decision import Decision
from kubeprom.hpa.pods import PodList
from kubeprom.hpa.source import BackendProblem, MetricFailure, MetricsSource, Report
from kubeprom.model.events import EventLog, ObjectRef

log = logging.getLogger(__name__)

SOURCE = "horizontal-pod-autoscaler"  # the controller's event source component
KIND = "HorizontalPodAutoscaler"
API_VERSION = "autoscaling/v2"
#: Decisions and replica counts kept per HPA (an hour of syncs at the default period).
HISTORY = 240
DECISIONS = 20


class Workloads(Protocol):
    """What the controller reads and writes of the cluster at a sync.

    ``sync`` brings the cluster to ``now_ms`` before anything is read; ``scale`` reads a
    target's scale subresource (a :class:`ScaleFailure` carries the API error text, e.g.
    ``deployments.apps "web" not found``); ``pods`` lists a namespace's pods a selector
    (``labels.Parse`` syntax) selects, raising ValueError for a selector that does not
    parse; ``write_scale`` sets ``spec.replicas`` and returns the error text or None;
    ``observe`` hands over every HPA after a sync (kube-state-metrics publishes them).
    """

    def sync(self, now_ms: int) -> None: ...

    def scale(self, namespace: str, ref: CrossVersionObjectReference) -> Scale | ScaleFailure: ...

    def pods(self, namespace: str, selector: str) -> PodList: ...

    def write_scale(
        self, namespace: str, ref: CrossVersionObjectReference, replicas: int
    ) -> str | None: ...

    def observe(self, autoscalers: Sequence[Autoscaler]) -> None: ...


class MetricsProvider(Protocol):
    """The cluster's metrics APIs (:class:`~kubeprom.hpa.metrics.MetricsBackends`).

    ``source`` is what they answer for one HPA's sync at ``t_ms``: ``pods`` are the pods its
    target selects, ``spec_replicas`` the target's replica count (None when it could not be
    read); ``report`` receives the backends' own account of what failed (recorded as Warning
    events on the HPA). Called once per HPA per sync, in key order. May raise: the HPA's
    metrics then all fail this sync with the error's text. ``sync`` brackets one sync of
    every HPA at ``now_ms`` (every ``source`` call of it is made inside, synchronously);
    a provider may share work between the HPAs within it.
    """

    def sync(self, now_ms: int) -> AbstractContextManager[None]: ...

    def source(
        self,
        pods: PodList,
        t_ms: int,
        *,
        spec_replicas: int | None = None,
        report: Report | None = None,
    ) -> MetricsSource: ...


@dataclass(frozen=True, slots=True)
class Sample:
    """One sync's outcome, for the replica history: replicas before and decided."""

    t_ms: int
    current: int
    desired: int


@dataclass(frozen=True, slots=True)
class Autoscaler:
    """One HPA: the object, its identity and the controller's state for it.

    ``origin`` is ``config`` (from kubeprom.yml, replaced on reload) or ``api`` (created
    through the API); ``resource_version`` changes whenever the object or its status does.
    """

    hpa: HorizontalPodAutoscaler
    uid: str
    created_ms: int
    origin: str
    generation: int = 1
    resource_version: int = 0
    state: HPAState = field(default_factory=HPAState)
    last_sync_ms: int | None = None
    last_error: str | None = None

    @property
    def key(self) -> str:
        return self.hpa.key

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(KIND, self.hpa.namespace, self.hpa.name, API_VERSION, self.uid)


def not_found(name: str) -> StatusError:
    return StatusError("NotFound", 404, f'horizontalpodautoscalers.autoscaling "{name}" not found')


class Autoscalers:
    """Every HPA and the controller's memory of them; see the module docstring."""

    def __init__(
        self,
        workloads: Workloads,
        metrics: MetricsProvider,
        events: EventLog,
        config: ControllerConfig | None = None,
    ) -> None:
        self.workloads = workloads
        self.metrics = metrics
        self.events = events
        self.config = config or ControllerConfig()
        self._hpas: dict[str, Autoscaler] = {}
        self._decisions: dict[str, deque[Decision]] = {}
        self._history: dict[str, deque[Sample]] = {}
        self._version = 0
        self._stopped = False

    # ---- objects --------------------------------------------------------------------------
    def autoscalers(self, namespace: str | None = None) -> list[Autoscaler]:
        """The HPAs sorted by namespace and name, of one namespace when given."""
        return [
            a
            for _, a in sorted(self._hpas.items())
            if namespace is None or a.hpa.namespace == namespace
        ]

    def get(self, namespace: str, name: str) -> Autoscaler:
        """Raises :class:`StatusError` NotFound."""
        found = self._hpas.get(f"{namespace}/{name}")
        if found is None:
            raise not_found(name)
        return found

    def decisions(self, key: str) -> list[Decision]:
        """The last decisions of an HPA, oldest first."""
        return list(self._decisions.get(key, ()))

    def history(self, key: str) -> list[Sample]:
        """The replica history of an HPA, oldest first."""
        return list(self._history.get(key, ()))

    @property
    def resource_version(self) -> int:
        """The newest resourceVersion handed out (a list's resourceVersion)."""
        return self._version

    def _bump(self) -> int:
        self._version += 1
        return self._version

    def create(
        self, hpa: HorizontalPodAutoscaler, now_ms: int, *, origin: str = "api"
    ) -> Autoscaler:
        """Add a new HPA (defaulted and validated by the caller). Raises StatusError
        AlreadyExists when one of that name exists in its namespace."""
        if hpa.key in self._hpas:
            raise StatusError(
                "AlreadyExists",
                409,
                f'horizontalpodautoscalers.autoscaling "{hpa.name}" already exists',
            )
        uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"kubeprom/hpa/{hpa.key}/{now_ms}"))
        made = Autoscaler(hpa, uid, now_ms, origin, resource_version=self._bump())
        self._hpas[hpa.key] = made
        self._decisions[hpa.key] = deque(maxlen=DECISIONS)
        self._history[hpa.key] = deque(maxlen=HISTORY)
        return made

    def delete(self, namespace: str, name: str) -> Autoscaler:
        """Remove an HPA; raises StatusError NotFound. Its events stay until they expire."""
        gone = self.get(namespace, name)
        del self._hpas[gone.key]
        del self._decisions[gone.key]
        del self._history[gone.key]
        self._bump()
        self.workloads.observe(self.autoscalers())
        return gone

    def apply_config(self, hpas: Iterable[HorizontalPodAutoscaler], now_ms: int) -> None:
        """Make the configuration's HPAs the ``config`` ones: new ones are created, changed
        ones get the new spec (a new generation, their state kept), ones no longer listed
        are deleted. An API-created HPA of the same name is replaced by the configured one."""
        wanted = {h.key: h for h in hpas}
        for key, existing in list(self._hpas.items()):
            if existing.origin == "config" and key not in wanted:
                self.delete(existing.hpa.namespace, existing.hpa.name)
        for key, hpa in wanted.items():
            old = self._hpas.get(key)
            if old is None:
                self.create(hpa, now_ms, origin="config")
            elif old.hpa != hpa or old.origin != "config":
                generation = old.generation + (old.hpa.spec != hpa.spec)
                self._hpas[key] = replace(
                    old,
                    hpa=hpa,
                    origin="config",
                    generation=generation,
                    resource_version=self._bump(),
                )
        self.workloads.observe(self.autoscalers())

    # ---- the step -------------------------------------------------------------------------
    def reconcile_all(self, now_ms: int) -> None:
        """One sync of every HPA at ``now_ms`` (see the module docstring)."""
        self.workloads.sync(now_ms)
        targets: dict[str, _Target] = {}
        for autoscaler in self.autoscalers():
            try:
                targets[autoscaler.key] = self._target(autoscaler.hpa)
            # The edge of one HPA's sync: whatever goes wrong stays with this HPA.
            except Exception as err:
                self._failed(autoscaler, now_ms, err)
        selecting = _selector_registry(targets)
        with self.metrics.sync(now_ms):
            for key, target in targets.items():
                source = self._source(self._hpas[key], target, now_ms)
                self._sync_one(self._hpas[key], target, source, selecting[key], now_ms)
        self.workloads.observe(self.autoscalers())

    def _source(self, autoscaler: Autoscaler, target: _Target, now_ms: int) -> MetricsSource:
        spec = target.scale.spec_replicas if isinstance(target.scale, Scale) else None
        ref = autoscaler.ref

        def report(problem: BackendProblem) -> None:
            self.events.record(
                now_ms, ref, EventType.WARNING, problem.reason, problem.message, problem.component
            )

        try:
            return self.metrics.source(target.pods, now_ms, spec_replicas=spec, report=report)
        # The edge between the controller and a metrics backend: a backend that fails as a
        # whole makes every metric of this HPA fail this sync (as an unreachable API does).
        except Exception as err:
            log.error("metrics backend failed err=%s", err, exc_info=err)
            return _FailingSource(f"unable to fetch metrics: {err}")

    def _target(self, hpa: HorizontalPodAutoscaler) -> _Target:
        scale = self.workloads.scale(hpa.namespace, hpa.spec.scale_target_ref)
        pods = _NO_PODS
        if isinstance(scale, Scale) and scale.selector:
            # A selector that does not parse: the controller reports it itself.
            with contextlib.suppress(ValueError):
                pods = self.workloads.pods(hpa.namespace, scale.selector)
        return _Target(hpa.namespace, scale, pods)

    def _failed(self, autoscaler: Autoscaler, now_ms: int, err: Exception) -> None:
        log.error("hpa sync failed hpa=%s err=%s", autoscaler.key, err, exc_info=err)
        self._hpas[autoscaler.key] = replace(autoscaler, last_sync_ms=now_ms, last_error=str(err))

    def _sync_one(
        self,
        autoscaler: Autoscaler,
        target: _Target,
        source: MetricsSource,
        selecting: tuple[str, ...],
        now_ms: int,
    ) -> None:
        hpa = autoscaler.hpa
        inputs = SyncInputs(
            scale=target.scale,
            pods=target.pods,
            metrics=source,
            selecting_hpas=selecting,
            writer=_Writer(self.workloads, hpa.namespace, hpa.spec.scale_target_ref),
        )
        try:
            result = reconcile(hpa, autoscaler.state, inputs, now_ms, self.config)
        # The edge of one HPA's sync: whatever goes wrong stays with this HPA.
        except Exception as err:
            self._failed(autoscaler, now_ms, err)
            return
        for event in result.events:
            self.events.record(
                now_ms, autoscaler.ref, event.type, event.reason, event.message, SOURCE
            )
        if result.error is not None:
            log.debug("hpa sync error hpa=%s err=%s", hpa.key, result.error)
        state = result.state
        self._decisions[hpa.key].append(result.decision)
        self._history[hpa.key].append(
            Sample(now_ms, state.status.current_replicas, state.status.desired_replicas)
        )
        version = self._bump() if result.status_changed else autoscaler.resource_version
        self._hpas[hpa.key] = replace(
            autoscaler,
            state=state,
            resource_version=version,
            last_sync_ms=now_ms,
            last_error=result.error,
        )

    # ---- the loop -------------------------------------------------------------------------
    def next_sync_ms(self, now_ms: int) -> int:
        """The first multiple of the sync period at or after ``now_ms``."""
        period = self.config.sync_period_ms
        return -(-now_ms // period) * period

    async def run(self, clock: Clock) -> None:
        """Sync every HPA each period until :meth:`stop`."""
        t_ms = self.next_sync_ms(clock.now_ms())
        while not self._stopped:
            await clock.sleep_until_ms(t_ms)
            if self._stopped:
                break
            self.reconcile_all(t_ms)
            t_ms = self.next_sync_ms(max(t_ms + self.config.sync_period_ms, clock.now_ms()))

    def stop(self) -> None:
        self._stopped = True


@dataclass(frozen=True, slots=True)
class _Writer:
    """The scale subresource's write for one target."""

    workloads: Workloads
    namespace: str
    ref: CrossVersionObjectReference

    def update(self, replicas: int) -> str | None:
        return self.workloads.write_scale(self.namespace, self.ref, replicas)


@dataclass(frozen=True, slots=True, eq=False)
class _Target:
    """What one sync reads of an HPA's target: the scale and the pods it selects."""

    namespace: str
    scale: Scale | ScaleFailure
    pods: PodList


_NO_PODS = PodList.of([])


def _selector_registry(targets: dict[str, _Target]) -> dict[str, tuple[str, ...]]:
    """For each HPA, the HPAs whose targets select any of the pods its target selects (itself
    included), as the controller's selector registry tells ambiguous selectors apart."""
    owners: dict[tuple[str, str], set[str]] = {}
    for key, target in targets.items():
        for name in target.pods.names.tolist():
            owners.setdefault((target.namespace, name), set()).add(key)
    out: dict[str, tuple[str, ...]] = {}
    for key, target in targets.items():
        keys = {key}
        for name in target.pods.names.tolist():
            keys |= owners[(target.namespace, name)]
        out[key] = tuple(sorted(keys))
    return out


@dataclass(frozen=True, slots=True)
class _FailingSource:
    """Every metrics API failing with one message (the backend itself is down)."""

    message: str

    def resource(
        self, namespace: str, selector: str, resource: str, container: str
    ) -> MetricFailure:
        return MetricFailure(self.message)

    def pods(
        self, namespace: str, selector: str, metric: str, metric_selector: LabelSelector | None
    ) -> MetricFailure:
        return MetricFailure(self.message)

    def object(
        self,
        namespace: str,
        described_object: CrossVersionObjectReference,
        metric: str,
        metric_selector: LabelSelector | None,
    ) -> MetricFailure:
        return MetricFailure(self.message)

    def external(
        self, namespace: str, metric: str, metric_selector: LabelSelector | None
    ) -> MetricFailure:
        return MetricFailure(self.message)
