"""The rule manager's self-metrics, named as Prometheus names them (``rules/group.go``).

A collector over the running groups: read at scrape time, so a removed group's series go
away with it, as Prometheus deletes their label values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector

from kubeprom.rules.group import Group, GroupStats
from kubeprom.rules.notifier import Notifier

_COUNTERS: tuple[tuple[str, str, Callable[[GroupStats], float]], ...] = (
    (
        "prometheus_rule_group_iterations_missed",
        "The total number of rule group evaluations missed due to slow rule group evaluation.",
        lambda s: s.iterations_missed_total,
    ),
    (
        "prometheus_rule_group_iterations",
        "The total number of scheduled rule group evaluations, whether executed or missed.",
        lambda s: s.iterations_total,
    ),
    (
        "prometheus_rule_evaluations",
        "The total number of rule evaluations.",
        lambda s: s.evaluations_total,
    ),
    (
        "prometheus_rule_evaluation_failures",
        "The total number of rule evaluation failures.",
        lambda s: s.evaluation_failures_total,
    ),
)

_GAUGES: tuple[tuple[str, str, Callable[[Group], float]], ...] = (
    (
        "prometheus_rule_group_interval_seconds",
        "The interval of a rule group.",
        lambda g: g.interval_ms / 1000,
    ),
    (
        "prometheus_rule_group_last_evaluation_timestamp_seconds",
        "The timestamp of the last rule group evaluation in seconds.",
        lambda g: (g.stats.last_eval_ms or 0) / 1000,
    ),
    (
        "prometheus_rule_group_last_duration_seconds",
        "The duration of the last rule group evaluation.",
        lambda g: g.stats.last_duration_s,
    ),
    (
        "prometheus_rule_group_last_rule_duration_sum_seconds",
        "The sum of time in seconds it took to evaluate each rule in the group regardless of "
        "concurrency. This should be higher than the group duration if rules are evaluated "
        "concurrently.",
        lambda g: g.stats.last_rule_duration_sum_s,
    ),
    (
        "prometheus_rule_group_last_restore_duration_seconds",
        "The duration of the last alert rules alerts restoration using the `ALERTS_FOR_STATE` "
        "series.",
        lambda g: g.stats.last_restore_duration_s,
    ),
    ("prometheus_rule_group_rules", "The number of rules.", lambda g: len(g.rules)),
    (
        "prometheus_rule_group_last_evaluation_samples",
        "The number of samples returned during the last rule group evaluation.",
        lambda g: g.stats.last_samples,
    ),
)


class RulesCollector(Collector):
    """Collects the metrics of ``groups()`` (the manager's running groups)."""

    def __init__(self, groups: Callable[[], list[Group]]) -> None:
        self._groups = groups

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | SummaryMetricFamily]:
        groups = self._groups()
        evals = sum(g.stats.evaluations_total for g in groups)
        yield SummaryMetricFamily(
            "prometheus_rule_evaluation_duration_seconds",
            "The duration for a rule to execute.",
            count_value=evals,
            sum_value=sum(g.stats.rule_eval_seconds_sum for g in groups),
        )
        yield SummaryMetricFamily(
            "prometheus_rule_group_duration_seconds",
            "The duration of rule group evaluations.",
            count_value=sum(
                g.stats.iterations_total - g.stats.iterations_missed_total for g in groups
            ),
            sum_value=sum(g.stats.iteration_seconds_sum for g in groups),
        )
        for name, help_text, read in _COUNTERS:
            c = CounterMetricFamily(name, help_text, labels=["rule_group"])
            for g in groups:
                c.add_metric([g.key], read(g.stats))
            yield c
        for name, help_text, gread in _GAUGES:
            gauge = GaugeMetricFamily(name, help_text, labels=["rule_group"])
            for g in groups:
                gauge.add_metric([g.key], gread(g))
            yield gauge


class NotifierCollector(Collector):
    """``prometheus_notifications_*`` of a notifier (per Alertmanager URL)."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | SummaryMetricFamily]:
        n = self._notifier
        loops = n.loops()
        label = ["alertmanager"]
        latency = SummaryMetricFamily(
            "prometheus_notifications_latency_seconds",
            "Latency quantiles for sending alert notifications.",
            labels=label,
        )
        errors = CounterMetricFamily(
            "prometheus_notifications_errors",
            "Total number of sent alerts affected by errors.",
            labels=label,
        )
        sent = CounterMetricFamily(
            "prometheus_notifications_sent", "Total number of alerts sent.", labels=label
        )
        dropped = CounterMetricFamily(
            "prometheus_notifications_dropped",
            "Total number of alerts dropped due to errors when sending to Alertmanager.",
            labels=label,
        )
        length = GaugeMetricFamily(
            "prometheus_notifications_queue_length",
            "The number of alert notifications in the queue.",
            labels=label,
        )
        for loop in loops:
            st = loop.stats
            latency.add_metric([loop.url], st.latency_count, st.latency_sum_s)
            errors.add_metric([loop.url], st.errors)
            sent.add_metric([loop.url], st.sent)
            dropped.add_metric([loop.url], st.dropped)
            length.add_metric([loop.url], len(loop.queue))
        yield from (latency, errors, sent, dropped, length)
        yield GaugeMetricFamily(
            "prometheus_notifications_queue_capacity",
            "The capacity of the alert notifications queue.",
            value=n.queue_capacity,
        )
        yield GaugeMetricFamily(
            "prometheus_notifications_alertmanagers_discovered",
            "The number of alertmanagers discovered and active.",
            value=len(loops),
        )
