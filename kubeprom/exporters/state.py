"""Numeric state of every container instance, as columns (one row per container slot).

The cluster model owns one :class:`ContainerTable`. Each tick it calls :meth:`compute_rates`
once (all containers at once, no per-container Python) to fix the rates that hold until the
next tick; :meth:`integrate` then adds ``rate * dt`` to the counters for any ``dt``, so a
counter read between ticks is exact for piecewise-constant rates. Rows are reused after a pod
is deleted; :meth:`reset` clears a row for a new container instance but keeps the pod-level
network counters of the row (a pod's network belongs to its sandbox, not to a container).

Not thread-safe; the model is driven from one thread (or one event loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from kubeprom.exporters.ids import normal_noise

F64 = NDArray[np.float64]

#: Columns of :attr:`ContainerTable.counters` and :attr:`ContainerTable.rates`.
CPU, PERIODS, THROTTLED_PERIODS, THROTTLED_S, RX, TX = range(6)
N_COUNTERS = 6
#: The kernel's default CFS period (``cpu.cfs_period_us`` = 100000).
CFS_PERIOD_S = 0.1
_INITIAL_ROWS = 64
_SECONDS_PER_HOUR = 3600.0
_FLOAT_COLUMNS = (
    "cpu_limit",
    "memory_limit",
    "baseline_cpu",
    "cpu_per_request",
    "baseline_memory",
    "memory_per_rps",
    "leak_per_s",
    "rx_per_request",
    "tx_per_request",
    "noise",
    "leak_since_s",
    "memory",
    "counters",
    "rates",
)
_COLUMNS: dict[str, tuple[type, object]] = {
    "in_use": (np.bool_, False),
    "running": (np.bool_, False),
    "pod_ready": (np.bool_, False),
    "first_in_pod": (np.bool_, False),
    "deployment": (np.int64, 0),
    "node": (np.int64, -1),
    "key": (np.uint64, 0),
} | dict.fromkeys(_FLOAT_COLUMNS, (np.float64, 0.0))


@dataclass(frozen=True, slots=True)
class RowParams:
    """What a container costs and may use; limits are ``inf`` when unset."""

    deployment: int
    first_in_pod: bool
    cpu_limit: float
    memory_limit: float
    baseline_cpu: float
    cpu_per_request: float
    baseline_memory: float
    memory_per_rps: float
    leak_per_s: float
    rx_per_request: float
    tx_per_request: float
    noise: float


class ContainerTable:
    """Columns of container state; see the module docstring for the contract."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._free: list[int] = []
        self.size = 0
        self._alloc(_INITIAL_ROWS)

    def _alloc(self, rows: int) -> None:
        """Grow every column to ``rows`` rows, keeping the contents."""
        for name, (dtype, fill) in _COLUMNS.items():
            old: NDArray[np.generic] | None = getattr(self, name, None)
            shape = (rows, N_COUNTERS) if name in ("counters", "rates") else (rows,)
            new: NDArray[np.generic] = np.full(shape, fill, dtype=dtype)
            if old is not None:
                new[: len(old)] = old
            setattr(self, name, new)

    # The column attributes, for type checkers.
    in_use: NDArray[np.bool_]
    running: NDArray[np.bool_]
    pod_ready: NDArray[np.bool_]
    first_in_pod: NDArray[np.bool_]
    deployment: NDArray[np.int64]
    node: NDArray[np.int64]
    key: NDArray[np.uint64]
    cpu_limit: F64
    memory_limit: F64
    baseline_cpu: F64
    cpu_per_request: F64
    baseline_memory: F64
    memory_per_rps: F64
    leak_per_s: F64
    rx_per_request: F64
    tx_per_request: F64
    noise: F64
    leak_since_s: F64
    memory: F64
    counters: F64
    rates: F64

    def add(self, params: RowParams, node: int) -> int:
        """A fresh row for a new pod's container; returns its index."""
        if self._free:
            row = self._free.pop()
        else:
            if self.size == len(self.in_use):
                self._alloc(2 * self.size)
            row = self.size
            self.size += 1
        self.in_use[row] = True
        self.node[row] = node
        self.deployment[row] = params.deployment
        self.first_in_pod[row] = params.first_in_pod
        self.cpu_limit[row] = params.cpu_limit
        self.memory_limit[row] = params.memory_limit
        self.baseline_cpu[row] = params.baseline_cpu
        self.cpu_per_request[row] = params.cpu_per_request
        self.baseline_memory[row] = params.baseline_memory
        self.memory_per_rps[row] = params.memory_per_rps
        self.leak_per_s[row] = params.leak_per_s
        self.rx_per_request[row] = params.rx_per_request
        self.tx_per_request[row] = params.tx_per_request
        self.noise[row] = params.noise
        self.counters[row] = 0.0
        self.stop(row)
        return row

    def free(self, row: int) -> None:
        self.stop(row)
        self.in_use[row] = False
        self.node[row] = -1
        self.counters[row] = 0.0
        self._free.append(row)

    def start(self, row: int, key: int, leak_since_s: float) -> None:
        """A new container instance starts in ``row``: container counters restart at 0."""
        self.running[row] = True
        self.key[row] = key
        self.leak_since_s[row] = leak_since_s
        self.counters[row, CPU:RX] = 0.0

    def stop(self, row: int) -> None:
        self.running[row] = False
        self.pod_ready[row] = False
        self.rates[row] = 0.0
        self.memory[row] = 0.0

    def compute_rates(self, t_s: float, tick: int, rps: F64, ready_pods: NDArray[np.int64]) -> None:
        """Fix every container's rates for the tick starting at ``t_s``.

        ``rps[d]`` is deployment ``d``'s load, spread evenly over its ``ready_pods[d]`` ready
        pods; containers of pods that are not ready serve nothing but still burn their baseline.
        """
        n = self.size
        run = self.running[:n]
        dep = self.deployment[:n]
        share = np.where(self.pod_ready[:n], rps[dep] / np.maximum(ready_pods[dep], 1), 0.0)
        z = normal_noise(self.seed, self.key[:n], tick)
        jitter = np.maximum(1.0 + self.noise[:n] * z, 0.0)
        demand = (self.baseline_cpu[:n] + self.cpu_per_request[:n] * share) * jitter
        demand = np.where(run, demand, 0.0)
        limit = self.cpu_limit[:n]
        quota = run & np.isfinite(limit)
        rates = self.rates[:n]
        rates[:, CPU] = np.minimum(demand, limit)
        # cAdvisor counts periods only where a quota is set; a tick whose demand exceeds the
        # quota is throttled in every period, and the unmet demand is the throttled time.
        rates[:, PERIODS] = np.where(quota, 1.0 / CFS_PERIOD_S, 0.0)
        over = quota & (demand > limit)
        rates[:, THROTTLED_PERIODS] = np.where(over, 1.0 / CFS_PERIOD_S, 0.0)
        rates[:, THROTTLED_S] = np.where(over, demand - np.where(over, limit, 0.0), 0.0)
        net = self.first_in_pod[:n]
        rates[:, RX] = np.where(net, share * self.rx_per_request[:n], 0.0)
        rates[:, TX] = np.where(net, share * self.tx_per_request[:n], 0.0)
        leaked = self.leak_per_s[:n] * np.maximum(t_s - self.leak_since_s[:n], 0.0)
        memory = self.baseline_memory[:n] + self.memory_per_rps[:n] * share + leaked
        self.memory[:n] = np.where(run, memory, 0.0)

    def over_memory_limit(self) -> NDArray[np.intp]:
        """Rows of running containers whose working set passed their memory limit."""
        n = self.size
        return np.flatnonzero(self.running[:n] & (self.memory[:n] > self.memory_limit[:n]))

    def integrate(self, dt_s: float) -> None:
        """Advance every counter by its rate over ``dt_s`` seconds."""
        if dt_s > 0:
            n = self.size
            self.counters[:n] += self.rates[:n] * dt_s

    def node_sums(self, nodes: int) -> tuple[F64, F64]:
        """Per node: CPU rate (cores) and memory working set (bytes) of all its containers."""
        n = self.size
        on_node = self.node[:n] >= 0
        idx = self.node[:n][on_node]
        cpu = np.bincount(idx, weights=self.rates[:n, CPU][on_node], minlength=nodes)
        mem = np.bincount(idx, weights=self.memory[:n][on_node], minlength=nodes)
        return cpu.astype(np.float64), mem.astype(np.float64)


def leak_per_second(per_hour: float) -> float:
    return per_hour / _SECONDS_PER_HOUR
