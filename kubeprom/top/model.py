"""What ``top`` shows: metrics.k8s.io NodeMetrics and PodMetrics, in metrics-server's units.

Usage is integers, as metrics-server holds it: CPU in nanocores, memory in bytes (see
:mod:`kubeprom.top.quantity` for how floats become these). Times are ms since the epoch;
``window_ms`` is the span the CPU rate was measured over, ``None`` when it is not known.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SortBy(StrEnum):
    """``--sort-by``: the empty default sorts by name; cpu and memory sort descending."""

    NAME = ""
    CPU = "cpu"
    MEMORY = "memory"


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_nano: int = 0
    memory_bytes: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.cpu_nano + other.cpu_nano, self.memory_bytes + other.memory_bytes)


@dataclass(frozen=True, slots=True)
class NodeMetrics:
    name: str
    usage: Usage
    timestamp_ms: int
    window_ms: int | None


@dataclass(frozen=True, slots=True)
class ContainerMetrics:
    name: str
    usage: Usage


@dataclass(frozen=True, slots=True)
class PodMetrics:
    """One pod's containers; ``node`` is where the kubelet that reported it runs ("" if the
    series do not say)."""

    namespace: str
    name: str
    node: str
    timestamp_ms: int
    window_ms: int | None
    containers: tuple[ContainerMetrics, ...]

    @property
    def usage(self) -> Usage:
        """The sum over containers (kubectl's ``getPodMetrics``)."""
        total = Usage()
        for c in self.containers:
            total += c.usage
        return total


@dataclass(frozen=True, slots=True)
class Available:
    """A node's allocatable (or capacity) as milli-values; ``None`` where it is not known."""

    cpu_milli: int | None = None
    memory_milli: int | None = None


@dataclass(frozen=True, slots=True)
class PodRecord:
    """A pod as kube-state-metrics describes it (for kubectl's checks when metrics are
    missing): ``created_s`` is its creation time (Unix seconds), ``None`` if unknown."""

    namespace: str
    name: str
    node: str
    created_s: float | None


@dataclass(frozen=True, slots=True)
class Quantities:
    """CPU in millicores and memory in bytes, as a pod spec sets them; ``None`` if unset."""

    cpu_milli: int | None = None
    memory_bytes: int | None = None


def _sum(values: list[int | None], *, all_needed: bool) -> int | None:
    known = [v for v in values if v is not None]
    if not known or (all_needed and len(known) < len(values)):
        return None
    return sum(known)


@dataclass(frozen=True, slots=True)
class RequestsLimits:
    """A container's (or a sum's) resource requests and limits."""

    requests: Quantities = Quantities()
    limits: Quantities = Quantities()

    @staticmethod
    def pod(containers: list[RequestsLimits]) -> RequestsLimits:
        """A pod's: requests add up over the containers that set them; a limit holds only
        if every container sets it (one unlimited container leaves the pod unlimited)."""
        return RequestsLimits(
            Quantities(
                _sum([c.requests.cpu_milli for c in containers], all_needed=False),
                _sum([c.requests.memory_bytes for c in containers], all_needed=False),
            ),
            Quantities(
                _sum([c.limits.cpu_milli for c in containers], all_needed=True),
                _sum([c.limits.memory_bytes for c in containers], all_needed=True),
            ),
        )

    @staticmethod
    def total(items: list[RequestsLimits]) -> RequestsLimits:
        """A node's: every set request and limit added up (``kubectl describe node``)."""
        return RequestsLimits(
            Quantities(
                _sum([c.requests.cpu_milli for c in items], all_needed=False),
                _sum([c.requests.memory_bytes for c in items], all_needed=False),
            ),
            Quantities(
                _sum([c.limits.cpu_milli for c in items], all_needed=False),
                _sum([c.limits.memory_bytes for c in items], all_needed=False),
            ),
        )


@dataclass(frozen=True, slots=True)
class Extras:
    """Columns beyond kubectl's: ``wide`` adds requests and limits next to usage (and NODE
    for pods); ``utilization`` adds usage as a percentage of requests and of limits."""

    wide: bool = False
    utilization: bool = False

    @property
    def any(self) -> bool:
        return self.wide or self.utilization
