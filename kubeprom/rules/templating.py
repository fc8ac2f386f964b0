"""The one place rules use Go templates: checking and expanding alert labels and annotations.

Prometheus expands each label and annotation of an alerting rule as a Go ``text/template``
named ``__alert_<alertname>``, prefixed with the variable definitions of
:data:`ALERT_TEMPLATE_DEFS` and given the alert's labels, value, external labels and URL.
A text without ``{{`` has no action, so it expands to itself: that case never needs the
template engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kubeprom.errors import KubepromError
from kubeprom.promql.api import QueryResult

ALERT_TEMPLATE_DEFS = (
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}"
    "{{$externalURL := .ExternalURL}}{{$value := .Value}}"
)

QueryFn = Callable[[str], QueryResult]
"""Runs a query at the alert's evaluation time (the ``query`` template function)."""


class TemplateError(KubepromError):
    """A template does not parse or fails to execute; the message is Go's."""


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


def has_actions(text: str) -> bool:
    """Whether ``text`` needs the template engine at all."""
    return "{{" in text


def check_alert_template(text: str, alert_name: str) -> str | None:
    """Go's parse error for ``text`` as an alert template, or None when it parses."""
    if not has_actions(text):
        return None
    return _engine_check(ALERT_TEMPLATE_DEFS + text, "__alert_" + alert_name)


def expand_alert_template(text: str, data: AlertData, query: QueryFn) -> str:
    """``text`` expanded for one alert; raises :class:`TemplateError`."""
    if not has_actions(text):
        return text
    return _engine_expand(ALERT_TEMPLATE_DEFS + text, "__alert_" + data.alert_name, data, query)


# ---- the engine ------------------------------------------------------------------------------
# The Go text/template engine with Prometheus' functions is built on its own branch; until it
# is merged, a text with actions cannot be checked, and expanding one fails the way a broken
# template does in Prometheus (the alert carries "<error expanding template: ...>").

ENGINE_AVAILABLE = False


def _engine_check(text: str, name: str) -> str | None:
    return None


def _engine_expand(text: str, name: str, data: AlertData, query: QueryFn) -> str:
    raise TemplateError(f"template: {name}: the template engine is not available yet")
