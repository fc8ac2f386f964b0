"""Any text either expands or raises TemplateError: no other exception escapes."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom.errors import TemplateError
from kubeprom.rules.template import AlertTemplate

TOKENS = [
    "{{",
    "}}",
    "{{- ",
    " -}}",
    " ",
    "\n",
    ".",
    "$x",
    "$",
    ":=",
    "=",
    "|",
    "(",
    ")",
    ",",
    '"a"',
    "`r`",
    "'c'",
    "1",
    "-2.5",
    "0x1F",
    "nil",
    "true",
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "break",
    "continue",
    "printf",
    '"%d %s %v"',
    "len",
    "index",
    "slice",
    "eq",
    "lt",
    "and",
    "or",
    "not",
    "html",
    "print",
    ".Labels",
    ".Labels.a",
    "$labels",
    "$labels.a",
    "$value",
    ".Value",
    "humanize",
    "humanizeDuration",
    "title",
    "reReplaceAll",
    '"(a"',
    "args",
    "/*",
    "*/",
    "query",
    "first",
    "toTime",
    ".Unix",
]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(TOKENS), max_size=25).map("".join),
    st.sampled_from([0.0, 1.5, -3.0, math.nan, math.inf, 1e300]),
)
def test_expansion_only_raises_template_errors(text: str, value: float) -> None:
    message = ""
    try:
        t = AlertTemplate(text, "Fuzz")
        out = t.expand(labels={"a": "b"}, value=value, t_ms=0, query=lambda q: [])
    except TemplateError as err:
        message = str(err)
        out = ""
    assert isinstance(out, str)
    assert message == "" or message.startswith("template: __alert_Fuzz:")
