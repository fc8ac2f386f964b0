"""Replayed load: each Deployment's requests per second taken from recorded series.

The scenario's ``simulation.replay`` section::

    replay:
      source: ./recorded-data          # a kubeprom data directory, or http(s)://host:9090
      from: 2026-11-30T00:00:00Z       # the recorded time the simulation's start maps to
      step: 1m                         # resolution of the range query (default 1m)
      deployments:                     # a PromQL expression per Deployment (ns/name or name)
        web: sum(rate(http_requests_total{app="web"}[5m]))

Each expression is evaluated as a range query over ``[from, from + duration]`` and must give
one series (aggregate it); its points become the Deployment's load (a ``csv`` profile that
does not loop, linear between points, gaps bridged, the cost fields of the written
``load`` kept). What answers the queries is handed in by the caller as a
:class:`~kubeprom.promql.api.QueryAPI` per source (:data:`Opener`): a data directory's
store or any Prometheus-compatible server.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace

import numpy as np
import yaml

from kubeprom.config.cluster import ClusterSpec, LoadType
from kubeprom.config.nodes import Fields, error, scalar_str
from kubeprom.errors import ConfigError, KubepromError
from kubeprom.model.timeutil import parse_rfc3339_ms
from kubeprom.promql.api import QueryAPI

Opener = Callable[[str], AbstractContextManager[QueryAPI]]
"""``open(source)``: the query API of a data directory or server URL, as a context."""

_FIELDS = frozenset({"source", "from", "step", "deployments"})
DEFAULT_STEP_MS = 60_000


@dataclass(frozen=True, slots=True)
class ReplayLoad:
    namespace: str
    name: str
    expr: str
    node: yaml.Node  # where the expression is written, for errors


@dataclass(frozen=True, slots=True)
class ReplaySpec:
    source: str
    from_ms: int
    step_ms: int
    loads: tuple[ReplayLoad, ...]
    file: str


def parse_replay(node: yaml.Node, file: str, base_dir: str | None, path: str) -> ReplaySpec:
    """The ``replay`` section; raises ConfigError with positions."""
    f = Fields(node, file, path, "replay", _FIELDS)
    for key in ("source", "from", "deployments"):
        if key not in f:
            raise f.fail(None, f"{key} is required")
    source = f.string("source")
    if "://" not in source and base_dir is not None and not source.startswith("/"):
        source = f"{base_dir}/{source}"
    text = f.string("from")
    try:
        from_ms = parse_rfc3339_ms(text)
    except ValueError as err:
        raise f.fail("from", f"{text!r} is not an RFC 3339 time: {err}") from err
    step = f.duration_ms("step", DEFAULT_STEP_MS)
    if step <= 0:
        raise f.fail("step", "must be positive")
    loads = []
    for name, key_node, value_node in f.pairs("deployments"):
        namespace, _, short = name.rpartition("/")
        expr = scalar_str(value_node, file, f"{f.sub('deployments')}.{name}")
        loads.append(ReplayLoad(namespace or "default", short, expr, key_node))
    return ReplaySpec(source, from_ms, step, tuple(loads), file)


def apply_replay(
    cluster: ClusterSpec, spec: ReplaySpec, duration_ms: int, api: QueryAPI
) -> ClusterSpec:
    """The cluster with each replayed Deployment's load read from ``api``."""
    by_name = {(d.namespace, d.name): i for i, d in enumerate(cluster.deployments)}
    check_targets(cluster, spec)
    deployments = list(cluster.deployments)
    for load in spec.loads:
        where = f"simulation.replay.deployments.{load.name}"
        index = by_name[(load.namespace, load.name)]
        try:
            result = api.range(load.expr, spec.from_ms, spec.from_ms + duration_ms, spec.step_ms)
        except KubepromError as err:
            raise error(load.node, spec.file, where, f"{spec.source}: {err}") from err
        series = list(result.series())
        if len(series) != 1:
            raise error(
                load.node,
                spec.file,
                where,
                f"{load.expr!r} gave {len(series)} series from {spec.source}, expected one "
                "(aggregate it, e.g. with sum)",
            )
        _, ts, values = series[0]
        ok = np.isfinite(values)
        if not ok.any():
            raise error(load.node, spec.file, where, f"{load.expr!r} has no values there")
        times = (ts[ok] - spec.from_ms) / 1000
        written = deployments[index].load
        deployments[index] = replace(
            deployments[index],
            load=replace(
                written,
                type=LoadType.CSV,
                csv_times_s=tuple(times.tolist()),
                csv_rps=tuple(np.maximum(values[ok], 0.0).tolist()),
                loop=False,
            ),
        )
    return replace(cluster, deployments=tuple(deployments))


def check_targets(cluster: ClusterSpec, spec: ReplaySpec) -> None:
    """Every replayed Deployment is one of the cluster's; raises ConfigError at the first."""
    names = {(d.namespace, d.name) for d in cluster.deployments}
    for load in spec.loads:
        if (load.namespace, load.name) not in names:
            raise error(
                load.node,
                spec.file,
                f"simulation.replay.deployments.{load.name}",
                f"no Deployment {load.namespace}/{load.name} in the cluster",
            )


def replayed(
    cluster: ClusterSpec, spec: ReplaySpec, duration_ms: int, opener: Opener | None
) -> ClusterSpec:
    """:func:`apply_replay` over the source ``opener`` opens; ConfigError without one."""
    if opener is None:
        raise ConfigError("replay needs a source reader", file=spec.file)
    check_targets(cluster, spec)
    with opener(spec.source) as api:
        return apply_replay(cluster, spec, duration_ms, api)
