"""The executor of Go's text/template (``text/template/exec.go``) over Python values.

``None`` is Go's invalid ``reflect.Value`` (and a nil interface): it prints as
``<no value>`` and passes to ``interface {}`` parameters as nil. Errors read as Go's:
``template: NAME:LINE:COL: executing "NAME" at <NODE>: message`` with COL Go's 0-based byte
column. Maps are read with ``missingkey=zero``, as Prometheus sets it, unless the
:class:`Program` asks for Go's default (a missing key is no value).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kubeprom.model.gofmt import quote
from kubeprom.model.goprintf import (
    GoMap,
    GoStringer,
    GoStruct,
    NamedString,
    fmtsort_key,
    sprint,
    sprintf,
)
from kubeprom.rules.template.nodes import (
    ActionNode,
    BoolNode,
    BreakNode,
    ChainNode,
    CommandNode,
    CommentNode,
    ContinueNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    IfNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    RangeNode,
    StringNode,
    TemplateNode,
    TextNode,
    VariableNode,
    WithNode,
)
from kubeprom.rules.template.values import (
    T_ANY,
    T_BOOL,
    T_FLOAT,
    T_INT,
    T_STRING,
    T_VALUE,
    Method,
    Struct,
    ValueView,
    type_name,
)

MAX_EXEC_DEPTH = 100_000
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


class GoExecError(Exception):
    """Execution failed; ``str()`` is Go's message."""


class FuncError(Exception):
    """What a template function returns as its error (Go's second result)."""


@dataclass(frozen=True, slots=True)
class Func:
    """A function a template can call.

    ``params`` are Go parameter types (``interface {}``, ``reflect.Value``, ``string``,
    ``float64``, ...); with ``variadic`` the last one is the element type of ``...T``.
    ``impl`` raises :class:`FuncError` for Go's error result.
    """

    params: tuple[str, ...]
    impl: Callable[..., object]
    variadic: bool = False
    with_context: bool = False  # impl takes the execution's context object first


class _Missing:
    """Go's ``missingVal``: no value was piped into the command."""


MISSING = _Missing()


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


_STRING_KINDS = frozenset({T_STRING, "template.HTML"})


def can_be_nil(typ: str | None) -> bool:
    return typ is not None and (
        typ in (T_ANY, T_VALUE, "template.queryResult")
        or typ.startswith(("*", "map[", "[]", "func"))
    )


def is_true(v: object) -> tuple[bool, bool]:
    """Go's ``isTrue``: (truth, whether v has a truth value)."""
    if v is None:
        return False, True
    if isinstance(v, bool):
        return v, True
    if isinstance(v, str | list | tuple | dict):
        return len(v) > 0, True
    if isinstance(v, int | float | complex):
        return v != 0, True
    if isinstance(v, Struct | GoStringer | GoStruct):
        return True, True
    return False, False


def _assignable(v: object, typ: str) -> bool:
    return typ in (T_ANY, T_VALUE) or type_name(v) == typ


class Program:
    """A parsed template set: the trees by name, the text, the name errors report."""

    __slots__ = ("funcs", "missing_zero", "name", "text", "trees")

    def __init__(
        self,
        name: str,
        text: str,
        trees: dict[str, ListNode],
        funcs: Mapping[str, Func],
        *,
        missing_zero: bool = True,
    ) -> None:
        self.name = name
        self.text = text
        self.trees = trees
        self.funcs = funcs
        # missingkey=zero (Prometheus) or Go's default, where a missing key is no value
        self.missing_zero = missing_zero


class State:
    """One execution (Go's ``state``); not shared between executions."""

    __slots__ = ("builtins", "ctx", "depth", "funcs", "name", "node", "out", "prog", "vars")

    def __init__(
        self,
        prog: Program,
        funcs: Mapping[str, Func],
        builtins: Mapping[str, Func],
        out: list[str],
        ctx: object = None,
    ) -> None:
        self.prog = prog
        self.ctx = ctx
        self.funcs = funcs
        self.builtins = builtins
        self.out = out
        self.name = prog.name
        self.node: Node | None = None
        self.vars: list[list[object]] = []
        self.depth = 0

    # -- errors
    def errorf(self, message: str) -> GoExecError:
        if self.node is None:
            return GoExecError(f"template: {self.name}: {message}")
        text = self.prog.text
        pos = self.node.pos
        nl = text.rfind("\n", 0, pos)
        line = text.count("\n", 0, pos) + 1
        col = len(text[nl + 1 : pos].encode("utf-8", "surrogateescape"))
        where = f"{self.prog.name}:{line}:{col}"
        return GoExecError(
            f"template: {where}: executing {quote(self.name)} at <{self.node}>: {message}"
        )

    # -- variables
    def var_value(self, name: str) -> object:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                return self.vars[i][1]
        raise self.errorf(f"undefined variable: {name}")

    def set_var(self, name: str, value: object) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i][1] = value
                return
        raise self.errorf(f"undefined variable: {name}")

    # -- walking
    def execute(self, data: object) -> None:
        self.vars = [["$", data]]
        root = self.prog.trees.get(self.prog.name)
        if root is None:
            raise self.errorf(f"{quote(self.name)} is an incomplete or empty template")
        self.walk(data, root)

    def walk(self, dot: object, node: Node) -> None:
        self.node = node
        if isinstance(node, TextNode):
            self.out.append(node.text)
        elif isinstance(node, ActionNode):
            val = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.print_value(node, val)
        elif isinstance(node, ListNode):
            for n in node.nodes:
                self.walk(dot, n)
        elif isinstance(node, IfNode | WithNode):
            self.walk_if_or_with(dot, node)
        elif isinstance(node, RangeNode):
            self.walk_range(dot, node)
        elif isinstance(node, TemplateNode):
            self.walk_template(dot, node)
        elif isinstance(node, BreakNode):
            raise _Break
        elif isinstance(node, ContinueNode):
            raise _Continue
        elif not isinstance(node, CommentNode):
            raise self.errorf(f"unknown node: {node}")

    def walk_if_or_with(self, dot: object, node: IfNode | WithNode) -> None:
        mark = len(self.vars)
        try:
            val = self.eval_pipeline(dot, node.pipe)
            truth, ok = is_true(val)
            if not ok:
                raise self.errorf(sprintf("if/with can't use %v", val))
            if truth:
                self.walk(val if isinstance(node, WithNode) else dot, node.list)
            elif node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: object, r: RangeNode) -> None:
        self.node = r
        outer = len(self.vars)
        try:
            val = self._indirect(self.eval_pipeline(dot, r.pipe))
            mark = len(self.vars)
            decl = r.pipe.decl
            items = self._range_items(val, len(decl))
            if items is None:
                if r.else_list is not None:
                    self.walk(dot, r.else_list)
                return
            for index, elem in items:
                if decl:
                    if r.pipe.is_assign:
                        self.set_var(decl[0].ident[0], index if len(decl) > 1 else elem)
                    else:
                        self.vars[-1][1] = elem
                if len(decl) > 1:
                    if r.pipe.is_assign:
                        self.set_var(decl[1].ident[0], elem)
                    else:
                        self.vars[-2][1] = index
                try:
                    self.walk(elem, r.list)
                except _Continue:
                    pass
                finally:
                    del self.vars[mark:]
        except _Break:
            pass
        finally:
            del self.vars[outer:]

    def _range_items(self, val: object, ndecl: int) -> list[tuple[object, object]] | None:
        """The (index, element) pairs of a range, or None to run the else branch."""
        if val is None:
            return None
        if isinstance(val, int) and not isinstance(val, bool):
            if ndecl > 1:
                msg = sprintf("can't use %v to iterate over more than one variable", val)
                raise self.errorf(msg)
            return [(None, i) for i in range(int(val))] or None
        if isinstance(val, str) or not isinstance(val, list | tuple | dict):
            raise self.errorf(sprintf("range can't iterate over %v", val))
        if not val:
            return None
        if isinstance(val, dict):
            return [(k, val[k]) for k in sorted(val, key=fmtsort_key)]
        return list(enumerate(val))

    def walk_template(self, dot: object, t: TemplateNode) -> None:
        self.node = t
        root = self.prog.trees.get(t.name)
        if root is None:
            raise self.errorf(f"template {quote(t.name)} not defined")
        if self.depth >= MAX_EXEC_DEPTH:
            raise self.errorf(f"exceeded maximum template depth ({MAX_EXEC_DEPTH})")
        dot = self.eval_pipeline(dot, t.pipe)
        sub = State(self.prog, self.funcs, self.builtins, self.out, self.ctx)
        sub.depth = self.depth + 1
        sub.name = t.name
        sub.vars = [["$", dot]]
        try:
            sub.walk(dot, root)
        except RecursionError:
            raise self.errorf(f"exceeded maximum template depth ({MAX_EXEC_DEPTH})") from None

    # -- evaluation
    def eval_pipeline(self, dot: object, pipe: PipeNode | None) -> object:
        if pipe is None:
            return None
        self.node = pipe
        value: object = MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        for v in pipe.decl:
            if pipe.is_assign:
                self.set_var(v.ident[0], value)
            else:
                self.vars.append([v.ident[0], value])
        return value

    def not_a_function(self, args: Sequence[Node] | None, final: object) -> None:
        if (args is not None and len(args) > 1) or final is not MISSING:
            first = args[0] if args else ""
            raise self.errorf(f"can't give argument to non-function {first}")

    def eval_command(self, dot: object, cmd: CommandNode, final: object) -> object:
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            return self.eval_field_node(dot, first, cmd.args, final)
        if isinstance(first, ChainNode):
            return self.eval_chain_node(dot, first, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, VariableNode):
            return self.eval_variable_node(dot, first, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final)
        if isinstance(first, BoolNode):
            return first.value
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            raise self.errorf("nil is not a command")
        if isinstance(first, NumberNode):
            return self.ideal_constant(first)
        if isinstance(first, StringNode):
            return first.text
        raise self.errorf(f"can't evaluate command {quote(str(first))}")

    def ideal_constant(self, node: NumberNode) -> object:
        self.node = node
        n = node.num
        text = n.text
        if n.is_complex:
            return n.complex128
        is_hex_int = (
            len(text) > 2
            and text[0] == "0"
            and text[1] in "xX"
            and not any(c in text for c in "pP")
        )
        if (
            n.is_float
            and not is_hex_int
            and not text.startswith("'")
            and any(c in text for c in ".eEpP")
        ):
            return n.float64
        if n.is_int:
            return n.int64
        if n.is_uint:
            raise self.errorf(f"{text} overflows int")
        return None

    def eval_field_node(
        self, dot: object, field: FieldNode, args: Sequence[Node] | None, final: object
    ) -> object:
        self.node = field
        return self.eval_field_chain(dot, dot, field, field.ident, args, final)

    def eval_chain_node(
        self, dot: object, chain: ChainNode, args: Sequence[Node] | None, final: object
    ) -> object:
        self.node = chain
        if isinstance(chain.node, NilNode):
            raise self.errorf(f"indirection through explicit nil in {chain}")
        pipe = self.eval_arg(dot, None, chain.node)
        return self.eval_field_chain(dot, pipe, chain, chain.fields, args, final)

    def eval_variable_node(
        self, dot: object, variable: VariableNode, args: Sequence[Node] | None, final: object
    ) -> object:
        self.node = variable
        value = self.var_value(variable.ident[0])
        if len(variable.ident) == 1:
            self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, variable, variable.ident[1:], args, final)

    def eval_field_chain(
        self,
        dot: object,
        receiver: object,
        node: Node,
        ident: Sequence[str],
        args: Sequence[Node] | None,
        final: object,
    ) -> object:
        static = type_name(receiver)
        for name in ident[:-1]:
            receiver, static = self.eval_field(dot, name, node, None, MISSING, receiver, static)
        return self.eval_field(dot, ident[-1], node, args, final, receiver, static)[0]

    def eval_field(
        self,
        dot: object,
        name: str,
        node: Node,
        args: Sequence[Node] | None,
        final: object,
        receiver: object,
        static: str,
    ) -> tuple[object, str]:
        if receiver is None:
            return None, T_ANY
        methods: Mapping[str, Method] = getattr(receiver, "METHODS", {})
        method = methods.get(name)
        if method is not None:
            bound = Func(method.params, lambda *a: method.impl(receiver, *a))
            return self.eval_call(dot, bound, False, node, name, args, final), T_ANY
        has_args = (args is not None and len(args) > 1) or final is not MISSING
        if isinstance(receiver, Struct) and name in receiver.FIELDS:
            if has_args:
                raise self.errorf(f"{name} has arguments but cannot be invoked as function")
            return getattr(receiver, name), receiver.FIELDS[name]
        if isinstance(receiver, GoMap) and receiver.go_type.startswith("map[string]"):
            if has_args:
                raise self.errorf(f"{name} is not a method but has arguments")
            elem = receiver.go_type[len("map[string]") :]
            missing = receiver.zero if self.prog.missing_zero else None
            return receiver.get(name, missing), elem
        raise self.errorf(f"can't evaluate field {name} in type {static}")

    def eval_function(
        self,
        dot: object,
        node: IdentifierNode,
        cmd: Node,
        args: Sequence[Node] | None,
        final: object,
    ) -> object:
        self.node = node
        name = node.ident
        fn = self.funcs.get(name)
        builtin = False
        if fn is None:
            fn = self.builtins.get(name)
            builtin = fn is not None
        if fn is None:
            raise self.errorf(f"{quote(name)} is not a defined function")
        return self.eval_call(dot, fn, builtin, cmd, name, args, final)

    def eval_call(
        self,
        dot: object,
        fn: Func,
        builtin: bool,
        node: Node,
        name: str,
        args: Sequence[Node] | None,
        final: object,
    ) -> object:
        args = list(args[1:]) if args is not None else []
        params = fn.params
        num_in = len(args) + (final is not MISSING)
        num_fixed = len(args)
        if fn.variadic:
            num_fixed = len(params) - 1
            if num_in < num_fixed:
                raise self.errorf(
                    f"wrong number of args for {name}: want at least {len(params) - 1} "
                    f"got {len(args)}"
                )
        elif num_in != len(params):
            raise self.errorf(f"wrong number of args for {name}: want {len(params)} got {num_in}")
        if builtin and name in ("and", "or"):
            v: object = None
            for arg in args:
                v = self.eval_arg(dot, T_VALUE, arg)
                if is_true(v)[0] == (name == "or"):
                    return v
            if final is not MISSING:
                v = self.validate_type(final, T_VALUE)
            return v
        argv: list[object] = []
        i = 0
        while i < num_fixed and i < len(args):
            argv.append(self.eval_arg(dot, params[i], args[i]))
            i += 1
        if fn.variadic:
            while i < len(args):
                argv.append(self.eval_arg(dot, params[-1], args[i]))
                i += 1
        if final is not MISSING:
            t = params[-1]
            if fn.variadic and num_in - 1 < num_fixed:
                t = params[num_in - 1]
            argv.append(self.validate_type(final, t))
        if builtin and name == "call":
            callee = str(args[0]) if args else str(final)
            argv.insert(0, callee)
        try:
            if fn.with_context:
                return fn.impl(self.ctx, *argv)
            return fn.impl(*argv)
        except FuncError as err:
            self.node = node
            raise self.errorf(f"error calling {name}: {err}") from None

    def validate_type(self, value: object, typ: str | None) -> object:
        if value is None:
            if typ is None or can_be_nil(typ):
                return None
            raise self.errorf(f"invalid value; expected {typ}")
        if typ is not None and not _assignable(value, typ):
            raise self.errorf(f"wrong type for value; expected {typ}; got {type_name(value)}")
        return value

    def eval_arg(self, dot: object, typ: str | None, n: Node) -> object:
        self.node = n
        if isinstance(n, DotNode):
            return self.validate_type(dot, typ)
        if isinstance(n, NilNode):
            if can_be_nil(typ):
                return None
            raise self.errorf(f"cannot assign nil to {typ}")
        if isinstance(n, FieldNode):
            return self.validate_type(self.eval_field_node(dot, n, [n], MISSING), typ)
        if isinstance(n, VariableNode):
            return self.validate_type(self.eval_variable_node(dot, n, None, MISSING), typ)
        if isinstance(n, PipeNode):
            return self.validate_type(self.eval_pipeline(dot, n), typ)
        if isinstance(n, IdentifierNode):
            return self.validate_type(self.eval_function(dot, n, n, None, MISSING), typ)
        if isinstance(n, ChainNode):
            return self.validate_type(self.eval_chain_node(dot, n, None, MISSING), typ)
        if typ == T_BOOL:
            if isinstance(n, BoolNode):
                return n.value
            raise self.errorf(f"expected bool; found {n}")
        if typ == T_FLOAT:
            if isinstance(n, NumberNode) and n.num.is_float:
                return n.num.float64
            raise self.errorf(f"expected float; found {n}")
        if typ == T_INT:
            if isinstance(n, NumberNode) and n.num.is_int:
                return n.num.int64
            raise self.errorf(f"expected integer; found {n}")
        if typ in (T_ANY, T_VALUE):
            return self.eval_empty_interface(dot, n)
        if typ in _STRING_KINDS:
            if isinstance(n, StringNode):
                return n.text if typ == T_STRING else NamedString(n.text, typ)
            raise self.errorf(f"expected string; found {n}")
        raise self.errorf(f"can't handle {n} for arg of type {typ}")

    def eval_empty_interface(self, dot: object, n: Node) -> object:
        self.node = n
        if isinstance(n, BoolNode):
            return n.value
        if isinstance(n, NumberNode):
            return self.ideal_constant(n)
        if isinstance(n, StringNode):
            return n.text
        raise self.errorf(f"can't handle assignment of {n} to empty interface argument")

    @staticmethod
    def _indirect(v: object) -> object:
        if isinstance(v, Struct) and v.go_pointer:
            return ValueView(v)
        return v

    def print_value(self, node: Node, v: object) -> None:
        self.node = node
        self.out.append(printable(v))


def printable(v: object) -> str:
    """How an action prints a value (Go's ``printableValue`` then ``fmt.Fprint``)."""
    if v is None:
        return "<no value>"
    if isinstance(v, str):
        return str(v)
    if isinstance(v, GoStringer):
        return v.go_string()
    if isinstance(v, Struct) and v.go_pointer:
        return sprint(ValueView(v))
    return sprint(v)


def printable_args(args: Sequence[object]) -> str:
    """Go's ``evalArgs``: ``fmt.Sprint`` of the arguments, each made printable first."""
    if len(args) == 1 and isinstance(args[0], str):
        return str(args[0])
    fixed: list[object] = []
    for a in args:
        if a is None:
            fixed.append("<no value>")
        elif isinstance(a, Struct) and a.go_pointer:
            fixed.append(ValueView(a))
        else:
            fixed.append(a)
    return sprint(*fixed)
