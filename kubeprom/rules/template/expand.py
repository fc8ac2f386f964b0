"""Alert templates as Prometheus expands them: parse once per rule, execute per alert.

Prometheus names an alert's template ``__alert_<alertname>`` and prefixes it with
``{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL :=
.ExternalURL}}{{$value := .Value}}`` (``rules/alerting.go``); the dot is
``AlertTemplateData``; maps read missing keys as their zero value (``missingkey=zero``).
A failed expansion leaves ``<error expanding template: ...>`` in the annotation
(:func:`expansion_error_text`).
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeprom.errors import TemplateError
from kubeprom.rules.template.builtins import BUILTINS
from kubeprom.rules.template.exec import GoExecError, Program, State
from kubeprom.rules.template.parser import GoParseError, parse
from kubeprom.rules.template.promfuncs import FUNCS, FuncContext, QueryFunc
from kubeprom.rules.template.values import AlertData

ALERT_DEFS = (
    "{{$labels := .Labels}}"
    "{{$externalLabels := .ExternalLabels}}"
    "{{$externalURL := .ExternalURL}}"
    "{{$value := .Value}}"
)
_NAMES = frozenset(FUNCS) | frozenset(BUILTINS)


class Template:
    """A parsed text template with Prometheus' function map; safe to execute repeatedly.

    Raises :class:`~kubeprom.errors.TemplateError` (phase ``parsing``) when the text does
    not parse.
    """

    __slots__ = ("_program", "_regex_cache", "name")

    def __init__(self, text: str, name: str) -> None:
        self.name = name
        try:
            trees = parse(name, text, _NAMES)
        except GoParseError as err:
            raise TemplateError(str(err), name=name, phase="parsing", line=err.line) from None
        self._program = Program(name, text, trees, {})
        self._regex_cache: dict[str, object] = {}

    def execute(
        self,
        data: object,
        *,
        t_ms: int,
        query: QueryFunc | None = None,
        external_url: str = "",
    ) -> str:
        """Run the template on ``data``; ``t_ms`` is the evaluation time (``now``, ``query``).

        Raises :class:`~kubeprom.errors.TemplateError` (phase ``executing``).
        """
        ctx = FuncContext(t_ms, query, external_url, self._regex_cache)
        out: list[str] = []
        state = State(self._program, FUNCS, BUILTINS, out, ctx)
        try:
            state.execute(data)
        except GoExecError as err:
            raise TemplateError(str(err), name=self.name, phase="executing") from None
        return "".join(out)


class TextTemplate:
    """Plain Go text/template (the builtin functions only) with its own delimiters and Go's
    default ``missingkey`` option, as ``template.New(name).Delims(l, r).Parse(text)`` makes
    one (prometheus-adapter's query templates use ``<<`` and ``>>``).

    Raises :class:`~kubeprom.errors.TemplateError` (phase ``parsing``) when the text does
    not parse.
    """

    __slots__ = ("_program", "name")

    def __init__(self, text: str, name: str, delims: tuple[str, str] = ("{{", "}}")) -> None:
        self.name = name
        try:
            trees = parse(name, text, frozenset(BUILTINS), delims)
        except GoParseError as err:
            raise TemplateError(str(err), name=name, phase="parsing", line=err.line) from None
        self._program = Program(name, text, trees, {}, missing_zero=False)

    def execute(self, data: object) -> str:
        """Run the template on ``data``; raises :class:`~kubeprom.errors.TemplateError`
        (phase ``executing``)."""
        out: list[str] = []
        state = State(self._program, {}, BUILTINS, out)
        try:
            state.execute(data)
        except GoExecError as err:
            raise TemplateError(str(err), name=self.name, phase="executing") from None
        return "".join(out)


class AlertTemplate:
    """One annotation or label template of an alerting rule, parsed once."""

    __slots__ = ("template",)

    def __init__(self, text: str, alert_name: str) -> None:
        self.template = Template(ALERT_DEFS + text, "__alert_" + alert_name)

    def expand(
        self,
        *,
        labels: Mapping[str, str],
        value: float,
        t_ms: int,
        external_labels: Mapping[str, str] | None = None,
        external_url: str = "",
        query: QueryFunc | None = None,
    ) -> str:
        """The expansion for one alert; raises :class:`~kubeprom.errors.TemplateError`."""
        data = AlertData(labels, external_labels or {}, external_url, value)
        return self.template.execute(data, t_ms=t_ms, query=query, external_url=external_url)

    def expand_or_error(
        self,
        *,
        labels: Mapping[str, str],
        value: float,
        t_ms: int,
        external_labels: Mapping[str, str] | None = None,
        external_url: str = "",
        query: QueryFunc | None = None,
    ) -> str:
        """As Prometheus stores it: the expansion, or ``<error expanding template: ...>``."""
        try:
            return self.expand(
                labels=labels,
                value=value,
                t_ms=t_ms,
                external_labels=external_labels,
                external_url=external_url,
                query=query,
            )
        except TemplateError as err:
            return expansion_error_text(err)


def parse_template(text: str, name: str) -> Template:
    """Parse a template as Prometheus' ``Expander.ParseTest`` does (``kubeprom check rules``).

    For an alerting rule pass ``ALERT_DEFS + text`` and ``"__alert_" + alertname``, as
    Prometheus' rule file checker does, so line numbers and messages match promtool's.
    """
    return Template(text, name)


def expand_alert_template(
    text: str,
    *,
    name: str,
    labels: Mapping[str, str],
    value: float,
    t_ms: int,
    external_labels: Mapping[str, str] | None = None,
    external_url: str = "",
    query: QueryFunc | None = None,
) -> str:
    """Parse and expand one alert template (``name`` is the alert's name); raises
    :class:`~kubeprom.errors.TemplateError`. Rules should keep an :class:`AlertTemplate`."""
    return AlertTemplate(text, name).expand(
        labels=labels,
        value=value,
        t_ms=t_ms,
        external_labels=external_labels,
        external_url=external_url,
        query=query,
    )


def expansion_error_text(err: TemplateError) -> str:
    """What Prometheus puts in a label or annotation whose template failed."""
    return f"<error expanding template: {err.expand_message}>"
