"""A seeded generator of malformed PromQL: mutations of valid queries and classic mistakes.

``Generator(corpus, seed).queries(n)`` yields ``n`` query texts. About two thirds are single
mutations of a corpus query at a token boundary (truncation, deleting, inserting, replacing,
swapping or doubling one token); the rest come from templates of the mistakes users make
(unclosed brackets, a missing or bad range, unknown functions, wrong argument counts and
types, ``by`` without labels, bad regexes, ``offset`` and ``@`` misuse, string and number
type errors, an unexpected end of input). Not every result is malformed: the reference
(real Prometheus) decides, and the runner keeps the ones it rejects.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from kubeprom.promql.lexer import Token, tokenize

# Tokens a mutation may insert or substitute: brackets, separators, operators, keywords,
# modifiers, literals of every kind (some of them invalid).
POOL = (
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "=",
    "==",
    "!=",
    "=~",
    "!~",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "<",
    ">=",
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "@",
    "start()",
    "end()",
    "5m",
    "1h30m",
    "0s",
    "5mm",
    "1.5m",
    "-5m",
    "1",
    "0.5",
    "1e3",
    "0x1F",
    "Inf",
    "NaN",
    '"x"',
    "'y'",
    "`z`",
    '"\\q"',
    "foo",
    "job",
    "__name__",
    "sum",
    "rate",
    "topk",
    "count_values",
    "histogram_quantile",
    "label_replace",
    "vector",
    "time()",
    "!",
    "$",
    "#c\n",
    ";",
    "..",
)

METRICS = ("up", "node_cpu_seconds_total", "http_requests_total", "x", "kube_pod_info")
FUNCS = (
    "rate",
    "irate",
    "increase",
    "delta",
    "abs",
    "round",
    "clamp",
    "clamp_min",
    "label_replace",
    "label_join",
    "histogram_quantile",
    "predict_linear",
    "holt_winters",
    "vector",
    "scalar",
    "time",
    "absent_over_time",
    "sort",
    "quantile_over_time",
    "days_in_month",
    "sgn",
)
UNKNOWN_FUNCS = ("rat", "summ", "foo", "avg_over", "rate_over_time", "Rate", "histogram")
AGGS = ("sum", "avg", "max", "min", "count", "group", "stddev", "topk", "quantile",
        "count_values", "bottomk")  # fmt: skip

# Classic mistakes; {m} is a metric, {f} a function, {u} an unknown function, {a} an
# aggregation, {d} a duration, {l} a label name.
TEMPLATES = (
    "{a}(rate({m}[{d}])) by",
    "{a}(rate({m}[{d}])) by (",
    "{a}(rate({m}[{d}])) by ({l}",
    "{a} by {l} ({m})",
    "{a} by ({l}) ({m}) by ({l})",
    "{a} without ({l},) ({m}",
    "{a}()",
    "{a}({m}, {m})",
    "{a}(",
    "{a}",
    "{a} by ()",
    "{a}({m}) without",
    "topk({m})",
    "topk({m}, 5)",
    "quantile(0.9)",
    "count_values({m}, {m})",
    "count_values(1, {m})",
    "{a}({m}[{d}])",
    "{a}({m}) by ({l}) ({m})",
    '{a}({m}) by ("{l}-x")',
    "{a} by (1) ({m})",
    "rate({m})",
    "rate({m}[{d}]",
    "rate({m}[{d}))",
    "rate({m}[])",
    "rate({m}[5])",
    "rate({m}[5mm])",
    "rate({m}[0s])",
    "rate({m}[-{d}])",
    "rate({m}[{d}:])",
    "rate({m}{{}}[{d}])",
    "rate({m}[1.5m])",
    "rate({m}[{d}] [{d}])",
    "rate(({m})[{d}])",
    "rate({m} offset {d}[{d}])",
    "rate(sum({m})[{d}])",
    "{m}[{d}:{d}:{d}]",
    "{m}[{d}",
    "{m}[:{d}]",
    "{m}[{d}:x]",
    "{u}({m})",
    "{u}({m}[{d}])",
    "{f}()",
    "{f}({m}, {m}, {m}, {m}, {m}, {m})",
    "{f}({m}",
    '{f}("{l}")',
    "{f}({m}[{d}], 1)",
    "{f}(1)",
    "{f} ({m}",
    "{f}({m},)",
    "{f}(,{m})",
    "round({m}, {m})",
    "clamp({m}, 1)",
    'label_replace({m}, "a", "b", "c")',
    'label_replace({m}, "a", "$1", "{l}", "(")',
    "histogram_quantile({m})",
    "histogram_quantile(0.9, rate({m}[{d}]))",
    "vector({m})",
    "scalar({m}[{d}])",
    "{m}{{",
    "{m}{{{l}",
    "{m}{{{l}=",
    '{m}{{{l}="a"',
    '{m}{{{l}="a",',
    '{m}{{{l}~"a"}}',
    '{m}{{{l}=~"("}}',
    '{m}{{{l}=~"[a-"}}',
    '{m}{{{l}=~"a{{2,1}}"}}',
    "{m}{{{l}=a}}",
    '{m}{{{l}="a" {l}="b"}}',
    '{m}{{="a"}}',
    '{m}{{"a"}}',
    "{{}}",
    '{{{l}=""}}',
    '{{{l}=~".*"}}',
    '{m}{{__name__="y"}}',
    '{m}{{{l}=="a"}}',
    '{m}{{{l}!"a"}}',
    '{m}{{{l}="a"}}}}',
    "{m}}}",
    "{m})",
    "({m}",
    "(({m})",
    "{m}]",
    "{m} offset",
    "{m} offset {m}",
    "{m} offset 5",
    "{m} offset -{d}",
    "{m} offset {d} offset {d}",
    "1 offset {d}",
    "sum({m}) offset {d}",
    "{m} @",
    "{m} @ {m}",
    "{m} @ start",
    "{m} @ start()",
    "1 @ 5",
    "{m} @ 5 @ 6",
    "{m} @ 1e30",
    "{m} @ end() offset {d}",
    "rate({m}[{d}] @ 5 offset {d})",
    '"a" + 1',
    '"a" + {m}',
    "1 > 2",
    "{m} and 1",
    "1 or {m}",
    "{m} + bool {m}",
    "{m} > bool",
    "{m} + on({l}) 1",
    "{m} + on({l}) group_left({l}) {m} and {m}",
    "{m} and on({l}) group_left {m}",
    '{m} + on({l}) group_left("{l}") {m}',
    "{m} + on ({l}) group_left ({l}) {m}",
    "{m} + group_left {m}",
    "{m} + on {m}",
    "{m} +",
    "{m} + +",
    "{m} * / {m}",
    "{m} == ",
    '- "a"',
    "-{m}[{d}]",
    "{m} {m}",
    "{m} 1",
    "1 {m}",
    "({m}) ({m})",
    "{m}[{d}] + 1",
    "{m}[{d}] > 0",
    "sum({m}[{d}]) > 0",
    '"{l}',
    "'{l}",
    "`{l}",
    '"a\\qb"',
    '"\\u12"',
    '{m}{{{l}="\\xZZ"}}',
    "1e",
    "0x",
    "1.2.3",
    "1__0",
    ".",
    "{m} # comment",
    "#",
    "",
    " ",
    "()",
    "[]",
    "{m}[{d}][{d}]",
    "{m} ^ ^ 2",
    '{m} !~ "a"',
    '{m} =~ "a"',
    "{m} = 1",
    "{m} != ",
    "!{m}",
    "{m}:",
    "{m}@",
    "{m},",
    "abs({m}) by ({l})",
    "{a} by ({l}) 1",
    "{m} unless",
    "{m} and or {m}",
)


class Generator:
    """Malformed-query candidates from ``corpus`` (valid queries), reproducible per seed."""

    def __init__(self, corpus: Sequence[str], seed: int) -> None:
        self.corpus = list(corpus)
        self.rng = random.Random(seed)

    def queries(self, n: int) -> Iterator[str]:
        for _ in range(n):
            yield self.template() if self.rng.random() < 0.33 else self.mutation()

    def template(self) -> str:
        r = self.rng
        return r.choice(TEMPLATES).format(
            m=r.choice(METRICS),
            f=r.choice(FUNCS),
            u=r.choice(UNKNOWN_FUNCS),
            a=r.choice(AGGS),
            d=r.choice(("5m", "1h", "30s", "1d")),
            l=r.choice(("job", "instance", "le", "pod")),
        )

    def mutation(self) -> str:
        r = self.rng
        query = r.choice(self.corpus)
        tokens = tokenize(query)
        if not tokens:
            return query
        kind = r.choice(("truncate", "delete", "insert", "replace", "swap", "double"))
        i = r.randrange(len(tokens))
        tok = tokens[i]
        if kind == "truncate":
            return query[: tok.start].rstrip() if i else query[: tok.end - 1]
        if kind == "delete":
            return _splice(query, tok, "")
        if kind == "insert":
            return query[: tok.start] + r.choice(POOL) + " " + query[tok.start :]
        if kind == "replace":
            return _splice(query, tok, r.choice(POOL))
        if kind == "double":
            return query[: tok.end] + " " + tok.text + query[tok.end :]
        if i + 1 >= len(tokens):
            return query[: tok.start]
        nxt = tokens[i + 1]
        return (
            query[: tok.start] + nxt.text + query[tok.end : nxt.start] + tok.text + query[nxt.end :]
        )


def _splice(query: str, tok: Token, text: str) -> str:
    return query[: tok.start] + text + query[tok.end :]
