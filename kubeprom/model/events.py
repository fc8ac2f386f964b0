"""Kubernetes events: what controllers report about objects, aggregated as client-go does.

An :class:`EventLog` is the cluster's ``events`` resource in memory. Controllers (the
simulated ReplicaSet controller and scheduler, the HPA controller) :meth:`~EventLog.record`
events on an object; an event identical to a recent one (same object, type, reason, message
and source) is not stored again: its ``count`` grows and its ``last_ms`` moves, as
client-go's ``EventCorrelator`` deduplicates (``kubectl describe`` then shows ``(x5 over
2m)``). Events live ``ttl_ms`` after their last occurrence (the API server's ``--event-ttl``,
1h) and at most ``max_events`` are kept, oldest first out, so the log stays bounded however
long the cluster runs. Times are explicit milliseconds; the log reads no clock.

Not thread-safe: use from one thread or event loop.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from enum import StrEnum

DEFAULT_TTL_MS = 3_600_000  # kube-apiserver --event-ttl=1h
DEFAULT_MAX_EVENTS = 10_000


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """``involvedObject``: the object an event is about."""

    kind: str
    namespace: str
    name: str
    api_version: str = ""
    uid: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    """One (aggregated) event; ``name`` is ``<object>.<hex of first time in ns>`` as
    client-go names events."""

    involved: ObjectRef
    type: str
    reason: str
    message: str
    source: str
    first_ms: int
    last_ms: int
    count: int = 1

    @property
    def name(self) -> str:
        return f"{self.involved.name}.{self.first_ms * 1_000_000:x}"


_Key = tuple[ObjectRef, str, str, str, str]


class EventLog:
    """Events by object, newest last; see the module docstring."""

    def __init__(
        self, *, ttl_ms: int = DEFAULT_TTL_MS, max_events: int = DEFAULT_MAX_EVENTS
    ) -> None:
        if ttl_ms <= 0 or max_events <= 0:
            raise ValueError("ttl_ms and max_events must be positive")
        self.ttl_ms = ttl_ms
        self.max_events = max_events
        self._events: OrderedDict[_Key, Event] = OrderedDict()

    def __len__(self) -> int:
        return len(self._events)

    def record(
        self,
        t_ms: int,
        involved: ObjectRef,
        type_: str,
        reason: str,
        message: str,
        source: str,
    ) -> Event:
        """Record an occurrence at ``t_ms``; returns the stored (maybe aggregated) event."""
        key = (involved, type_, reason, message, source)
        old = self._events.pop(key, None)
        if old is not None and old.last_ms + self.ttl_ms > t_ms:
            event = replace(old, last_ms=max(old.last_ms, t_ms), count=old.count + 1)
        else:
            event = Event(involved, type_, reason, message, source, t_ms, t_ms)
        self._events[key] = event  # moves to the end: the log is ordered by last occurrence
        self.expire(t_ms)
        while len(self._events) > self.max_events:
            self._events.popitem(last=False)
        return event

    def expire(self, now_ms: int) -> None:
        """Drop events whose last occurrence is ``ttl_ms`` or more before ``now_ms``."""
        while self._events:
            key, oldest = next(iter(self._events.items()))
            if oldest.last_ms + self.ttl_ms > now_ms:
                break
            del self._events[key]

    def events(
        self,
        *,
        namespace: str | None = None,
        kind: str | None = None,
        name: str | None = None,
        uid: str | None = None,
    ) -> list[Event]:
        """The stored events, oldest last occurrence first, narrowed to an object's namespace,
        kind, name and uid where given (``kubectl describe`` asks for all four, so events
        of a deleted object do not show on a new one of the same name)."""
        return [
            e
            for e in self._events.values()
            if (namespace is None or e.involved.namespace == namespace)
            and (kind is None or e.involved.kind == kind)
            and (name is None or e.involved.name == name)
            and (uid is None or e.involved.uid == uid)
        ]
