"""The completion words are PromQL's: every function kubeprom evaluates, each one parses,
and nothing else (Prometheus' TestFunctionList, for the UI's table)."""

from __future__ import annotations

import promql_parser
import pytest

from kubeprom.web.ui.words import AGGREGATIONS, FUNCTIONS, KEYWORDS
from tests.promql.test_function_table import CALLS


def test_the_functions_are_the_ones_kubeprom_evaluates() -> None:
    assert sorted(FUNCTIONS) == sorted(CALLS)
    assert list(FUNCTIONS) == sorted(FUNCTIONS)


@pytest.mark.parametrize("name", sorted(AGGREGATIONS))
def test_aggregations_parse(name: str) -> None:
    param = AGGREGATIONS[name]
    arg = {"": "", "k": "2, ", "ratio": "0.5, ", "φ": "0.9, ", "label": '"x", '}[param]
    expr = promql_parser.parse(f"{name} by (a) ({arg}m)")
    assert isinstance(expr, promql_parser.AggregateExpr)


KEYWORD_USES = {
    "and": "a and b",
    "atan2": "a atan2 b",
    "bool": "a > bool b",
    "by": "sum by (x) (a)",
    "group_left": "a * on (x) group_left (y) b",
    "group_right": "a * on (x) group_right b",
    "ignoring": "a + ignoring (x) b",
    "offset": "a offset 5m",
    "on": "a + on (x) b",
    "or": "a or b",
    "unless": "a unless b",
    "without": "sum without (x) (a)",
}


@pytest.mark.parametrize("word", sorted(KEYWORD_USES))
def test_keywords_are_promql(word: str) -> None:
    promql_parser.parse(KEYWORD_USES[word])
    with pytest.raises(ValueError, match="invalid promql query"):
        promql_parser.parse(KEYWORD_USES[word].replace(word, "nokeyword"))


def test_the_keywords_are_all_listed() -> None:
    assert list(KEYWORDS) == sorted(KEYWORD_USES)
