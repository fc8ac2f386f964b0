"""A dry run of the HPA controller against stored data: what it would decide at a time, and why.

:func:`dry_run` reads the cluster from kube-state-metrics series (:mod:`.ksm_view`) and the
metrics through :class:`~kubeprom.hpa.metrics.MetricsBackends`, all with PromQL at the given
time, and runs :func:`~kubeprom.hpa.controller.reconcile` with every metrics API call
recorded. The controller's memory is rebuilt from the store, since a real one would have it:

* recommendations: the controller is replayed every sync period over the longest
  stabilization window before the time (the replica count each replayed sync starts from is
  the one the store shows at that time, its writes are not applied);
* scale events (for ``behavior`` policies): the changes of ``kube_deployment_spec_replicas``
  over the longest policy period, each dated just after the last sample before it (the
  change happened between two scrapes; the earliest date makes a policy count it the
  shortest time);
* for a KEDA ScaledObject, KEDA's loop is replayed every ``pollingInterval`` over the
  cooldown period as well (``lastActiveTime``, fallback health).

``history_ms=0`` runs one sync with an empty memory, as a freshly started controller would.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from kubeprom.config.hpa_spec import HorizontalPodAutoscaler, default_behavior
from kubeprom.config.keda import ScaledObject
from kubeprom.hpa.behavior import History, ScaleEvents, longest_period
from kubeprom.hpa.controller import (
    ControllerConfig,
    HPAState,
    Scale,
    SyncInputs,
    SyncResult,
    reconcile,
)
from kubeprom.hpa.keda import KedaStatus, PollResult
from kubeprom.hpa.ksm_view import KSM_MATCHERS, ClusterState, KSMReader
from kubeprom.hpa.metrics import FetchRecord, MetricsBackends
from kubeprom.hpa.promread import equal, selector
from kubeprom.model.timeutil import format_duration_ms
from kubeprom.promql.api import QueryAPI


@dataclass(frozen=True, slots=True, eq=False)
class SyncTrace:
    """One sync: the time, what the cluster looked like, the outcome, the fetches made."""

    t_ms: int
    cluster: ClusterState
    result: SyncResult
    fetches: tuple[FetchRecord, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class PollTrace:
    """One turn of KEDA's loop and the ScaledObject's status after it."""

    t_ms: int
    result: PollResult
    status: KedaStatus
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class DryRun:
    """A dry run's outcome: the final sync (with its fetches), the replayed ones before it,
    the observed scale events fed to the policies, KEDA's last poll when there is one."""

    hpa: HorizontalPodAutoscaler
    t_ms: int
    final: SyncTrace
    replayed: tuple[SyncTrace, ...]
    history_ms: int
    events_ms: int
    scale_up: ScaleEvents
    scale_down: ScaleEvents
    scaled_object: ScaledObject | None = None
    poll: PollTrace | None = None


def history_horizons(hpa: HorizontalPodAutoscaler, config: ControllerConfig) -> tuple[int, int]:
    """(replay span, scale-event span) in ms: the longest stabilization window and the
    longest policy period the HPA's normalization looks at."""
    behavior = default_behavior(hpa.spec.behavior)
    down_default = config.downscale_stabilization_window_ms
    if behavior is None or behavior.scale_up is None or behavior.scale_down is None:
        return down_default, 0
    up, down = behavior.scale_up, behavior.scale_down
    windows = [
        (up.stabilization_window_seconds or 0) * 1000,
        down_default
        if down.stabilization_window_seconds is None
        else down.stabilization_window_seconds * 1000,
    ]
    periods = [longest_period(up) * 1000, longest_period(down) * 1000]
    return max(windows), max(periods)


def observed_scale_events(
    api: QueryAPI,
    hpa: HorizontalPodAutoscaler,
    t_ms: int,
    span_ms: int,
    matchers: str = KSM_MATCHERS,
) -> tuple[ScaleEvents, ScaleEvents]:
    """Changes of the target's ``spec.replicas`` within ``span_ms`` before ``t_ms`` (up, down)."""
    if span_ms <= 0:
        return ScaleEvents(), ScaleEvents()
    ref = hpa.spec.scale_target_ref
    sel = selector(
        "kube_deployment_spec_replicas",
        [matchers, equal("namespace", hpa.namespace), equal("deployment", ref.name)],
    )
    result = api.instant(f"{sel}[{format_duration_ms(span_ms)}]", t_ms)
    if len(result) == 0:
        return ScaleEvents(), ScaleEvents()
    t = result.t[result.offsets[0] : result.offsets[1]]
    v = result.v[result.offsets[0] : result.offsets[1]].astype(np.int64)
    change = np.diff(v)
    when = t[:-1] + 1  # just after the last sample showing the old count
    up = change > 0
    down = change < 0
    return (
        ScaleEvents(change[up], when[up], np.zeros(int(up.sum()), dtype=np.bool_)),
        ScaleEvents(-change[down], when[down], np.zeros(int(down.sum()), dtype=np.bool_)),
    )


def _events_before(events: ScaleEvents, t_ms: int) -> ScaleEvents:
    keep = events.t_ms < t_ms
    return ScaleEvents(events.change[keep], events.t_ms[keep], events.outdated[keep])


def dry_run(
    hpa: HorizontalPodAutoscaler,
    api: QueryAPI,
    t_ms: int,
    backends: MetricsBackends,
    *,
    config: ControllerConfig | None = None,
    history_ms: int | None = None,
    ksm_matchers: str = KSM_MATCHERS,
    scaled_object: ScaledObject | None = None,
) -> DryRun:
    """The controller's sync of ``hpa`` at ``t_ms`` (see the module docstring).

    ``history_ms`` None replays the HPA's longest stabilization window; ``backends`` must be
    fresh (its state is rebuilt by the replay). Raises
    :class:`~kubeprom.errors.KubepromError` when kube-state-metrics cannot be queried.
    """
    config = config or ControllerConfig()
    window_ms, events_ms = history_horizons(hpa, config)
    if history_ms is not None:
        window_ms = events_ms = history_ms
    period = config.sync_period_ms
    keda_key = scaled_object.key if scaled_object is not None else None
    keda = backends.keda
    replay_ms = window_ms
    if keda is not None and keda_key is not None and history_ms is None:
        so = keda.scaled_object(keda_key)
        replay_ms = max(replay_ms, so.cooldown_period_ms + so.polling_interval_ms)
    steps = replay_ms // period if (history_ms is None or history_ms > 0) else 0
    times = [t_ms - k * period for k in range(steps, 0, -1)]
    reader = KSMReader(api, ksm_matchers)
    up_events, down_events = observed_scale_events(api, hpa, t_ms, events_ms, ksm_matchers)
    ref = hpa.spec.scale_target_ref
    state = HPAState()
    last_poll: int | None = None
    poll: PollTrace | None = None

    def sync(s: int, record: list[FetchRecord] | None) -> SyncTrace:
        nonlocal state, last_poll, poll
        cluster = reader.read(hpa.namespace, ref.kind, ref.name, s)
        spec_replicas = cluster.scale.spec_replicas if isinstance(cluster.scale, Scale) else None
        if keda is not None and keda_key is not None and keda.due(keda_key, last_poll, s):
            polled = keda.poll(keda_key, s, spec_replicas, cluster.pods)
            poll = PollTrace(s, polled, keda.status(keda_key), tuple(keda.notes(keda_key)))
            last_poll = s
        source = backends.source(cluster.pods, s, spec_replicas=spec_replicas, record=record)
        history = History(
            state.history.recommendations,
            _events_before(up_events, s),
            _events_before(down_events, s),
        )
        inputs = SyncInputs(cluster.scale, cluster.pods, source, selecting_hpas=(hpa.key,))
        result = reconcile(hpa, replace(state, history=history), inputs, s, config)
        state = result.state
        return SyncTrace(s, cluster, result, tuple(record or ()))

    replayed = tuple(sync(s, None) for s in times)
    final = sync(t_ms, [])
    return DryRun(
        hpa,
        t_ms,
        final,
        replayed,
        window_ms if steps else 0,
        events_ms,
        up_events,
        down_events,
        scaled_object,
        poll,
    )
