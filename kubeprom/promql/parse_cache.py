"""Parsed trees of recent queries, least recently used first out, bounded by bytes.

Dashboards and rule groups send the same expressions again and again, and trees are frozen
dataclasses, so one parsed tree can be shared. A count bound alone is not enough: 150
distinct 4 MiB queries would hold 600 MiB of text, so each entry is charged for its text and
an estimate of its tree, and the cache holds at most ``max_bytes`` of both. Errors are never
cached (they raise). Safe to use from query threads.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict

from kubeprom.promql import ast

TREE_BYTES_PER_TOKEN = 300
"""Estimated bytes of tree per token of the query: tracemalloc over every 10th query of the
bench, mixin and promqltest corpora measured 70-700 bytes per token, median 240 (node
objects, tuples and matchers included; the small queries carry fixed costs)."""

ENTRY_BYTES = 1024
"""Fixed charge per entry (dictionary slot, key object, the smallest trees)."""


def entry_bytes(query: str, tokens: int) -> int:
    """What one cached tree of ``query`` (with ``tokens`` tokens) is charged: the text twice
    (the key, and the label values and strings the tree copies out of it) plus the nodes."""
    return 2 * sys.getsizeof(query) + TREE_BYTES_PER_TOKEN * tokens + ENTRY_BYTES


class ParseCache:
    """Query text -> tree, bounded by ``max_entries`` and by ``max_bytes`` (see entry_bytes).

    An entry larger than a quarter of ``max_bytes`` is not kept, so one huge query cannot
    flush every tree the dashboards use.
    """

    def __init__(self, max_bytes: int, max_entries: int) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._items: OrderedDict[str, tuple[ast.Expr, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, query: str) -> ast.Expr | None:
        with self._lock:
            item = self._items.get(query)
            if item is None:
                return None
            self._items.move_to_end(query)
            return item[0]

    def put(self, query: str, tree: ast.Expr, size: int) -> None:
        if size > self.max_bytes // 4:
            return
        with self._lock:
            if query in self._items:
                return
            self._items[query] = (tree, size)
            self._bytes += size
            while self._bytes > self.max_bytes or len(self._items) > self.max_entries:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size_bytes(self) -> int:
        """Bytes charged for the entries held now."""
        return self._bytes
