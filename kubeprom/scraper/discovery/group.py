"""The unit every discovery produces: Prometheus' ``targetgroup.Group``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TargetGroup:
    """Targets sharing ``labels``, identified by ``source`` within their discovery.

    Each target is a label set holding at least ``__address__``; a target's own labels win
    over the group's. A later group with the same ``source`` replaces the earlier one, and a
    group with no targets removes it. Treat the lists and dicts as read-only.
    """

    source: str
    targets: list[dict[str, str]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
