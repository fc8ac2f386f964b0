"""Prometheus' type checks (``checkAST`` in ``promql/parser/parse.go``) over :mod:`nodes`.

Run only when the query parsed without a syntax error, as Prometheus does. Errors are
appended to ``errors`` in Prometheus' order, so the first one is the one it reports.
Recursion follows the tree, whose depth ``limits.check`` has bounded.
"""

from __future__ import annotations

from kubeprom.promql.syntax import nodes as n
from kubeprom.promql.syntax.lex import FIXED, go_quote

Errors = list[tuple[int, int, str]]


def check(node: n.Node, query: str, errors: Errors) -> str:
    """The type of ``node``; problems of it and its children appended to ``errors``."""
    typ = node.type
    if isinstance(node, n.Aggregate):
        if node.expr is not None:
            _expect(node.expr, n.VECTOR, "aggregation expression", query, errors)
        scalar_param = node.op in ("TOPK", "BOTTOMK", "QUANTILE", "LIMITK", "LIMIT_RATIO")
        if scalar_param and node.param is not None:
            _expect(node.param, n.SCALAR, "aggregation parameter", query, errors)
        if node.op == "COUNT_VALUES" and node.param is not None:
            _expect(node.param, n.STRING, "aggregation parameter", query, errors)
    elif isinstance(node, n.Binary):
        _binary(node, query, errors)
    elif isinstance(node, n.Call):
        _call(node, query, errors)
    elif isinstance(node, n.Paren):
        check(node.expr, query, errors)
    elif isinstance(node, n.Unary):
        t = check(node.expr, query, errors)
        if t not in (n.SCALAR, n.VECTOR):
            errors.append(
                (
                    node.start,
                    node.end,
                    "unary expression only allowed on expressions "
                    f"of type scalar or instant vector, got {go_quote(n.documented(t))}",
                )
            )
    elif isinstance(node, n.Subquery):
        t = check(node.expr, query, errors)
        if t != n.VECTOR:
            errors.append(
                (
                    node.start,
                    node.end,
                    f"subquery is only allowed on instant vector, got {t} instead",
                )
            )
    elif isinstance(node, n.MatrixSel):
        check(node.vs, query, errors)
    elif isinstance(node, n.VectorSel):
        _selector(node, errors)
    return typ


def _expect(node: n.Node, want: str, context: str, query: str, errors: Errors) -> None:
    t = check(node, query, errors)
    if t != want:
        errors.append(
            (
                node.start,
                node.end,
                f"expected type {n.documented(want)} in {context}, got {n.documented(t)}",
            )
        )


def _binary(node: n.Binary, query: str, errors: Errors) -> None:
    lhs, rhs = node.lhs, node.rhs
    if lhs is None or rhs is None:
        return
    lt = check(lhs, query, errors)
    rt = check(rhs, query, errors)

    def op_range() -> tuple[int, int]:
        start = lhs.end
        while start < len(query) and query[start] in " \t\n\r":
            start += 1
        end = rhs.start - 1
        while end > 0 and query[end] in " \t\n\r":
            end -= 1
        return start, end

    comparison = node.op in ("EQLC", "NEQ", "LTE", "LSS", "GTE", "GTR")
    set_op = node.op in ("LAND", "LOR", "LUNLESS")
    vm = node.matching
    if node.return_bool and not comparison:
        errors.append((*op_range(), "bool modifier can only be used on comparison operators"))
    if comparison and not node.return_bool and rhs.type == n.SCALAR and lhs.type == n.SCALAR:
        errors.append((*op_range(), "comparisons between scalars must use BOOL modifier"))
    if set_op and vm is not None and vm.card == "one-to-one":
        vm.card = "many-to-many"
    if vm is not None and vm.on:
        for label in vm.labels:
            if label in vm.include:
                errors.append(
                    (
                        *op_range(),
                        f"label {go_quote(label)} must not occur in ON and GROUP clause at once",
                    )
                )
    if lt not in (n.SCALAR, n.VECTOR):
        errors.append(
            (
                lhs.start,
                lhs.end,
                "binary expression must contain only scalar and instant vector types",
            )
        )
    if rt not in (n.SCALAR, n.VECTOR):
        errors.append(
            (
                rhs.start,
                rhs.end,
                "binary expression must contain only scalar and instant vector types",
            )
        )
    op_text = go_quote(FIXED.get(node.op, node.op))
    if (lt != n.VECTOR or rt != n.VECTOR) and vm is not None:
        if vm.labels:
            errors.append(
                (node.start, node.end, "vector matching only allowed between instant vectors")
            )
        if vm.fill_lhs is not None or vm.fill_rhs is not None:
            errors.append(
                (
                    node.start,
                    node.end,
                    "filling in missing series only allowed between instant vectors",
                )
            )
        node.matching = None
    elif set_op and vm is not None:
        if vm.card in ("one-to-many", "many-to-one"):
            errors.append((node.start, node.end, f"no grouping allowed for {op_text} operation"))
        if vm.card != "many-to-many":
            errors.append((node.start, node.end, "set operations must always be many-to-many"))
        if vm.fill_lhs is not None or vm.fill_rhs is not None:
            errors.append(
                (node.start, node.end, "filling in missing series not allowed for set operators")
            )
    if (lt == n.SCALAR or rt == n.SCALAR) and set_op:
        errors.append(
            (
                node.start,
                node.end,
                f"set operator {op_text} not allowed in binary scalar expression",
            )
        )


def _call(node: n.Call, query: str, errors: Errors) -> None:
    sig = node.sig
    if sig is None:
        return
    name = go_quote(node.name)
    nargs = len(sig.args)
    if sig.variadic == 0:
        if nargs != len(node.args):
            errors.append(
                (
                    node.start,
                    node.end,
                    f"expected {nargs} argument(s) in call to {name}, got {len(node.args)}",
                )
            )
    else:
        na = nargs - 1
        if na > len(node.args):
            errors.append(
                (
                    node.start,
                    node.end,
                    f"expected at least {na} argument(s) in call to {name}, got {len(node.args)}",
                )
            )
        elif sig.variadic > 0 and na + sig.variadic < len(node.args):
            errors.append(
                (
                    node.start,
                    node.end,
                    f"expected at most {na + sig.variadic} "
                    f"argument(s) in call to {name}, got {len(node.args)}",
                )
            )
    if node.name == "info" and len(node.args) > 1:
        second = node.args[1]
        if second.type != n.VECTOR:
            errors.append(
                (
                    node.start,
                    node.end,
                    "expected type instant vector in call to "
                    f"function {name}, got {n.documented(second.type)}",
                )
            )
        if isinstance(second, n.VectorSel) and second.name:
            errors.append(
                (
                    second.start,
                    second.end,
                    "expected label selectors only, got vector selector instead",
                )
            )
        elif isinstance(second, n.VectorSel):
            second.bypass_empty_check = True
        else:
            errors.append((second.start, second.end, "expected label selectors only"))
    for i, arg in enumerate(node.args):
        k = i
        if k >= nargs:
            if sig.variadic == 0:
                break
            k = nargs - 1
        want = n.letter_type(sig.args[k])
        t = check(arg, query, errors)
        if t != want:
            errors.append(
                (
                    arg.start,
                    arg.end,
                    f"expected type {n.documented(want)} in call to "
                    f"function {name}, got {n.documented(t)}",
                )
            )


def _selector(node: n.VectorSel, errors: Errors) -> None:
    if node.name:
        for m in node.matchers[:-1]:
            if m is not None and m.name == "__name__":
                errors.append(
                    (
                        node.start,
                        node.end,
                        "metric name must not be set twice: "
                        f"{go_quote(node.name)} or {go_quote(m.value)}",
                    )
                )
        return
    if node.bypass_empty_check:
        return
    if not any(m is not None and not m.matches("") for m in node.matchers):
        errors.append(
            (node.start, node.end, "vector selector must contain at least one non-empty matcher")
        )
