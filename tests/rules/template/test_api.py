"""The template package's surface: registries, errors, parse-once/expand-many."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import kubeprom.rules.template as pkg
from kubeprom.errors import EvalError, KubepromError, TemplateError
from kubeprom.rules.template import (
    ALERT_DEFS,
    AlertTemplate,
    Template,
    TextTemplate,
    parse_template,
)
from kubeprom.rules.template.builtins import BUILTINS
from kubeprom.rules.template.promfuncs import FUNCS
from kubeprom.rules.template.values import string_map

# prometheus/template/template.go (3.x) NewTemplateExpander's FuncMap; "tmpl" is added only
# by ExpandHTML (console templates), so text templates lack it, as in Prometheus.
PROMETHEUS_3_FUNCS = [
    "args",
    "externalURL",
    "first",
    "graphLink",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "label",
    "match",
    "now",
    "parseDuration",
    "pathPrefix",
    "query",
    "reReplaceAll",
    "safeHtml",
    "sortByLabel",
    "stripDomain",
    "stripPort",
    "strvalue",
    "tableLink",
    "title",
    "toDuration",
    "toLower",
    "toTime",
    "toUpper",
    "urlQueryEscape",
    "value",
]
GO_BUILTINS = [
    "and",
    "call",
    "eq",
    "ge",
    "gt",
    "html",
    "index",
    "js",
    "le",
    "len",
    "lt",
    "ne",
    "not",
    "or",
    "print",
    "printf",
    "println",
    "slice",
    "urlquery",
]


def test_registries_are_prometheus_and_go() -> None:
    assert list(FUNCS) == sorted(PROMETHEUS_3_FUNCS)
    assert list(BUILTINS) == sorted(GO_BUILTINS)


def test_exported_members() -> None:
    assert sorted(pkg.__all__) == [
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


def test_parse_once_expand_many() -> None:
    t = AlertTemplate("{{ $labels.pod }} at {{ $value | humanize }}", "HighCPU")
    assert t.expand(labels={"pod": "a"}, value=1234567.0, t_ms=0) == "a at 1.235M"
    assert t.expand(labels={"pod": "b"}, value=0.001, t_ms=0) == "b at 1m"


def test_parse_error_names_template_and_line() -> None:
    with pytest.raises(TemplateError, match=r'^template: __alert_X:3: function "nope"') as info:
        AlertTemplate("line 1\nline 2\n{{ nope }}", "X")
    err = info.value
    assert (err.phase, err.line, err.name) == ("parsing", 3, "__alert_X")
    assert err.expand_message.startswith("error parsing template __alert_X: template: ")
    assert isinstance(err, KubepromError)


def test_exec_error_is_go_text_with_byte_column() -> None:
    t = AlertTemplate("é {{ .Nope }}", "X")
    with pytest.raises(TemplateError) as info:
        t.expand(labels={}, value=1.0, t_ms=0)
    # the prefix is 112 bytes, "é " is 3 more: Go counts bytes, 0-based
    assert str(info.value).startswith('template: __alert_X:1:118: executing "__alert_X" at <.Nope>')
    assert info.value.phase == "executing"
    assert t.expand_or_error(labels={}, value=1.0, t_ms=0).startswith(
        "<error expanding template: error executing template __alert_X: template: "
    )


def test_parse_template_as_check_rules_does() -> None:
    assert isinstance(parse_template(ALERT_DEFS + "{{ $value }}", "__alert_A"), Template)
    with pytest.raises(TemplateError, match=r"^template: __alert_A:1: missing value for if$"):
        parse_template(ALERT_DEFS + "{{ if }}{{ end }}", "__alert_A")


@dataclass(frozen=True)
class _S:
    labels: dict[str, str]
    value: float


def test_query_errors_become_template_errors_and_bugs_propagate() -> None:
    t = AlertTemplate('{{ query "x" }}', "Q")

    def failing(q: str) -> list[_S]:
        raise EvalError('1:2: parse error: unexpected "x"')

    with pytest.raises(
        TemplateError, match=r'error calling query: 1:2: parse error: unexpected "x"$'
    ):
        t.expand(labels={}, value=1.0, t_ms=0, query=failing)

    def buggy(q: str) -> list[_S]:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        t.expand(labels={}, value=1.0, t_ms=0, query=buggy)


def test_query_sees_the_expansion_and_now_the_time() -> None:
    t = AlertTemplate(
        '{{ range query "up" }}{{ .Labels.job }}={{ .Value }} {{ end }}{{ now }}', "Q"
    )
    seen: list[str] = []

    def query(q: str) -> list[_S]:
        seen.append(q)
        return [_S({"job": "a"}, 1.0), _S({"job": "b"}, 0.5)]

    assert t.expand(labels={}, value=1.0, t_ms=90_500, query=query) == "a=1 b=0.5 90.5"
    assert seen == ["up"]


def test_recursion_stops_with_an_error() -> None:
    t = AlertTemplate('{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}', "R")
    with pytest.raises(TemplateError, match=r"exceeded maximum template depth \(100000\)$"):
        t.expand(labels={}, value=1.0, t_ms=0)


def test_text_template_with_other_delimiters() -> None:
    # prometheus-adapter's metricsQuery: << >> delimiters, builtins only
    t = TextTemplate(
        "sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>) {{ not an action }}",
        "metrics-query",
        ("<<", ">>"),
    )
    data = string_map(
        {"Series": "http_requests_total", "LabelMatchers": 'pod="a"', "GroupBy": "pod"}
    )
    assert t.execute(data) == (
        'sum(rate(http_requests_total{pod="a"}[2m])) by (pod) {{ not an action }}'
    )


def test_text_template_missing_key_is_no_value() -> None:
    # Go's default missingkey: a missing map key prints <no value> (Prometheus sets zero)
    t = TextTemplate("<<.a>>/<<.b>> \n <<- /* trimmed */ ->>  x", "m", ("<<", ">>"))
    assert t.execute(string_map({"a": "1"})) == "1/<no value>x"


def test_text_template_errors_read_as_go() -> None:
    with pytest.raises(TemplateError, match=r'^template: m:1: function "query" not defined$'):
        TextTemplate("<< query 1 >>", "m", ("<<", ">>"))
    with pytest.raises(TemplateError, match=r"^template: m:1: unclosed action$"):
        TextTemplate("<< .Series ", "m", ("<<", ">>"))
