"""Alerting rules (``rules/alerting.go``): the alert state machine and ``ALERTS`` series.

Each sample of the expression's result is one alert instance, keyed by its label set (the
sample's labels without ``__name__``, the rule's labels expanded as templates on top, and
``alertname``). An instance is *pending* from the first evaluation that returns it
(``activeAt``), *firing* once it has been returned for ``for``, and *inactive* (resolved)
at the first evaluation that does not return it, unless it was firing and
``keep_firing_for`` has not passed since it was last returned. Pending instances that go
away are forgotten at once; resolved ones are kept (and re-sent) for 15 minutes.

The work per evaluation is per alert instance (dict lookups keyed by label set), never per
sample over steps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np

from kubeprom.model.labels import METRIC_NAME, Labels
from kubeprom.promql.api import QueryAPI, QueryResult
from kubeprom.rules.exprinfo import ALERTS_NAMES
from kubeprom.rules.rule import Rule, RuleEvalError, Vector, query_vector
from kubeprom.rules.templating import (
    AlertData,
    compiled_template,
    expand_or_error_text,
    has_actions,
)

log = logging.getLogger(__name__)

ALERT_METRIC_NAME = "ALERTS"
ALERT_FOR_STATE_METRIC_NAME = "ALERTS_FOR_STATE"
ALERT_NAME_LABEL = "alertname"
ALERT_STATE_LABEL = "alertstate"

RESOLVED_RETENTION_MS = 15 * 60_000  # how long resolved alerts are kept and re-sent


def annotation_set(pairs: Iterable[tuple[str, str]]) -> Labels:
    """Annotations as Prometheus keeps them: sorted by name, and unlike labels an empty
    value is kept (an annotation that expands to nothing is still there)."""
    return Labels.from_flat(tuple(x for n, v in sorted(pairs) for x in (n, v)))


class AlertState(StrEnum):
    UNKNOWN = "unknown"
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {AlertState.UNKNOWN: 0, AlertState.INACTIVE: 1, AlertState.PENDING: 2, AlertState.FIRING: 3}


@dataclass(slots=True)
class Alert:
    """One alert instance. Times are ms since the epoch; None is Go's zero time."""

    labels: Labels
    annotations: Labels
    state: AlertState
    value: float
    active_at_ms: int
    fired_at_ms: int | None = None
    resolved_at_ms: int | None = None
    last_sent_at_ms: int | None = None
    valid_until_ms: int | None = None
    keep_firing_since_ms: int | None = None
    series: dict[str, Labels] = field(default_factory=dict, repr=False, compare=False)

    def needs_sending(self, t_ms: int, resend_delay_ms: int) -> bool:
        if self.state is AlertState.PENDING:
            return False
        if self.resolved_at_ms is not None and (
            self.last_sent_at_ms is None or self.resolved_at_ms > self.last_sent_at_ms
        ):
            return True
        return self.last_sent_at_ms is None or self.last_sent_at_ms + resend_delay_ms < t_ms


class AlertingRule(Rule):
    """``alert: NAME`` + ``expr`` + ``for`` + ``keep_firing_for`` + labels + annotations.

    ``restored`` is False until the group has restored the ``for`` state after a restart;
    until then no ``ALERTS``/``ALERTS_FOR_STATE`` samples are written (Prometheus' rule).
    """

    kind = "alerting"

    def __init__(
        self,
        name: str,
        expr: str,
        *,
        for_ms: int = 0,
        keep_firing_for_ms: int = 0,
        labels: Labels,
        annotations: Labels,
        external_labels: Mapping[str, str],
        external_url: str = "",
        restored: bool = True,
    ) -> None:
        super().__init__(name, expr, labels)
        self.for_ms = for_ms
        self.keep_firing_for_ms = keep_firing_for_ms
        self.annotations = annotations
        self.external_labels = dict(external_labels)
        self.external_url = external_url
        self.restored = restored
        self.active: dict[Labels, Alert] = {}
        self._templated_labels = any(has_actions(v) for _, v in labels)
        self._static_annotations = not any(has_actions(v) for _, v in annotations)
        # Parsed once per rule, expanded per alert.
        self._templates = {
            text: compiled_template(text, name)
            for _, text in (*labels, *annotations)
            if has_actions(text)
        }
        self._alert_labels: dict[Labels, Labels] = {}

    # ---- one evaluation ------------------------------------------------------------------------
    def output_names(self) -> frozenset[str]:
        return ALERTS_NAMES

    def evaluate(self, t_ms: int, query_offset_ms: int, query: QueryAPI, limit: int) -> Vector:
        vec = query_vector(query, self.expr, t_ms - query_offset_ms)
        found: dict[Labels, Alert] = {}
        for lab, value in zip(vec.labels, vec.values.tolist(), strict=True):
            labels, annotations = self.instance(lab, value, t_ms, query)
            if labels in found:
                raise RuleEvalError(
                    "vector contains metrics with the same labelset after applying alert labels"
                )
            found[labels] = Alert(labels, annotations, AlertState.PENDING, value, t_ms)
        active = self.active
        for labels, a in found.items():
            old = active.get(labels)
            if old is not None and old.state is not AlertState.INACTIVE:
                old.value, old.annotations = a.value, a.annotations
            else:
                active[labels] = a
        out_labels: list[Labels] = []
        out_values: list[float] = []
        n_active = 0
        for labels, a in list(active.items()):
            if labels not in found:
                keep = False
                if a.state is AlertState.FIRING and self.keep_firing_for_ms > 0:
                    if a.keep_firing_since_ms is None:
                        a.keep_firing_since_ms = t_ms
                    keep = t_ms - a.keep_firing_since_ms < self.keep_firing_for_ms
                if a.state is AlertState.PENDING or (
                    a.resolved_at_ms is not None and t_ms - a.resolved_at_ms > RESOLVED_RETENTION_MS
                ):
                    del active[labels]
                if a.state is not AlertState.INACTIVE and not keep:
                    a.state = AlertState.INACTIVE
                    a.resolved_at_ms = t_ms
                if not keep:
                    continue
            else:
                a.keep_firing_since_ms = None
            n_active += 1
            if a.state is AlertState.PENDING and t_ms - a.active_at_ms >= self.for_ms:
                a.state = AlertState.FIRING
                a.fired_at_ms = t_ms
            if a.state is AlertState.FIRING and t_ms - a.active_at_ms < self.for_ms:
                # A restored activeAt can move a firing alert back to pending.
                a.state = AlertState.PENDING
                a.fired_at_ms = a.last_sent_at_ms = a.keep_firing_since_ms = None
            if self.restored:
                out_labels.append(self._series(a, ALERT_METRIC_NAME))
                out_values.append(1.0)
                out_labels.append(self._series(a, ALERT_FOR_STATE_METRIC_NAME))
                out_values.append(float(a.active_at_ms // 1000))
        if limit > 0 and n_active > limit:
            self.active = {}
            raise RuleEvalError(f"exceeded limit of {limit} with {n_active} alerts")
        return Vector(out_labels, np.array(out_values, dtype=np.float64))

    def instance(
        self, sample: Labels, value: float, t_ms: int, query: QueryAPI
    ) -> tuple[Labels, Labels]:
        """The alert labels and annotations for one result sample."""
        if not self._templated_labels and self._static_annotations:
            labels = self._alert_labels.get(sample)
            if labels is None:
                if len(self._alert_labels) > 10_000:
                    self._alert_labels.clear()
                labels = self._alert_labels[sample] = self._labels_for(sample, lambda v: v)
            return labels, self.annotations
        data = AlertData(
            self.name, sample.to_dict(), value, self.external_labels, self.external_url, t_ms
        )

        def run_query(q: str) -> QueryResult:
            return query.instant(q, t_ms)

        def expand(text: str) -> str:
            template = self._templates.get(text)
            if template is None:
                return text
            return expand_or_error_text(template, data, run_query)

        annotations = annotation_set((n, expand(v)) for n, v in self.annotations)
        return self._labels_for(sample, expand), annotations

    def _labels_for(self, sample: Labels, expand: Callable[[str], str]) -> Labels:
        merged = sample.without(METRIC_NAME).to_dict()
        for n, v in self.labels:
            merged[n] = expand(v)
        merged[ALERT_NAME_LABEL] = self.name
        return Labels(merged.items())

    def _series(self, a: Alert, metric: str) -> Labels:
        """``ALERTS{alertstate=...}`` / ``ALERTS_FOR_STATE`` labels of an alert (cached)."""
        key = a.state.value if metric == ALERT_METRIC_NAME else metric
        cached = a.series.get(key)
        if cached is None:
            # The rule's labels (as written) under the alert's: a label whose template
            # expanded to "" keeps its unexpanded text here, as in Prometheus.
            merged = self.labels.to_dict()
            merged.update(a.labels.to_dict())
            merged[METRIC_NAME] = metric
            merged[ALERT_NAME_LABEL] = self.name
            if metric == ALERT_METRIC_NAME:
                merged[ALERT_STATE_LABEL] = a.state.value
            cached = a.series[key] = Labels(merged.items())
        return cached

    # ---- views ---------------------------------------------------------------------------------
    def state(self) -> AlertState:
        """The highest state of the rule's alerts; unknown before the first evaluation."""
        if self.last_eval_ms is None:
            return AlertState.UNKNOWN
        best = AlertState.INACTIVE
        for a in self.active.values():
            if a.state.rank > best.rank:
                best = a.state
        return best

    def active_alerts(self) -> list[Alert]:
        """Copies of the alerts that are pending or firing (resolved ones left out)."""
        return [replace(a, series={}) for a in self.active.values() if a.resolved_at_ms is None]

    def alerts_to_send(self, t_ms: int, resend_delay_ms: int, interval_ms: int) -> list[Alert]:
        """Alerts due to be sent at ``t_ms`` (marked sent, ``valid_until`` set), as copies."""
        out = []
        delta = max(interval_ms, resend_delay_ms)
        for a in self.active.values():
            if a.needs_sending(t_ms, resend_delay_ms):
                a.last_sent_at_ms = t_ms
                a.valid_until_ms = t_ms + 4 * delta
                out.append(replace(a, series={}))
        return out

    def same_definition(self, other: Rule) -> bool:
        return (
            super().same_definition(other)
            and isinstance(other, AlertingRule)
            and (self.for_ms, self.keep_firing_for_ms, self.annotations)
            == (other.for_ms, other.keep_firing_for_ms, other.annotations)
        )

    def for_state_matchers(self) -> dict[str, str]:
        """Label values that select this rule's ``ALERTS_FOR_STATE`` series (templated rule
        labels left out, as ``QueryForStateSeries``)."""
        out = {n: v for n, v in self.labels if "{{" not in v}
        out[METRIC_NAME] = ALERT_FOR_STATE_METRIC_NAME
        out[ALERT_NAME_LABEL] = self.name
        return out
