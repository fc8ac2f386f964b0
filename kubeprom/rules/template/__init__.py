"""Go's text/template as Prometheus uses it for alert labels and annotations.

:class:`AlertTemplate` parses once per rule and expands per alert, byte for byte as
Prometheus 3.x does; :func:`parse_template` reports templates that do not parse.
"""

from kubeprom.rules.template.expand import (
    ALERT_DEFS,
    AlertTemplate,
    Template,
    TextTemplate,
    expand_alert_template,
    expansion_error_text,
    parse_template,
)
from kubeprom.rules.template.promfuncs import QueryFunc, QuerySample

__all__ = [
    "ALERT_DEFS",
    "AlertTemplate",
    "QueryFunc",
    "QuerySample",
    "Template",
    "TextTemplate",
    "expand_alert_template",
    "expansion_error_text",
    "parse_template",
]
