"""The Python values that stand for Go values in Go's ``fmt`` and ``text/template``.

==========================  =====================================================
Python                      Go
==========================  =====================================================
``str``                     ``string`` (:class:`NamedString` for named string types)
``bool``                    ``bool``
``int``                     ``int`` (:class:`Uint8`, :class:`Int64`, :class:`Uint64`)
``float``                   ``float64``
``None``                    ``nil``
:class:`GoMap`              ``map[K]V``, printed in ``fmtsort`` key order
``list`` / ``tuple``        a slice (:class:`GoSlice` for a named slice type)
:class:`GoStruct`           a struct or a pointer to one (``&{...}``)
:class:`GoStringer`         a value with a ``String()`` method
==========================  =====================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "UNSIGNED",
    "GoMap",
    "GoSlice",
    "GoStringer",
    "GoStruct",
    "Int64",
    "NamedString",
    "Uint8",
    "Uint64",
    "go_type_name",
]


class Uint8(int):
    """A Go ``uint8`` (a byte, as ``index "abc" 0`` yields)."""

    go_type = "uint8"


class Int64(int):
    """A Go ``int64``."""

    go_type = "int64"


class Uint64(int):
    """A Go ``uint64``."""

    go_type = "uint64"


UNSIGNED = (Uint8, Uint64)


class NamedString(str):
    """A value of a named string type, e.g. html/template's ``template.HTML``."""

    __slots__ = ("go_type",)
    go_type: str

    def __new__(cls, value: str, go_type: str) -> NamedString:
        obj = super().__new__(cls, value)
        obj.go_type = go_type
        return obj


class GoMap(dict[object, object]):
    """A Go map; ``go_type`` is its type (``map[string]string``), ``zero`` its element's zero."""

    __slots__ = ("go_type", "zero")

    def __init__(self, items: Mapping[Any, object], go_type: str, zero: object) -> None:
        super().__init__(items)
        self.go_type = go_type
        self.zero = zero


class GoSlice(list[object]):
    """A value of a named slice type (e.g. Prometheus' ``template.queryResult``)."""

    __slots__ = ("elem_type", "go_type")

    def __init__(self, items: Sequence[object], go_type: str, elem_type: str) -> None:
        super().__init__(items)
        self.go_type = go_type
        self.elem_type = elem_type


@runtime_checkable
class GoStringer(Protocol):
    """A Go value whose type has a ``String() string`` method."""

    go_type: str

    def go_string(self) -> str: ...


@runtime_checkable
class GoStruct(Protocol):
    """A Go struct, or a pointer to one when ``go_pointer`` is true."""

    go_type: str
    go_pointer: bool

    def go_fields(self) -> Sequence[tuple[str, object]]: ...


def go_type_name(v: object) -> str:
    """``reflect.TypeOf(v).String()``; ``nil`` for None."""
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    name = getattr(v, "go_type", None)
    if isinstance(name, str):
        return name
    if isinstance(v, str):
        return "string"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, complex):
        return "complex128"
    if isinstance(v, dict):
        return "map[string]interface {}"
    if isinstance(v, list | tuple):
        return "[]interface {}"
    return type(v).__name__
