"""The InstantSteps helpers: compact, merge_same_labels, cleanup; and the value type names."""

from __future__ import annotations

import numpy as np
import pytest

from kubeprom.errors import EvalError
from kubeprom.model import Labels
from kubeprom.promql.steps import cleanup, compact, merge_same_labels
from kubeprom.promql.types import InstantSteps, RangeWindows, Scalar, String, type_name


def lab(**kv: str) -> Labels:
    return Labels.from_dict(kv)


def steps(labels: list[Labels], rows: list[list[float | None]], drop: list[bool]) -> InstantSteps:
    present = np.array([[x is not None for x in r] for r in rows], dtype=bool)
    values = np.array([[np.nan if x is None else x for x in r] for r in rows], dtype=float)
    return InstantSteps(labels, values, present, np.array(drop, dtype=bool))


def test_compact_drops_rows_without_points() -> None:
    m = steps([lab(a="1"), lab(a="2")], [[None, None], [1.0, None]], [False, True])
    out = compact(m)
    assert out.labels == [lab(a="2")]
    assert out.present.tolist() == [[True, False]]
    assert out.drop_name.tolist() == [True]


def test_merge_folds_equal_label_sets_that_never_overlap() -> None:
    m = steps([lab(a="1"), lab(a="2"), lab(a="1")], [[1, None], [2, 3], [None, 4]], [0, 0, 1])
    out = merge_same_labels(m)
    assert out.labels == [lab(a="1"), lab(a="2")]
    assert out.values.tolist() == [[1.0, 4.0], [2.0, 3.0]]
    assert out.drop_name.tolist() == [True, False]


def test_merge_refuses_two_points_at_one_step() -> None:
    m = steps([lab(a="1"), lab(a="1")], [[1, None], [2, None]], [False, False])
    with pytest.raises(EvalError, match=r"^vector cannot contain metrics with the same labelset$"):
        merge_same_labels(m)


def test_cleanup_drops_the_name_where_marked_then_checks_duplicates() -> None:
    m = steps(
        [lab(__name__="up", job="a"), lab(__name__="down", job="b")], [[1], [2]], [True, False]
    )
    assert cleanup(m).labels == [lab(job="a"), lab(__name__="down", job="b")]
    clash = steps([lab(__name__="up", job="a"), lab(__name__="x", job="a")], [[1], [2]], [1, 1])
    with pytest.raises(EvalError, match="same labelset"):
        cleanup(clash)


def test_type_names_are_prometheus_value_types() -> None:
    empty = np.empty(0, dtype=np.int64)
    windows = RangeWindows([], empty, np.empty(0), np.zeros(1, np.int64), empty, empty, empty, 0)
    assert [type_name(v) for v in (InstantSteps.empty(1), windows, Scalar(np.ones(1)))] == [
        "vector",
        "matrix",
        "scalar",
    ]
    assert type_name(String("x")) == "string"
