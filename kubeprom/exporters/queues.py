"""The message queues of queue-worker Deployments, as columns (one entry per Deployment).

A Deployment with a ``queue`` (:class:`~kubeprom.config.cluster.QueueSpec`) does not receive
its load directly: its load is the messages published to the queue per second, and its
ready pods consume them, each up to ``consume_rate`` messages per second. The cluster model
owns one :class:`QueueTable` and, like the container table, fixes its rates once per tick
(:meth:`QueueTable.serve`, at every tick boundary and whenever the ready pods change) and
integrates them over any ``dt`` (:meth:`QueueTable.integrate`), so a backlog read between
ticks is exact and does not depend on how often the model was advanced.

Fluid model, per queue, for the rest of the tick (``horizon_s``): with arrivals ``a``,
``n`` ready pods and backlog ``B``, the pods process ``p = min(n * rate, a + B / horizon)``
messages per second (all they can, or all there is, so the queue drains exactly to 0 at the
tick's end rather than below it), and the backlog moves at ``a - p``. The messages being
processed are ``p / rate`` (Little's law: a pod holds one message for ``1 / rate`` seconds,
prefetch 1). Deployments without a queue serve their load as it comes.

Not thread-safe: owned by the cluster model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from kubeprom.config.cluster import DeploymentSpec
from kubeprom.exporters.views import QueueInfo

F64 = NDArray[np.float64]


class QueueTable:
    """Backlogs and processing rates of every Deployment's queue; see the module docstring."""

    def __init__(self, deployments: Sequence[DeploymentSpec]) -> None:
        queues = [d.queue for d in deployments]
        self.has_queue = np.array([q is not None for q in queues], dtype=np.bool_)
        self.rate_per_pod = np.array([q.consume_rate if q else 0.0 for q in queues])
        #: Messages waiting (ready to be delivered), per Deployment.
        self.backlog = np.array([q.initial_messages if q else 0.0 for q in queues])
        #: Messages per second the ready pods process, and the backlog's rate of change.
        self.processed = np.zeros(len(queues))
        self.consumers = np.zeros(len(queues), dtype=np.int64)
        self._net = np.zeros(len(queues))

    @property
    def any(self) -> bool:
        return bool(self.has_queue.any())

    def serve(self, arrivals: F64, ready_pods: NDArray[np.int64], horizon_s: float) -> F64:
        """Fix the rates until the next tick boundary (``horizon_s`` away) and return what
        each Deployment's ready pods serve per second: what they process from the queue, or
        their ``arrivals`` (requests per second) when they have none."""
        if not self.any:
            return arrivals
        n = len(self.has_queue)
        arrivals = arrivals[:n]
        capacity = ready_pods[:n] * self.rate_per_pod
        drain = arrivals + self.backlog / horizon_s if horizon_s > 0 else arrivals
        processed = np.where(self.has_queue, np.minimum(capacity, drain), arrivals)
        self.processed = np.where(self.has_queue, processed, 0.0)
        self.consumers = np.where(self.has_queue, ready_pods[:n], 0)
        self._net = np.where(self.has_queue, arrivals - processed, 0.0)
        return processed

    def integrate(self, dt_s: float) -> None:
        """Move every backlog by its rate over ``dt_s`` seconds (never below 0: the rates
        are set to end a tick at 0 at the lowest, and float rounding may overshoot)."""
        if dt_s > 0 and self.any:
            self.backlog = np.maximum(self.backlog + self._net * dt_s, 0.0)

    def unacked(self) -> F64:
        """Messages being processed (delivered, not yet acknowledged), per Deployment."""
        out: F64 = np.zeros_like(self.processed)
        np.divide(self.processed, self.rate_per_pod, out=out, where=self.has_queue)
        return out

    def infos(self, deployments: Sequence[DeploymentSpec]) -> list[QueueInfo]:
        """Every queue now, sorted by vhost and name (``deployments`` in configuration
        order, as given to the constructor)."""
        unacked = self.unacked()
        out = [
            QueueInfo(
                d.queue.vhost,
                d.queue.name,
                d.namespace,
                d.name,
                float(self.backlog[i]),
                float(unacked[i]),
                int(self.consumers[i]),
            )
            for i, d in enumerate(deployments)
            if d.queue is not None
        ]
        out.sort(key=lambda q: (q.vhost, q.name))
        return out
