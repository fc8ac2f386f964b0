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
from prometheus_client.metrics_core import UnknownMetricFamily

from kubeprom.exporters.families import gauge
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


class RabbitMQCollector:
    """The per-object metrics of every queue of ``cluster`` (see the module docstring)."""

    def __init__(self, cluster: ClusterView) -> None:
        self.cluster = cluster

    def collect(self) -> Iterator[Metric]:
        queues = self.cluster.queues()
        ready = gauge(
            "rabbitmq_queue_messages_ready", "Messages ready to be delivered to consumers", _QUEUE
        )
        unacked = gauge(
            "rabbitmq_queue_messages_unacked",
            "Messages delivered to consumers but not yet acknowledged",
            _QUEUE,
        )
        depth = gauge(
            "rabbitmq_queue_messages",
            "Sum of ready and unacknowledged messages - total queue depth",
            _QUEUE,
        )
        consumers = gauge("rabbitmq_queue_consumers", "Consumers on a queue", _QUEUE)
        for q in queues:
            labels = [q.vhost, q.name]
            n_ready = whole_messages(q.messages_ready)
            n_unacked = whole_messages(q.messages_unacked)
            ready.add_metric(labels, n_ready)
            unacked.add_metric(labels, n_unacked)
            depth.add_metric(labels, n_ready + n_unacked)
            consumers.add_metric(labels, float(q.consumers))
        yield from (ready, unacked, depth, consumers)
        total_queues = gauge("rabbitmq_queues", "Queues available")
        total_queues.add_metric([], float(len(queues)))
        total_consumers = gauge("rabbitmq_consumers", "Consumers currently connected")
        total_consumers.add_metric([], float(sum(q.consumers for q in queues)))
        identity = UnknownMetricFamily(
            "rabbitmq_identity_info",
            "RabbitMQ node & cluster identity info",
            labels=["rabbitmq_node", "rabbitmq_cluster"],
        )
        identity.add_metric([NODE, CLUSTER_NAME], 1.0)
        yield from (total_queues, total_consumers, identity)
