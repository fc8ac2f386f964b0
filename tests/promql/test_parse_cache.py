"""The parse cache is bounded in bytes (issue 11 item 6): huge distinct queries cannot grow it."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator

import pytest

from kubeprom.promql import ast, limits
from kubeprom.promql.parse import CACHE, PARSE_CACHE_BYTES, parse
from kubeprom.promql.parse_cache import ParseCache, entry_bytes


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    CACHE.clear()
    yield
    CACHE.clear()


def test_repeated_queries_share_one_tree() -> None:
    first = parse('sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))')
    assert parse('sum by (job) (rate(http_requests_total{code=~"5.."}[5m]))') is first
    assert len(CACHE) == 1


def test_distinct_huge_queries_stay_within_the_byte_bound() -> None:
    # The 150 distinct 4 MiB queries took RSS from 66 to 738 MB; queries are now at
    # most 1 MiB, and the cache holds at most PARSE_CACHE_BYTES of text and trees.
    size = limits.MAX_QUERY_BYTES - 64
    gc.collect()
    tracemalloc.start()
    try:
        for i in range(150):
            query = f'up{{job="{i:04d}' + "x" * (size - 20) + '"}'
            assert isinstance(parse(query), ast.VectorSel)
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert CACHE.size_bytes <= PARSE_CACHE_BYTES
    assert len(CACHE) == PARSE_CACHE_BYTES // entry_bytes(query, 6)
    # Each entry holds the query text and the matcher value copied from it.
    assert held < PARSE_CACHE_BYTES + 8 * limits.MAX_QUERY_BYTES
    assert parse(query) is parse(query)  # the newest is still cached


def _tree(n: int) -> ast.Expr:
    return ast.NumberLit(float(n), pos=ast.Pos(0, 1))


def test_least_recently_used_goes_first() -> None:
    cache = ParseCache(max_bytes=300, max_entries=10)
    for name in "abc":
        cache.put(name, _tree(ord(name)), 70)
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("d", _tree(4), 70)
    cache.put("e", _tree(5), 70)  # 350 bytes: b, the least recent, goes
    assert [k for k in "abcde" if cache.get(k) is not None] == ["a", "c", "d", "e"]
    assert cache.size_bytes == 280


def test_entry_bound_and_oversized_entries() -> None:
    cache = ParseCache(max_bytes=1000, max_entries=2)
    cache.put("big", _tree(1), 251)  # over a quarter of the bytes: never kept
    assert (len(cache), cache.size_bytes) == (0, 0)
    for name in "xyz":
        cache.put(name, _tree(2), 10)
    assert [k for k in "xyz" if cache.get(k) is not None] == ["y", "z"]
    assert cache.size_bytes == 20
