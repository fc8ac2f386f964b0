"""The parser of Go's text/template (``text/template/parse/parse.go``), rule for rule.

Errors read as Go's: ``template: NAME:LINE: message``, where LINE is the line of the last
token read (Go's ``t.token[0].line``), so the three-token lookahead is kept as Go has it.
"""

from __future__ import annotations

from collections.abc import Collection

from kubeprom.model.gofmt import quote
from kubeprom.rules.template.golit import UnquoteError, parse_number, unquote
from kubeprom.rules.template.lexer import Item, ItemType, Lexer
from kubeprom.rules.template.nodes import (
    ActionNode,
    BoolNode,
    BranchNode,
    BreakNode,
    ChainNode,
    CommandNode,
    CommentNode,
    ContinueNode,
    DotNode,
    ElseNode,
    EndNode,
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
    is_empty_tree,
)

MAX_STACK_DEPTH = 10_000
MAX_PIPELINE_CMDS = 100_000


class GoParseError(Exception):
    """A template does not parse; ``str()`` is Go's message, ``line`` its line."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


class _Parser:
    """One Go ``Tree`` during parsing; define/block bodies get their own on the same lexer."""

    def __init__(
        self,
        name: str,
        parse_name: str,
        lex: Lexer,
        funcs: Collection[str],
        tree_set: dict[str, ListNode],
    ) -> None:
        self.name = name
        self.parse_name = parse_name
        self.lex = lex
        self.funcs = funcs
        self.tree_set = tree_set
        self.token: list[Item] = [Item(ItemType.EOF, 0, "", 1)] * 3
        self.peek_count = 0
        self.vars = ["$"]
        self.action_line = 0
        self.range_depth = 0
        self.stack_depth = 0
        self.root: ListNode | None = None

    # -- token stream
    def next(self) -> Item:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = self.lex.next_item()
        return self.token[self.peek_count]

    def backup(self) -> None:
        self.peek_count += 1

    def backup2(self, t1: Item) -> None:
        self.token[1] = t1
        self.peek_count = 2

    def backup3(self, t2: Item, t1: Item) -> None:
        self.token[1] = t1
        self.token[2] = t2
        self.peek_count = 3

    def peek(self) -> Item:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[0] = self.lex.next_item()
        return self.token[0]

    def next_non_space(self) -> Item:
        while True:
            token = self.next()
            if token.typ != ItemType.SPACE:
                return token

    def peek_non_space(self) -> Item:
        token = self.next_non_space()
        self.backup()
        return token

    # -- errors
    def errorf(self, message: str) -> GoParseError:
        line = self.token[0].line
        return GoParseError(f"template: {self.parse_name}:{line}: {message}", line)

    def expect(self, expected: ItemType, context: str) -> Item:
        token = self.next_non_space()
        if token.typ != expected:
            raise self.unexpected(token, context)
        return token

    def unexpected(self, token: Item, context: str) -> GoParseError:
        if token.typ == ItemType.ERROR:
            extra = ""
            if self.action_line != 0 and self.action_line != token.line:
                extra = f" in action started at {self.parse_name}:{self.action_line}"
                if token.val.endswith(" action"):
                    extra = extra[len(" in action") :]
            return self.errorf(f"{token}{extra}")
        return self.errorf(f"unexpected {token} in {context}")

    # -- top level
    def parse(self) -> None:
        self.root = ListNode(self.peek().pos)
        while self.peek().typ != ItemType.EOF:
            if self.peek().typ == ItemType.LEFT_DELIM:
                delim = self.next()
                if self.next_non_space().typ == ItemType.DEFINE:
                    sub = _Parser(
                        "definition", self.parse_name, self.lex, self.funcs, self.tree_set
                    )
                    sub.parse_definition()
                    continue
                self.backup2(delim)
            n = self.text_or_action()
            if isinstance(n, EndNode | ElseNode):
                raise self.errorf(f"unexpected {n}")
            self.root.nodes.append(n)

    def add(self) -> None:
        root = self.root if self.root is not None else ListNode(0)
        tree = self.tree_set.get(self.name)
        if tree is None or is_empty_tree(tree):
            self.tree_set[self.name] = root
            return
        if not is_empty_tree(root):
            raise self.errorf(f"template: multiple definition of template {_q(self.name)}")

    def parse_definition(self) -> None:
        context = "define clause"
        token = self.next_non_space()
        if token.typ not in (ItemType.STRING, ItemType.RAW_STRING):
            raise self.unexpected(token, context)
        try:
            self.name = unquote(token.val)
        except UnquoteError as err:
            raise self.errorf(str(err)) from err
        self.expect(ItemType.RIGHT_DELIM, context)
        self.root, end = self.item_list()
        if not isinstance(end, EndNode):
            raise self.errorf(f"unexpected {end} in {context}")
        self.add()

    def item_list(self) -> tuple[ListNode, Node]:
        lst = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ != ItemType.EOF:
            n = self.text_or_action()
            if isinstance(n, EndNode | ElseNode):
                return lst, n
            lst.nodes.append(n)
        raise self.errorf("unexpected EOF")

    def text_or_action(self) -> Node:
        token = self.next_non_space()
        if token.typ == ItemType.TEXT:
            return TextNode(token.pos, token.val)
        if token.typ == ItemType.LEFT_DELIM:
            self.action_line = token.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        if token.typ == ItemType.COMMENT:
            return CommentNode(token.pos, token.val)
        raise self.unexpected(token, "input")

    def action(self) -> Node:
        token = self.next_non_space()
        t = token.typ
        if t == ItemType.BLOCK:
            return self.block_control()
        if t == ItemType.BREAK:
            return self.break_control(token, "{{break}}", BreakNode)
        if t == ItemType.CONTINUE:
            return self.break_control(token, "{{continue}}", ContinueNode)
        if t == ItemType.ELSE:
            return self.else_control()
        if t == ItemType.END:
            return EndNode(self.expect(ItemType.RIGHT_DELIM, "end").pos)
        if t == ItemType.IF:
            return IfNode(*self.parse_control("if"))
        if t == ItemType.RANGE:
            return RangeNode(*self.parse_control("range"))
        if t == ItemType.TEMPLATE:
            return self.template_control()
        if t == ItemType.WITH:
            return WithNode(*self.parse_control("with"))
        self.backup()
        token = self.peek()
        return ActionNode(token.pos, token.line, self.pipeline("command", ItemType.RIGHT_DELIM))

    def break_control(
        self, keyword: Item, text: str, cls: type[BreakNode] | type[ContinueNode]
    ) -> Node:
        token = self.next_non_space()
        if token.typ != ItemType.RIGHT_DELIM:
            raise self.unexpected(token, text)
        if self.range_depth == 0:
            raise self.errorf(f"{text} outside {{{{range}}}}")
        return cls(keyword.pos, keyword.line)

    # -- pipelines
    def pipeline(self, context: str, end: ItemType) -> PipeNode:
        token = self.peek_non_space()
        pipe = PipeNode(token.pos, token.line)
        while True:  # declarations
            v = self.peek_non_space()
            if v.typ != ItemType.VARIABLE:
                break
            self.next()
            token_after = self.peek()
            nxt = self.peek_non_space()
            if nxt.typ in (ItemType.ASSIGN, ItemType.DECLARE):
                pipe.is_assign = nxt.typ == ItemType.ASSIGN
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, v.val))
                self.vars.append(v.val)
            elif nxt.typ == ItemType.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, v.val))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (
                        ItemType.VARIABLE,
                        ItemType.RIGHT_DELIM,
                        ItemType.RIGHT_PAREN,
                    ):
                        continue  # a second variable in a range pipeline
                    raise self.errorf("range can only initialize variables")
                raise self.errorf(f"too many declarations in {context}")
            elif token_after.typ == ItemType.SPACE:
                self.backup3(v, token_after)
            else:
                self.backup2(v)
            break
        while True:
            token = self.next_non_space()
            if token.typ == end:
                self.check_pipeline(pipe, context)
                return pipe
            if token.typ in _OPERAND_START:
                self.backup()
                pipe.cmds.append(self.command())
                if len(pipe.cmds) > MAX_PIPELINE_CMDS:
                    raise self.errorf("pipeline too long")
            else:
                raise self.unexpected(token, context)

    def check_pipeline(self, pipe: PipeNode, context: str) -> None:
        if not pipe.cmds:
            raise self.errorf(f"missing value for {context}")
        for i, c in enumerate(pipe.cmds[1:]):
            if isinstance(c.args[0], BoolNode | DotNode | NilNode | NumberNode | StringNode):
                raise self.errorf(f"non executable command in pipeline stage {i + 2}")

    def parse_control(self, context: str) -> tuple[int, int, PipeNode, ListNode, ListNode | None]:
        mark = len(self.vars)
        try:
            pipe = self.pipeline(context, ItemType.RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            lst, nxt = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_list = None
            if isinstance(nxt, ElseNode):
                # "{{else if ...}}" / "{{else with ...}}" nest as {{else}}{{if ...}}...{{end}}
                if context == "if" and self.peek().typ == ItemType.IF:
                    self.next()
                    else_list = ListNode(nxt.pos)
                    else_list.nodes.append(IfNode(*self.parse_control("if")))
                elif context == "with" and self.peek().typ == ItemType.WITH:
                    self.next()
                    else_list = ListNode(nxt.pos)
                    else_list.nodes.append(WithNode(*self.parse_control("with")))
                else:
                    else_list, nxt = self.item_list()
                    if not isinstance(nxt, EndNode):
                        raise self.errorf(f"expected end; found {nxt}")
            return pipe.pos, pipe.line, pipe, lst, else_list
        finally:
            del self.vars[mark:]

    def else_control(self) -> Node:
        peek = self.peek_non_space()
        if peek.typ in (ItemType.IF, ItemType.WITH):
            return ElseNode(peek.pos, peek.line)
        token = self.expect(ItemType.RIGHT_DELIM, "else")
        return ElseNode(token.pos, token.line)

    def block_control(self) -> Node:
        context = "block clause"
        token = self.next_non_space()
        name = self.parse_template_name(token, context)
        pipe = self.pipeline(context, ItemType.RIGHT_DELIM)
        block = _Parser(name, self.parse_name, self.lex, self.funcs, self.tree_set)
        block.root, end = block.item_list()
        if not isinstance(end, EndNode):
            raise self.errorf(f"unexpected {end} in {context}")
        block.add()
        return TemplateNode(token.pos, token.line, name, pipe)

    def template_control(self) -> Node:
        context = "template clause"
        token = self.next_non_space()
        name = self.parse_template_name(token, context)
        pipe = None
        if self.next_non_space().typ != ItemType.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, ItemType.RIGHT_DELIM)
        return TemplateNode(token.pos, token.line, name, pipe)

    def parse_template_name(self, token: Item, context: str) -> str:
        if token.typ in (ItemType.STRING, ItemType.RAW_STRING):
            try:
                return unquote(token.val)
            except UnquoteError as err:
                raise self.errorf(str(err)) from err
        raise self.unexpected(token, context)

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.typ == ItemType.SPACE:
                continue
            if token.typ in (ItemType.RIGHT_DELIM, ItemType.RIGHT_PAREN):
                self.backup()
            elif token.typ != ItemType.PIPE:
                raise self.unexpected(token, "operand")
            break
        if not cmd.args:
            raise self.errorf("empty command")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == ItemType.FIELD:
            chain = ChainNode(self.peek().pos, node)
            while self.peek().typ == ItemType.FIELD:
                chain.fields.append(self.next().val[1:])
            if isinstance(node, FieldNode):
                return FieldNode(chain.pos, str(chain))
            if isinstance(node, VariableNode):
                return VariableNode(chain.pos, str(chain))
            if isinstance(node, BoolNode | StringNode | NumberNode | NilNode | DotNode):
                raise self.errorf(f"unexpected . after term {_q(str(node))}")
            return chain
        return node

    def term(self) -> Node | None:
        token = self.next_non_space()
        t = token.typ
        if t == ItemType.IDENTIFIER:
            if token.val not in self.funcs:
                raise self.errorf(f"function {_q(token.val)} not defined")
            return IdentifierNode(token.pos, token.val)
        if t == ItemType.DOT:
            return DotNode(token.pos)
        if t == ItemType.NIL:
            return NilNode(token.pos)
        if t == ItemType.VARIABLE:
            return self.use_var(token.pos, token.val)
        if t == ItemType.FIELD:
            return FieldNode(token.pos, token.val)
        if t == ItemType.BOOL:
            return BoolNode(token.pos, token.val == "true")
        if t in (ItemType.CHAR_CONSTANT, ItemType.COMPLEX, ItemType.NUMBER):
            try:
                num = parse_number(token.val, t)
            except UnquoteError as err:
                raise self.errorf(str(err)) from err
            return NumberNode(token.pos, num)
        if t == ItemType.LEFT_PAREN:
            if self.stack_depth >= MAX_STACK_DEPTH:
                raise self.errorf("max expression depth exceeded")
            self.stack_depth += 1
            try:
                return self.pipeline("parenthesized pipeline", ItemType.RIGHT_PAREN)
            finally:
                self.stack_depth -= 1
        if t in (ItemType.STRING, ItemType.RAW_STRING):
            try:
                return StringNode(token.pos, token.val, unquote(token.val))
            except UnquoteError as err:
                raise self.errorf(str(err)) from err
        self.backup()
        return None

    def use_var(self, pos: int, name: str) -> Node:
        v = VariableNode(pos, name)
        if v.ident[0] not in self.vars:
            raise self.errorf(f"undefined variable {_q(v.ident[0])}")
        return v


_OPERAND_START = frozenset(
    {
        ItemType.BOOL,
        ItemType.CHAR_CONSTANT,
        ItemType.COMPLEX,
        ItemType.DOT,
        ItemType.FIELD,
        ItemType.IDENTIFIER,
        ItemType.NUMBER,
        ItemType.NIL,
        ItemType.RAW_STRING,
        ItemType.STRING,
        ItemType.VARIABLE,
        ItemType.LEFT_PAREN,
    }
)


def _q(s: str) -> str:
    return quote(s)


def parse(
    name: str, text: str, funcs: Collection[str], delims: tuple[str, str] = ("{{", "}}")
) -> dict[str, ListNode]:
    """Parse a template and its ``define``/``block`` bodies: template name -> root list.

    ``funcs`` are the names a template may call; ``delims`` are the action delimiters
    (``Template.Delims``; an empty one means the default). Raises :class:`GoParseError`.
    """
    lex = Lexer(
        text,
        break_ok="break" not in funcs,
        continue_ok="continue" not in funcs,
        left_delim=delims[0],
        right_delim=delims[1],
    )
    tree_set: dict[str, ListNode] = {}
    p = _Parser(name, name, lex, funcs, tree_set)
    p.parse()
    p.add()
    return tree_set


__all__ = ["BranchNode", "GoParseError", "parse"]
