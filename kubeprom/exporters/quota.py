"""ResourceQuota admission for the simulated cluster's pods, worded as the API server words it.

:func:`pod_usage` is what the quota's pod evaluator counts for one pod (``pods``, the
``requests.*`` and ``limits.*`` sums of its containers, ``cpu``/``memory`` as aliases of the
requests); :func:`admit` checks a new pod against every quota of its namespace, given what
the namespace's pods already use, and returns the API server's refusal or None:

* ``failed quota: compute: must specify limits.cpu for: app; requests.memory for: app``
  when a quota limits a compute resource that a container does not set (the evaluator's
  ``Constraints``);
* ``exceeded quota: compute, requested: pods=1, used: pods=10, limited: pods=10`` when the
  new usage would pass a hard limit (only the resources that would, sorted by name).

Quantities print as apimachinery prints them: CPU in DecimalSI (``500m``, ``2``), memory in
BinarySI when it is a whole number of KiB (``1536Mi``), else DecimalSI; hard limits as the
quota wrote them, canonicalised. Quotas are checked in name order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction

from kubeprom.config.cluster import ContainerSpec, ResourceQuotaSpec
from kubeprom.model.quantity import QuantityFormat, canonical_text, format_quantity

Usage = Mapping[str, Fraction]

_COMPUTE = ("cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory")
_NANO = 10**9


def _cores(value: float) -> Fraction:
    """A CPU amount read as a float, back to the exact nano-core quantity it was written as."""
    return Fraction(round(value * _NANO), _NANO)


def _bytes(value: float) -> Fraction:
    return Fraction(round(value))


def pod_usage(containers: Iterable[ContainerSpec]) -> dict[str, Fraction]:
    """What one pod with these containers counts against a quota (unset amounts add 0)."""
    req_cpu = req_mem = lim_cpu = lim_mem = Fraction(0)
    for c in containers:
        req_cpu += _cores(c.requests.cpu or 0.0)
        req_mem += _bytes(c.requests.memory or 0.0)
        lim_cpu += _cores(c.limits.cpu or 0.0)
        lim_mem += _bytes(c.limits.memory or 0.0)
    return {
        "pods": Fraction(1),
        "cpu": req_cpu,
        "requests.cpu": req_cpu,
        "memory": req_mem,
        "requests.memory": req_mem,
        "limits.cpu": lim_cpu,
        "limits.memory": lim_mem,
    }


def add_usage(total: dict[str, Fraction], usage: Usage, sign: int = 1) -> None:
    """``total += sign * usage``, in place."""
    for name, value in usage.items():
        total[name] = total.get(name, Fraction(0)) + sign * value


def _text(resource: str, value: Fraction) -> str:
    if resource.endswith("memory") and value.denominator == 1 and value % 1024 == 0:
        return format_quantity(value, QuantityFormat.BINARY_SI)
    return format_quantity(value, QuantityFormat.DECIMAL_SI)


def _pretty(items: Mapping[str, str]) -> str:
    """``prettyPrint``: ``name=quantity`` pairs sorted by name, comma-joined."""
    return ",".join(f"{k}={items[k]}" for k in sorted(items))


def _missing(quota: ResourceQuotaSpec, containers: Iterable[ContainerSpec]) -> str | None:
    """The evaluator's ``Constraints``: compute resources the quota limits that a container
    does not set, as ``must specify limits.cpu for: a,b; requests.memory for: a``."""
    limited = {name for name, _ in quota.hard} & set(_COMPUTE)
    missing: dict[str, set[str]] = {}
    for c in containers:
        for resource in limited:
            kind, _, res = resource.rpartition(".")
            resources = c.limits if kind == "limits" else c.requests
            if getattr(resources, res) is None:
                missing.setdefault(resource, set()).add(c.name)
    if not missing:
        return None
    parts = [f"{r} for: {','.join(sorted(missing[r]))}" for r in sorted(missing)]
    return "must specify " + "; ".join(parts)


def admit(
    quotas: Iterable[ResourceQuotaSpec],
    containers: tuple[ContainerSpec, ...],
    used: Usage,
) -> str | None:
    """Whether a new pod with ``containers`` may be created in a namespace whose quotas are
    ``quotas`` and whose pods use ``used``; returns the refusal (without the ``pods "name"
    is forbidden:`` prefix) or None."""
    ordered = sorted(quotas, key=lambda q: q.name)
    for quota in ordered:
        missing = _missing(quota, containers)
        if missing is not None:
            return f"failed quota: {quota.name}: {missing}"
    requested = pod_usage(containers)
    for quota in ordered:
        hard = dict(quota.hard)
        exceeded = sorted(
            name
            for name, limit in hard.items()
            if used.get(name, Fraction(0)) + requested[name] > limit.value
        )
        if exceeded:
            req = {n: _text(n, requested[n]) for n in exceeded}
            now = {n: _text(n, used.get(n, Fraction(0))) for n in exceeded}
            lim = {n: canonical_text(hard[n]) for n in exceeded}
            return (
                f"exceeded quota: {quota.name}, requested: {_pretty(req)}, "
                f"used: {_pretty(now)}, limited: {_pretty(lim)}"
            )
    return None
