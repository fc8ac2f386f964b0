"""Prometheus' PromQL syntax checks, for its parse errors word for word and position.

promql-parser builds kubeprom's tree but words its errors its own way (``invalid promql
query`` with no position for most mistakes). This package runs Prometheus 3.x's own lexer,
grammar (as goyacc's tables, error productions included) and type checks over the query, and
reports the first error Prometheus would: ``first_error(query)`` is ``None`` for a query
Prometheus accepts, else ``(message, start, end)`` with character offsets.

Options are those of a Prometheus server with ``promql-experimental-functions`` (kubeprom
implements those functions) and binary-operator ``fill`` modifiers (kubeprom implements
them); duration expressions and anchored/smoothed selectors are not enabled.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import pickle
from typing import Any

from kubeprom.promql.syntax import check, grammar, lalr
from kubeprom.promql.syntax.lex import Item, Lexer
from kubeprom.promql.syntax.tokens import TERMINALS

__all__ = ["first_error", "prepare"]

_CLOSERS = frozenset({"RIGHT_BRACE", "RIGHT_PAREN", "RIGHT_BRACKET", "DURATION", "NUMBER"})


def prepare() -> None:
    """Build the parser tables now rather than at the first query (about 0.3 s of CPU and a
    few MiB of garbage, which a server can then hand back before it serves)."""
    _tables()


@functools.cache
def _tables() -> lalr.Tables:
    # The build allocates ~0.5 MiB of tables among ~10 MiB of short-lived objects (cycles
    # among them), and the freed ones leave the kept ones in half-empty allocator arenas that
    # are never returned (4 MiB of a server's resident memory). Read back from bytes once the
    # build is collected, the tables are allocated compactly.
    built = _built_tables()
    gc.collect()
    tables: lalr.Tables = pickle.loads(built)  # bytes built just now, in this process
    return tables


def _built_tables() -> bytes:
    shape = grammar.build_rules(
        grammar.Context("", experimental_functions=True, fill_modifiers=True)
    )
    tables = lalr.build(shape, TERMINALS, grammar.PRECEDENCE)
    # The actions close over this throwaway context; a parse passes its own.
    rules = tuple(dataclasses.replace(r, action=None) for r in tables.rules)
    return pickle.dumps(dataclasses.replace(tables, rules=rules))


class _Tokens:
    """Prometheus' ``parser.Lex``: the start token, then the lexer's items without comments;
    an ``ERROR`` item is recorded as the error and ends the input; ``EOF`` is followed by
    the parser's end marker."""

    def __init__(self, ctx: grammar.Context) -> None:
        self.ctx = ctx
        self.items = iter(Lexer(ctx.input))
        self.inject: str | None = "START_EXPRESSION"

    def lex(self) -> tuple[str, Any]:
        ctx = self.ctx
        if self.inject is not None:
            tok, self.inject = self.inject, None
            return tok, ctx.lval
        while True:
            item = next(self.items, None)
            if item is None:
                item = Item("EOF", len(ctx.input), "")
            ctx.last_pos = item.pos
            if item.typ != "COMMENT":
                break
        ctx.lval = item
        if item.typ == "ERROR":
            ctx.error(item.pos, len(ctx.input), item.val)
            return lalr.END, item
        if item.typ == "EOF":
            self.inject = lalr.END
            return "EOF", item
        if item.typ in _CLOSERS:
            ctx.last_closing = item.end
        return item.typ, item


def first_error(query: str) -> tuple[str, int, int] | None:
    """The error Prometheus reports for ``query`` (message, start, end), or None."""
    ctx = grammar.Context(query, experimental_functions=True, fill_modifiers=True)
    actions = [None, *grammar.build_actions(ctx)]
    lalr.parse(_tables(), _Tokens(ctx), actions)
    if not ctx.errors and ctx.result is not None:
        check.check(ctx.result, query, ctx.errors)
    if not ctx.errors:
        return None
    start, end, message = ctx.errors[0]
    return message, start, end
