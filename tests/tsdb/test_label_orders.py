"""The head's remembered label orders stay within their bounds on refs and sets."""

from __future__ import annotations

from kubeprom.tsdb.head import LabelOrders


def test_orders_are_kept_until_a_bound_is_reached() -> None:
    orders = LabelOrders()
    orders.put(b"a", [1, 0])
    orders.put(b"b", [0, 1, 2])
    assert orders.get(b"a") == [1, 0]
    assert orders.get(b"b") == [0, 1, 2]


def test_large_sets_drop_the_others_before_the_refs_bound() -> None:
    orders = LabelOrders()
    big = list(range(LabelOrders.MAX_REFS // 2 + 1))
    orders.put(b"first", big)
    orders.put(b"second", big)  # the two together exceed MAX_REFS
    assert orders.get(b"first") is None
    assert orders.get(b"second") is big


def test_many_small_sets_are_bounded_by_count() -> None:
    orders = LabelOrders()
    for i in range(LabelOrders.MAX_SETS + 1):
        orders.put(str(i).encode(), [0])
    assert orders.get(b"0") is None
    assert orders.get(str(LabelOrders.MAX_SETS).encode()) == [0]
