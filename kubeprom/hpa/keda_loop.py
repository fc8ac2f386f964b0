"""KEDA's scale loop live: each ScaledObject polled every ``pollingInterval`` on a clock.

:class:`KedaLoop` runs :meth:`~kubeprom.hpa.keda.KedaOperator.poll` for the ScaledObjects
that are due (``poll_due(now_ms)``, the step) and applies what it decides to the target's
scale subresource: ``0 -> 1`` (or ``minReplicaCount``) when a trigger is active, back to
``idleReplicaCount`` or 0 after ``cooldownPeriod`` -- the 0 <-> 1 half of autoscaling,
beside the HPA KEDA created, which scales 1 <-> N. :meth:`KedaLoop.run` is the thin loop on a
clock. KEDA's events (``KEDAScaleTargetActivated``, ``KEDAScaleTargetDeactivated``, and
``KEDAScalerFailed`` naming the failing trigger's query at its file, line and field) are
recorded on the ScaledObject. A failure stays with its ScaledObject: the others are polled.

Not thread-safe: use from the event loop that drives the HPA controller.
"""

from __future__ import annotations

import logging
import uuid

from kubeprom.clock import Clock
from kubeprom.config.hpa_spec import CrossVersionObjectReference
from kubeprom.config.keda import API_VERSION, KIND
from kubeprom.hpa.controller import EventType, Scale
from kubeprom.hpa.keda import KedaOperator
from kubeprom.hpa.manager import Workloads
from kubeprom.hpa.metrics import KEDA as SOURCE
from kubeprom.hpa.metrics import KEDA_REASON as SCALER_FAILED
from kubeprom.hpa.pods import PodList
from kubeprom.model.events import EventLog, ObjectRef

log = logging.getLogger(__name__)


class KedaLoop:
    """See the module docstring."""

    def __init__(self, keda: KedaOperator, workloads: Workloads, events: EventLog) -> None:
        self.keda = keda
        self.workloads = workloads
        self.events = events
        self._last: dict[str, int] = {}
        self._stopped = False

    def _ref(self, key: str) -> ObjectRef:
        so = self.keda.scaled_object(key)
        uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"kubeprom/scaledobject/{key}"))
        return ObjectRef(KIND, so.namespace, so.name, API_VERSION, uid)

    def poll_due(self, now_ms: int) -> None:
        """One turn at ``now_ms``: poll every ScaledObject whose interval has passed."""
        keys = self.keda.keys()
        due = [k for k in keys if self.keda.due(k, self._last.get(k), now_ms)]
        if not due:
            return
        self.workloads.sync(now_ms)
        for key in due:
            self._last[key] = now_ms
            try:
                self._poll(key, now_ms)
            # The edge of one ScaledObject's loop: whatever goes wrong stays with it.
            except Exception as err:
                log.error("keda poll failed scaledobject=%s err=%s", key, err, exc_info=err)

    def _poll(self, key: str, now_ms: int) -> None:
        so = self.keda.scaled_object(key)
        ref = CrossVersionObjectReference(so.target_kind, so.target_name, so.target_api_version)
        scale = self.workloads.scale(so.namespace, ref)
        spec_replicas = scale.spec_replicas if isinstance(scale, Scale) else None
        pods = PodList.of([])
        if isinstance(scale, Scale) and scale.selector:
            try:
                pods = self.workloads.pods(so.namespace, scale.selector)
            except ValueError as err:
                log.warning("keda target selector scaledobject=%s err=%s", key, err)
        result = self.keda.poll(key, now_ms, spec_replicas, pods)
        involved = self._ref(key)
        for problem in self.keda.problems(key):
            self.events.record(now_ms, involved, EventType.WARNING, SCALER_FAILED, problem, SOURCE)
        for event in result.events:
            self.events.record(now_ms, involved, event.type, event.reason, event.message, SOURCE)
        if result.scale_to is not None and result.scale_to != spec_replicas:
            why = self.workloads.write_scale(so.namespace, ref, result.scale_to)
            if why is not None:
                log.warning("keda scale failed scaledobject=%s err=%s", key, why)

    def next_poll_ms(self, now_ms: int) -> int:
        """When the next ScaledObject is due (``now_ms`` for one never polled)."""
        keys = self.keda.keys()
        times = [
            self._last[k] + self.keda.scaled_object(k).polling_interval_ms
            if k in self._last
            else now_ms
            for k in keys
        ]
        return max(now_ms, min(times)) if times else now_ms

    async def run(self, clock: Clock) -> None:
        """Poll until :meth:`stop`; returns at once when there is no ScaledObject."""
        if not self.keda.keys():
            return
        t_ms = clock.now_ms()
        while not self._stopped:
            await clock.sleep_until_ms(t_ms)
            if self._stopped:
                break
            self.poll_due(t_ms)
            t_ms = self.next_poll_ms(max(t_ms + 1, clock.now_ms()))

    def stop(self) -> None:
        self._stopped = True
