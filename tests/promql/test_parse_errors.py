"""Parse errors as Prometheus reports them, position and wording (issue 10).

The differential test generates malformed queries from the shared corpora with a fixed seed
and asks real Prometheus 2.42 (loopback, empty TSDB) for its error: kubeprom's
``line:col: parse error: message`` must be identical, or differ only by a documented
2.42-vs-3.x change (``benchmarks/parse_errors/v3diff.py``). ``python -m
benchmarks.parse_errors`` runs thousands.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from benchmarks.parse_errors import corpus
from benchmarks.parse_errors.generator import Generator
from benchmarks.parse_errors.run import agreement, run, summarize
from benchmarks.promql_diff.prometheus import serve
from kubeprom.errors import ParseError
from kubeprom.promql.parse import parse
from kubeprom.promql.syntax import first_error
from tests.support.procs import require_binary
from tests.support.shared import shared_path

SEED = 20261207
QUERIES = 800


@pytest.mark.timeout(300)
def test_generated_malformed_queries_get_prometheus_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prometheus = require_binary("prometheus")
    queries = list(Generator(corpus.load(shared_path()), SEED).queries(QUERIES))
    data = tmp_path / "data"
    data.mkdir()
    with serve(prometheus, data, tmp_path / "prometheus.log") as url:
        outcomes = run(url, queries)
    with capsys.disabled():
        print("\n" + "\n".join(summarize(outcomes)))
    exact, explained, malformed = agreement(outcomes)
    assert malformed > QUERIES * 0.8
    assert exact > malformed * 0.8  # 9% before the syntax front end
    counts = Counter(o.cls for o in outcomes)
    assert counts["kubeprom-rejects"] == 0  # nothing Prometheus parses is refused
    unexplained = [
        f"{o.query!r}\n  prometheus: {o.reference}\n  kubeprom:   {o.kubeprom}"
        for o in outcomes
        if o.reference is not None and o.cls != "agree" and not o.cls.startswith("v3:")
    ]
    assert unexplained == []
    assert explained == malformed


# Errors Prometheus 2.42 gives word for word (its wording is 3.x's for these), checked
# against it; each exercises one mechanism of the front end.
CASES = {
    "issue-10": (
        "sum(rate(x[5m])) by",
        '1:20: parse error: unexpected end of input in grouping opts, expected "("',
    ),
    "lexer-eof-paren": ("sum(up", "1:7: parse error: unclosed left parenthesis"),
    "lexer-extra-paren": ("up)", "1:4: parse error: unexpected right parenthesis ')'"),
    "lexer-escape": (r'x{a="\q"}', "1:5: parse error: unknown escape sequence U+0071 'q'"),
    "lexer-braces-eof": ('x{a="b"', "1:8: parse error: unexpected end of input inside braces"),
    "default-reduction": ("x +", "1:4: parse error: unexpected end of input"),
    "error-production": (
        "sum by x (y)",
        '1:8: parse error: unexpected identifier "x" in grouping opts, expected "("',
    ),
    "label-matching": (
        'x{a~"b"}',
        "1:4: parse error: unexpected character inside braces: '~'",
    ),
    "unknown-function": ("rat(x[5m])", '1:1: parse error: unknown function with name "rat"'),
    "arg-count": (
        "round(x, 1, 2)",
        '1:1: parse error: expected at most 2 argument(s) in call to "round", got 3',
    ),
    "arg-type": (
        "rate(x)",
        "1:6: parse error: expected type range vector in call to function "
        '"rate", got instant vector',
    ),
    "aggregation-type": (
        "sum(x[5m])",
        "1:5: parse error: expected type instant vector in "
        "aggregation expression, got range vector",
    ),
    "scalar-comparison": (
        "1 > 2",
        "1:3: parse error: comparisons between scalars must use BOOL modifier",
    ),
    "string-operand": (
        '"a" + 1',
        "1:1: parse error: binary expression must contain only scalar and instant vector types",
    ),
    "empty-selector": (
        '{a=""}',
        "1:1: parse error: vector selector must contain at least one non-empty matcher",
    ),
    "offset-twice": (
        "x offset 5m offset 5m",
        "1:1: parse error: offset may not be set multiple times",
    ),
    "at-target": (
        "sum(x) @ 5",
        "1:1: parse error: @ modifier must be preceded by an instant "
        "vector selector or range vector selector or a subquery",
    ),
    "trailing-comma": (
        "round(x,)",
        "1:8: parse error: trailing commas not allowed in function call args",
    ),
    "empty": ("", "1:1: parse error: no expression found in input"),
    "utf8-column": ('"é" + x{', "1:10: parse error: unexpected end of input inside braces"),
}


@pytest.mark.parametrize(("query", "message"), CASES.values(), ids=CASES.keys())
def test_prometheus_wording_and_position(query: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(query)
    assert str(info.value) == message


def test_valid_queries_of_the_corpora_pass_the_front_end() -> None:
    rejected = [q for q in corpus.load(shared_path()) if first_error(q) is not None]
    # The promqltest files hold deliberately bad queries (eval_fail) and 3.x feature-flag
    # syntax; the bench and mixin queries are all valid.
    shared = shared_path()
    users = set(corpus.bench_queries(shared) + corpus.rule_queries(shared))
    assert [q for q in rejected if q in users] == []


def test_the_kept_parser_tables_are_a_fresh_build_without_its_actions() -> None:
    from kubeprom.promql import syntax
    from kubeprom.promql.syntax import grammar, lalr
    from kubeprom.promql.syntax.tokens import TERMINALS

    context = grammar.Context("", experimental_functions=True, fill_modifiers=True)
    fresh = lalr.build(grammar.build_rules(context), TERMINALS, grammar.PRECEDENCE)
    kept = syntax._tables()
    assert [(r.lhs, r.rhs, r.prec) for r in kept.rules] == [
        (r.lhs, r.rhs, r.prec) for r in fresh.rules
    ]
    assert {r.action for r in kept.rules} == {None}
    assert (kept.shifts, kept.gotos, kept.exceptions, kept.default, kept.simple) == (
        fresh.shifts,
        fresh.gotos,
        fresh.exceptions,
        fresh.default,
        fresh.simple,
    )
