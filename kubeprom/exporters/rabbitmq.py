"""RabbitMQ's built-in Prometheus endpoint (the ``rabbitmq_prometheus`` plugin, port 15692)
for the queues of the simulated cluster's queue workers.

It serves ``/metrics/per-object``: one series per queue with the labels ``vhost`` and
``queue``, names, types and HELP texts as ``prometheus_rabbitmq_core_metrics_collector.erl``
writes them (``queue_coarse_metrics``: ``rabbitmq_queue_messages_ready``,
``rabbitmq_queue_messages_unacked``, ``rabbitmq_queue_messages``; ``queue_metrics``:
``rabbitmq_queue_consumers``), then the totals (``rabbitmq_queues``, ``rabbitmq_consumers``)
and ``rabbitmq_identity_info``. This is what KEDA users query, e.g.
``sum(rabbitmq_queue_messages_ready{queue="orders"})``. The broker runs outside the
Deployments it feeds, so a queue is exported with its backlog while no consumer pod runs.

The broker counts whole messages: the model's fluid amounts are printed rounded down (a
message counts once it has wholly arrived). Only the queue metrics of the plugin are
simulated; no node, channel or connection metrics. The collector never advances the model.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from prometheus_client.core import Metric

from kubeprom.exporters.columns import BlockBuilder, Columns, FamilySpec, ObjectColumns, to_metrics
from kubeprom.exporters.views import ClusterView

#: The plugin's port and per-object path, and the names the simulated broker goes by.
PORT = 15692
PATH = "/metrics/per-object"
SERVICE = "rabbitmq"
NAMESPACE = "default"
NODE = "rabbit@rabbitmq-server-0.rabbitmq-nodes.default"
CLUSTER_NAME = "rabbitmq"
_QUEUE = ("vhost", "queue")
#: Below a whole message by no more than float rounding still counts as the message.
_ROUNDING = 1e-9


def whole_messages(amount: float) -> float:
    """A fluid message count as the broker prints it: the whole messages in it."""
    return float(np.floor(amount + _ROUNDING))


_FAMILIES = (
    FamilySpec(
        "rabbitmq_queue_messages_ready",
        "gauge",
        "Messages ready to be delivered to consumers",
        _QUEUE,
    ),
    FamilySpec(
        "rabbitmq_queue_messages_unacked",
        "gauge",
        "Messages delivered to consumers but not yet acknowledged",
        _QUEUE,
    ),
    FamilySpec(
        "rabbitmq_queue_messages",
        "gauge",
        "Sum of ready and unacknowledged messages - total queue depth",
        _QUEUE,
    ),
    FamilySpec("rabbitmq_queue_consumers", "gauge", "Consumers on a queue", _QUEUE),
    FamilySpec("rabbitmq_queues", "gauge", "Queues available"),
    FamilySpec("rabbitmq_consumers", "gauge", "Consumers currently connected"),
    FamilySpec(
        "rabbitmq_identity_info",
        "unknown",
        "RabbitMQ node & cluster identity info",
        ("rabbitmq_node", "rabbitmq_cluster"),
    ),
)
_PER_QUEUE = 4  # the first four families have a series per queue
_TOTALS = 4  # then the broker's: queues, consumers, identity


class RabbitMQCollector:
    """The per-object metrics of every queue of ``cluster`` (see the module docstring), as
    columns: a block per queue and one for the broker."""

    def __init__(self, cluster: ClusterView) -> None:
        self.cluster = cluster
        self._objects = ObjectColumns(_FAMILIES)

    def collect(self) -> Iterator[Metric]:
        yield from to_metrics(self.columns())

    def columns(self) -> Columns:
        queues = self.cluster.queues()
        for q in queues:
            labels = (q.vhost, q.name)
            n_ready = whole_messages(q.messages_ready)
            n_unacked = whole_messages(q.messages_unacked)

            def series(b: BlockBuilder, labels: tuple[str, str] = labels) -> None:
                for family in range(_PER_QUEUE):
                    b.add(family, family, labels)

            values = [n_ready, n_unacked, n_ready + n_unacked, float(q.consumers)]
            self._objects.add(labels, series, values)
        totals = [float(len(queues)), float(sum(q.consumers for q in queues)), 1.0]
        self._objects.add(None, _broker_series, totals)
        return self._objects.columns()


def _broker_series(b: BlockBuilder) -> None:
    b.add(_TOTALS, 0, ())
    b.add(_TOTALS + 1, 1, ())
    b.add(_TOTALS + 2, 2, (NODE, CLUSTER_NAME))
