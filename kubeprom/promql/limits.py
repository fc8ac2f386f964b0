"""Bounds on a query's size and nesting, checked before any parser sees it.

promql-parser (native code) recurses once per level of the tree it builds: ``1+1+…+1``
with 5,000 terms overflows its stack and kills the process, and kubeprom's own tree
conversion and evaluation recurse too. Prometheus has no such limit (Go stacks grow); these
bounds are kubeprom's own, chosen far above what users write: the deepest query of the bench
set, the kubernetes-mixin rules and the promqltest files nests 8 brackets deep and the
longest operator chain has 14 operators (about 22 levels in all); the longest is 1.5 KB.

``check(query)`` is one linear scan (a regular expression over the text) that skips
strings and comments and raises :class:`ParseError` at the position where a bound is
crossed. It never recurses and never builds a tree.
"""

from __future__ import annotations

import re

from kubeprom.errors import ParseError

MAX_QUERY_BYTES = 1 << 20
"""Largest query accepted, in UTF-8 bytes (1 MiB; long regex alternations fit)."""

MAX_DEPTH = 128
"""Deepest expression accepted, counted as open brackets plus operators in open chains.

An upper bound on the depth of the query's tree: every open ``(``, ``[`` or ``{`` is one
level, and so is every operator (binary or unary, ``offset``, ``@``, and a closed range or
subquery bracket) in the chain of each open level, since a chain of N operators nests N
deep. Operators inside ``{...}`` are matchers, not levels. kubeprom's evaluator uses about
four Python frames per level, so 128 levels stay well inside the interpreter's 1,000.
"""

# Strings (possibly unterminated) and comments are skipped whole; the rest are the tokens
# that open, close or extend a level. Keywords must stand alone (not part of `a:and_b`).
_SCAN = re.compile(
    r"""
    (?P<skip>"[^"\\]*(?:\\.[^"\\]*)*"?|'[^'\\]*(?:\\.[^'\\]*)*'?|`[^`]*`?|\#[^\n]*)
  | (?P<open>[(\[{])
  | (?P<close>[)\]}])
  | (?P<op>==|!=|<=|>=|=~|!~|[-+*/%^<>@]
        |(?<![\w:])(?:and|or|unless|atan2|offset)(?![\w:]))
    """,
    re.VERBOSE | re.DOTALL | re.IGNORECASE,
)


def check(query: str) -> None:
    """Raise :class:`ParseError` if ``query`` is longer or nests deeper than the bounds."""
    size = len(query.encode("utf-8", "surrogatepass"))
    if size > MAX_QUERY_BYTES:
        raise ParseError(
            f"query too long: {size} bytes, at most {MAX_QUERY_BYTES} are accepted",
            query=query,
            start=0,
        )
    # Per open bracket (index 0: the top level): its operators so far, and the estimated
    # height of its tallest closed bracket. A closed bracket's height is 1 + its operators +
    # its tallest child, an upper bound on the height of the tree it parses to. ``path`` is
    # the open brackets plus their operators, so ``path + tallest child`` never exceeds the
    # final estimate: crossing the bound early is crossing it for good.
    ops = [0]
    tallest = [0]
    opens = [""]
    path = 0
    for m in _SCAN.finditer(query):
        kind = m.lastgroup
        if kind == "skip":
            continue
        text = m.group()
        if kind == "open":
            ops.append(0)
            tallest.append(0)
            opens.append(text)
            path += 1
        elif kind == "close":
            if len(ops) == 1:
                continue  # unbalanced: the parser reports it
            closed_ops, closed_tallest = ops.pop(), tallest.pop()
            path -= 1 + closed_ops
            tallest[-1] = max(tallest[-1], 1 + closed_ops + closed_tallest)
            if opens.pop() == "[" and opens[-1] != "{":
                ops[-1] += 1  # a range or subquery wraps what precedes it
                path += 1
        elif opens[-1] == "{":
            continue  # matcher operators inside braces
        else:
            ops[-1] += 1
            path += 1
        depth = path + tallest[-1]
        if depth > MAX_DEPTH:
            raise ParseError(
                f"expression nested too deeply: more than {MAX_DEPTH} levels of "
                "brackets and operators",
                query=query,
                start=m.start(),
                end=m.end(),
            )
