"""The one place rules use Go templates: checking and expanding alert labels and annotations.

Prometheus expands each label and annotation of an alerting rule as a Go ``text/template``
named ``__alert_<alertname>``, prefixed with the variable definitions
``$labels``/``$externalLabels``/``$externalURL``/``$value`` and given the alert's labels,
value, external labels and URL (``rules/alerting.go``). The engine is
:mod:`kubeprom.rules.template`; this module parses each text once per rule and adapts the
rule's query seam to the ``query`` template function.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kubeprom.errors import TemplateError
from kubeprom.promql.api import QueryResult, ResultType
from kubeprom.rules.template import ALERT_DEFS, AlertTemplate, expansion_error_text

log = logging.getLogger(__name__)

QueryFn = Callable[[str], QueryResult]
"""Runs an instant query at the alert's evaluation time (the ``query`` template function)."""


@dataclass(frozen=True, slots=True)
class AlertData:
    """What an alert template sees: ``$labels``, ``$value``, ``$externalLabels``,
    ``$externalURL``; ``t_ms`` is the evaluation time (``now``)."""

    alert_name: str
    labels: Mapping[str, str]
    value: float
    external_labels: Mapping[str, str]
    external_url: str
    t_ms: int


@dataclass(frozen=True, slots=True)
class _Sample:
    labels: Mapping[str, str]
    value: float


def has_actions(text: str) -> bool:
    """Whether ``text`` needs the template engine at all (no ``{{``: it expands to itself)."""
    return "{{" in text


def check_alert_template(text: str, alert_name: str) -> str | None:
    """Go's parse error for ``text`` as an alert template, or None when it parses."""
    if not has_actions(text):
        return None
    try:
        AlertTemplate(text, alert_name)
    except TemplateError as err:
        return str(err)
    return None


class CompiledTemplate:
    """One label or annotation text of an alerting rule, parsed once, expanded per alert.

    A text that does not parse expands, as in Prometheus, to
    ``<error expanding template: error parsing template ...>``.
    """

    __slots__ = ("_error", "_template", "text")

    def __init__(self, text: str, alert_name: str) -> None:
        self.text = text
        self._template: AlertTemplate | None = None
        self._error: TemplateError | None = None
        if has_actions(text):
            try:
                self._template = AlertTemplate(text, alert_name)
            except TemplateError as err:
                self._error = err

    def expand(self, data: AlertData, query: QueryFn) -> str:
        """The expansion for one alert; raises :class:`TemplateError`."""
        if self._error is not None:
            raise self._error
        if self._template is None:
            return self.text
        return self._template.expand(
            labels=data.labels,
            value=data.value,
            t_ms=data.t_ms,
            external_labels=data.external_labels,
            external_url=data.external_url,
            query=lambda q: _samples(query(q)),
        )


# Rule files are loaded again on every reload and, by the unit-test runner, once per test
# group; a parsed template is immutable (its regex cache only speeds it up), so rules with
# the same text and name share one.
TEMPLATE_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def compiled_template(text: str, alert_name: str) -> CompiledTemplate:
    """The :class:`CompiledTemplate` of ``text`` in alert ``alert_name``, parsed once."""
    return CompiledTemplate(text, alert_name)


def expand_or_error_text(template: CompiledTemplate, data: AlertData, query: QueryFn) -> str:
    """What Prometheus stores: the expansion, or ``<error expanding template: ...>``."""
    try:
        return template.expand(data, query)
    except TemplateError as err:
        log.warning("expanding alert template failed template=%r err=%s", template.text, err)
        return expansion_error_text(err)


def _samples(result: QueryResult) -> Sequence[_Sample]:
    """``rules.EngineQueryFunc``: a vector as it is, a scalar as one sample without labels."""
    if result.result_type is ResultType.SCALAR:
        return [_Sample({}, float(result.v[0]))]
    if result.result_type is not ResultType.VECTOR:
        raise TemplateError(
            "rule result is not a vector or scalar",
            name="query",
            phase="executing",
        )
    return [_Sample(lab.to_dict(), float(v[-1])) for lab, _, v in result.series()]


__all__ = [
    "ALERT_DEFS",
    "AlertData",
    "CompiledTemplate",
    "QueryFn",
    "check_alert_template",
    "compiled_template",
    "expand_or_error_text",
    "has_actions",
]
