"""``outputs.jsonable`` (the decision trace's JSON values) gives what the plain recursive
definition gives, for every kind of value a decision holds."""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from kubeprom.sim.outputs import jsonable


def reference(x: object) -> Any:
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: reference(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, enum.Enum):
        return reference(x.value)
    if isinstance(x, np.ndarray):
        return [reference(v) for v in x.tolist()]
    if isinstance(x, np.generic):
        return reference(x.item())
    if isinstance(x, (list, tuple)):
        return [reference(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


class Color(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@dataclass(frozen=True, slots=True)
class Inner:
    a: float
    b: tuple[int, ...]
    c: Color


@dataclass(frozen=True)
class Outer:
    inner: Inner
    arrays: list[np.ndarray[Any, Any]]
    scalars: tuple[object, ...]
    nothing: None = None


CASES = [
    1.5,
    -0.0,
    math.nan,
    math.inf,
    -math.inf,
    7,
    True,
    "x",
    None,
    Color.RED,
    Level.HIGH,
    np.float64(math.nan),
    np.float32(0.1),
    np.int64(3),
    np.bool_(False),
    np.array([1.0, math.nan, -math.inf, 2.5e-300]),
    np.array([1.0, 2.0]),
    np.array([[1.0, math.nan], [3.0, 4.0]]),
    np.array([1, 2], dtype=np.int32),
    np.array([True, False]),
    np.array([], dtype=np.float64),
    np.array(["a", "b"]),
    Outer(
        Inner(math.nan, (1, 2), Color.RED),
        [np.array([0.25, math.inf]), np.arange(3)],
        (np.float64(1.0), Level.HIGH, [math.nan, (Color.RED,)]),
    ),
    Inner,
]


@pytest.mark.parametrize("value", CASES, ids=lambda v: type(v).__name__)
def test_jsonable_matches_the_plain_definition(value: object) -> None:
    got = jsonable(value)
    want = reference(value)
    assert repr(got) == repr(want)
    assert [type(v) for v in _leaves(got)] == [type(v) for v in _leaves(want)]


def _leaves(x: Any) -> list[Any]:
    if isinstance(x, dict):
        return [leaf for v in x.values() for leaf in _leaves(v)]
    if isinstance(x, list):
        return [leaf for v in x for leaf in _leaves(v)]
    return [x]
