"""Selections and sub-expression values shared by the queries of one rule-group iteration.

The mixin's groups select the same series with the same matchers and window rule after rule
(``kube_pod_info``, ``kube_pod_owner``, the cAdvisor metrics), and their alerts repeat whole
sub-expressions (``sum(kube_node_status_allocatable{resource="cpu"})`` and its siblings),
all at the group's one evaluation time. Prometheus evaluates each rule's query afresh; with
a :class:`QueryMemo` a later query reuses an earlier query's select (same matchers and time
range) or node value (same sub-expression, ignoring source positions, at the same times) as
long as it would compute the same thing:

- any change to the store by another writer (a scrape's commit, compaction, a collection, a
  tombstone, the block list) empties the memo: the store's change count (``DB.changes``)
  differs from the one the memo last saw;
- the group's own commits (a rule's output, which the rules after it must see) drop only
  the entries whose selectors accept a metric name the commit wrote (:meth:`committed`);
  an entry that selects without a ``__name__`` matcher, or reads through ``info()``, is
  dropped by every commit.

Across iterations a group keeps its trees' :class:`Shapes` and label work (:class:`Reuse`:
an aggregation's groups, a binary operator's match signatures, per input label sets).

Only values whose evaluation added no warning or info are kept (a reuse would lose them);
a reuse accounts for the samples the node holds as its evaluation did. Kept arrays are made
read-only, so a consumer that tried to change one in place would fail loudly rather than
corrupt a later rule. One memo serves one iteration of one group, in one thread.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, fields

from kubeprom.errors import ParseError
from kubeprom.model.labels import METRIC_NAME
from kubeprom.model.matchers import Matcher, MatchType
from kubeprom.model.samples import I64Array
from kubeprom.promql import ast
from kubeprom.promql.parse import parse
from kubeprom.promql.types import InstantSteps, Scalar
from kubeprom.tsdb.api import Querier, SelectView, SeriesSet

_SelectKey = tuple[tuple[Matcher, ...], int, int]
_NodeKey = tuple[int, bytes, int, int]

SHARED_NODES = (ast.Aggregate, ast.Call, ast.Binary)
"""Nodes whose values are shared: the ones that compute (selectors share their selections
through the memo's querier; literals cost nothing)."""

REUSE_MAX = 2_048
"""Entries a :class:`Reuse` keeps before it starts over."""

REUSE_MAX_SERIES = 200_000
"""Label sets (in keys and values) a :class:`Reuse` holds before it starts over: a few MiB
of references, however large the selections."""

SHAPES_MAX = 10_000
"""Shapes a :class:`Shapes` keeps before it starts over (a group's trees hold far fewer;
template queries add their own)."""


@dataclass(frozen=True, slots=True)
class Shape:
    """A node's identity without source positions (``key``; ``ident`` numbers equal keys
    alike), and what it reads from the store: ``selectors`` the matchers of its selectors,
    ``opaque`` when it reads more than those (``info()`` selects series its arguments do
    not name)."""

    key: Hashable
    ident: int
    selectors: tuple[tuple[Matcher, ...], ...]
    opaque: bool
    # The metric names its selectors read when each names one (``__name__="x"``), else
    # None: the quick form of the check after the group's commits.
    names: frozenset[str] | None


class Shapes:
    """Shapes of the nodes of a group's trees, computed once per node and kept across
    iterations (the nodes are kept too, so their ids stay theirs).

    ``queries`` are the group's expressions: a node value is worth keeping only when its
    shape occurs more than once in them (elsewhere keeping it costs more than it saves),
    and a memo at all only when some node or selector does (``worthwhile``).
    """

    def __init__(self, queries: Iterable[str] = ()) -> None:
        self.reuse = Reuse()
        self._items: dict[int, tuple[ast.Expr, Shape]] = {}
        self._idents: dict[Hashable, int] = {}
        self._next = 0
        seen: set[int] = set()
        self.repeated: set[int] = set()
        selections: set[Hashable] = set()
        # Whether a memo can pay for itself: some node or selector occurs twice.
        self.worthwhile = False
        for q in queries:
            try:
                tree = parse(q)
            except ParseError:
                continue  # the rule reports it when it runs
            nodes = ast.walk(tree)
            ranged = {id(e.selector) for e in nodes if isinstance(e, ast.MatrixSel)}
            for e in nodes:
                if id(e) in ranged:
                    continue  # counted as its range selector
                if isinstance(e, SHARED_NODES) and (shape := self.of(e)).selectors:
                    # Nodes that read nothing (``vector(0)``) cost less than keeping them.
                    (self.repeated if shape.ident in seen else seen).add(shape.ident)
                key = _selection(e)
                if key is not None:
                    self.worthwhile = self.worthwhile or key in selections
                    selections.add(key)
        self.worthwhile = self.worthwhile or bool(self.repeated)

    def worth_keeping(self, e: ast.Expr) -> bool:
        return self.of(e).ident in self.repeated

    def of(self, e: ast.Expr) -> Shape:
        item = self._items.get(id(e))
        if item is not None and item[0] is e:
            return item[1]
        if len(self._items) >= SHAPES_MAX:  # the idents ``repeated`` names stay
            self._items.clear()
            self._idents = {k: i for k, i in self._idents.items() if i in self.repeated}
        parts: list[Hashable] = [type(e).__name__]
        selectors: list[tuple[Matcher, ...]] = []
        opaque = isinstance(e, ast.Call) and e.func == "info"
        if isinstance(e, ast.VectorSel):
            selectors.append(e.matchers)
        for f in fields(e):
            if f.name == "pos":
                continue
            value = getattr(e, f.name)
            if isinstance(value, ast.Expr):
                value = self._child(value, selectors)
                opaque = opaque or value.opaque
            elif isinstance(value, tuple) and value and isinstance(value[0], ast.Expr):
                shapes = [self._child(c, selectors) for c in value]
                opaque = opaque or any(s.opaque for s in shapes)
                value = tuple(shapes)
            parts.append(value)
        key = tuple(parts)
        ident = self._idents.get(key)
        if ident is None:
            ident = self._idents[key] = self._next
            self._next += 1
        named = [_name_of(m) for m in selectors]
        names = None if opaque or None in named else frozenset(n for n in named if n is not None)
        shape = Shape(key, ident, tuple(selectors), opaque, names)
        self._items[id(e)] = (e, shape)
        return shape

    def _child(self, c: ast.Expr, selectors: list[tuple[Matcher, ...]]) -> Shape:
        s = self.of(c)
        selectors.extend(s.selectors)
        return s


class Reuse:
    """Label work of a group's queries kept across iterations: pure functions of label sets
    (an aggregation's groups, a binary operator's match signatures and result labels),
    keyed by everything they depend on, so a later iteration over the same series does
    none of it again. Values are shared: callers must not change them."""

    def __init__(self) -> None:
        self._items: dict[Hashable, object] = {}
        self._series = 0

    def get(self, key: Hashable) -> object | None:
        return self._items.get(key)

    def put(self, key: Hashable, value: object, series: int) -> None:
        """Keep ``value`` under ``key``; ``series`` is how many label sets both hold."""
        if len(self._items) >= REUSE_MAX or self._series + series > REUSE_MAX_SERIES:
            self._items.clear()
            self._series = 0
        self._items[key] = value
        self._series += series


@dataclass(slots=True)
class _Node:
    value: InstantSteps | Scalar
    held: int  # samples the evaluation left held (replayed by a reuse)
    shape: Shape


class QueryMemo:
    """Selections and node values of one group iteration; ``changes()`` is the store's
    change count, ``shapes`` the group's kept :class:`Shapes`."""

    def __init__(self, changes: Callable[[], int], shapes: Shapes) -> None:
        self._changes = changes
        self._seen = changes()
        self.shapes = shapes
        self._selects: dict[_SelectKey, tuple[SeriesSet, str | None]] = {}
        self._nodes: dict[_NodeKey, _Node] = {}
        self.hits = 0
        self.misses = 0

    def _check(self) -> int:
        now = self._changes()
        if now != self._seen:  # another writer changed the store: nothing is known
            self._selects.clear()
            self._nodes.clear()
            self._seen = now
        return now

    # ---- selections ---------------------------------------------------------------------
    def view(self, base: Querier) -> Querier:
        """``base`` with its selects answered from the memo where they can be."""
        return _MemoView(base, self)

    def select(self, base: Querier, matchers: Sequence[Matcher], mint: int, maxt: int) -> SeriesSet:
        now = self._check()
        key = (tuple(matchers), mint, maxt)
        found = self._selects.get(key)
        if found is not None:
            self.hits += 1
            return found[0]
        self.misses += 1
        ss = base.select(matchers, mint, maxt)
        if self._changes() == now:  # not kept if the store changed under the select
            self._selects[key] = (ss, _name_of(key[0]))
        return ss

    # ---- node values ------------------------------------------------------------------------
    def node_key(self, e: ast.Expr, ts: I64Array, start_ms: int, end_ms: int) -> _NodeKey:
        return (self.shapes.of(e).ident, ts.tobytes(), start_ms, end_ms)

    def node(self, key: _NodeKey) -> tuple[InstantSteps | Scalar, int] | None:
        """A kept value and the samples its evaluation left held, or None."""
        self._check()
        found = self._nodes.get(key)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        return found.value, found.held

    def keep_node(
        self, key: _NodeKey, e: ast.Expr, value: InstantSteps | Scalar, held: int, seen: int
    ) -> None:
        """Keep ``value`` (made read-only) unless the store changed since ``seen`` (the
        change count before the evaluation, :meth:`count`)."""
        if self._changes() != seen:
            return
        if isinstance(value, InstantSteps):
            for arr in (value.values, value.present, value.drop_name):
                arr.flags.writeable = False
        else:
            value.values.flags.writeable = False
        self._nodes[key] = _Node(value, held, self.shapes.of(e))

    def count(self) -> int:
        """The store's change count now (after dropping what a change made stale)."""
        return self._check()

    # ---- the group's own writes -----------------------------------------------------------
    def before_commit(self) -> int:
        """The store's change count just before the group commits (for :meth:`committed`)."""
        return self._changes()

    def committed(self, before: int, names: Iterable[str] | None) -> None:
        """The group committed series named ``names`` (None: names unknown). Entries that
        cannot read such a series stay, unless another writer changed the store too (the
        count moved before the commit). A commit of another writer landing between this
        commit and the count read here is seen at the next change only: the interleaving
        two selects of one query already have with a concurrent scrape."""
        if before != self._seen or names is None:
            self._selects.clear()
            self._nodes.clear()
        else:
            written = frozenset(names)
            for skey in [
                k for k, (_, name) in self._selects.items() if _may_select(k[0], name, written)
            ]:
                del self._selects[skey]
            for nkey in [k for k, n in self._nodes.items() if _may_read(n.shape, written)]:
                del self._nodes[nkey]
        self._seen = self._changes()


def _selection(e: ast.Expr) -> Hashable | None:
    """What a selector node selects, as far as the tree tells (matchers, the window's
    length and place)."""
    if isinstance(e, ast.MatrixSel):
        s = e.selector
        return (s.matchers, e.range_ms, s.offset_ms, s.at)
    if isinstance(e, ast.VectorSel):
        return (e.matchers, None, e.offset_ms, e.at)
    return None


def _name_of(matchers: tuple[Matcher, ...]) -> str | None:
    """The metric name an equality matcher fixes, or None."""
    for m in matchers:
        if m.name == METRIC_NAME and m.type is MatchType.EQUAL:
            return m.value
    return None


def _may_select(matchers: tuple[Matcher, ...], name: str | None, names: frozenset[str]) -> bool:
    """Whether a selection with ``matchers`` (``name`` the one an equality matcher fixes)
    can hold a series named one of ``names``."""
    if name is not None:
        return name in names
    for m in matchers:
        if m.name == METRIC_NAME and not any(m.matches(n) for n in names):
            return False
    return True


def _may_read(shape: Shape, names: frozenset[str]) -> bool:
    if shape.names is not None:
        return not shape.names.isdisjoint(names)
    return shape.opaque or any(_may_select(s, _name_of(s), names) for s in shape.selectors)


class _MemoView(SelectView):
    def __init__(self, base: Querier, memo: QueryMemo) -> None:
        super().__init__(base)
        self._memo = memo

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> SeriesSet:
        return self._memo.select(self.base, matchers, mint, maxt)
