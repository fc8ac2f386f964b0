"""text/template's builtin functions (``text/template/funcs.go``)."""

from __future__ import annotations

from kubeprom.model.goprintf import GoMap, GoSlice, Uint8, Uint64, sprint, sprintf, sprintln
from kubeprom.rules.template.exec import Func, FuncError, is_true, printable_args
from kubeprom.rules.template.values import T_ANY, T_STRING, T_VALUE, Struct, type_name

_HTML_ESCAPES = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
_JS_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}
_URL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def html_escape(s: str) -> str:
    """``template.HTMLEscapeString``."""
    if not any(c in s for c in "'\"&<>\0"):
        return s
    return "".join(_HTML_ESCAPES.get(c, c) for c in s)


def js_escape(s: str) -> str:
    """``template.JSEscapeString``."""
    out = []
    for c in s:
        if c in _JS_ESCAPES:
            out.append(_JS_ESCAPES[c])
        elif c < " ":
            out.append(f"\\u00{ord(c):02X}")
        elif ord(c) < 0x80 or c.isprintable():
            out.append(c)
        else:
            out.append(f"\\u{ord(c):04X}")
    return "".join(out)


def query_escape(s: str) -> str:
    """``url.QueryEscape``: space as ``+``, everything but unreserved bytes as ``%XX``."""
    out = []
    for b in s.encode("utf-8", "surrogateescape"):
        c = chr(b)
        if c in _URL_SAFE:
            out.append(c)
        elif c == " ":
            out.append("+")
        else:
            out.append(f"%{b:02X}")
    return "".join(out)


# ---- comparison --------------------------------------------------------------------------------
def _kind(v: object) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, Uint8 | Uint64):
        return "uint"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, complex):
        return "complex"
    if isinstance(v, str):
        return "string"
    return "invalid"


def _ref_kind(v: object) -> str:
    if isinstance(v, dict):
        return "map"
    if isinstance(v, list | tuple):
        return "slice"
    return "ptr"


def _incompatible(a: object, b: object) -> FuncError:
    return FuncError(f"incompatible types for comparison: {type_name(a)} and {type_name(b)}")


def _eq(arg1: object, *rest: object) -> bool:
    if not rest:
        raise FuncError("missing argument for comparison")
    k1 = _kind(arg1)
    for arg in rest:
        k2 = _kind(arg)
        if k1 != k2:
            if {k1, k2} == {"int", "uint"}:
                if arg1 == arg:
                    return True
                continue
            if arg1 is not None and arg is not None:
                raise _incompatible(arg1, arg)
            truth = False
        elif k1 == "invalid":  # maps, slices, pointers, nil
            if arg1 is not None and arg is not None and _ref_kind(arg1) != _ref_kind(arg):
                raise FuncError(
                    sprintf(
                        "non-comparable types %v: %v, %v: %v",
                        arg1,
                        type_name(arg1),
                        type_name(arg),
                        arg,
                    )
                )
            if arg1 is None or arg is None:
                truth = (arg1 is None) == (arg is None)
            elif isinstance(arg, dict | list):
                raise FuncError(sprintf("non-comparable type %v: %v", arg, type_name(arg)))
            else:
                truth = arg1 is arg
        else:
            truth = arg1 == arg
        if truth:
            return True
    return False


def _lt(a: object, b: object) -> bool:
    k1, k2 = _kind(a), _kind(b)
    if k1 == "invalid" or k2 == "invalid":
        raise FuncError("invalid type for comparison")
    if k1 != k2:
        if {k1, k2} == {"int", "uint"}:
            return bool(a < b)  # type: ignore[operator]
        raise _incompatible(a, b)
    if k1 in ("bool", "complex"):
        raise FuncError("invalid type for comparison")
    return bool(a < b)  # type: ignore[operator]


def _le(a: object, b: object) -> bool:
    return _lt(a, b) or _eq(a, b)


def _gt(a: object, b: object) -> bool:
    return not _le(a, b)


def _ge(a: object, b: object) -> bool:
    return not _lt(a, b)


def _ne(a: object, b: object) -> bool:
    return not _eq(a, b)


# ---- indexing ----------------------------------------------------------------------------------
def _index_arg(index: object, cap_: int) -> int:
    if isinstance(index, int) and not isinstance(index, bool):
        x = int(index)
    elif index is None:
        raise FuncError("cannot index slice/array with nil")
    else:
        raise FuncError(f"cannot index slice/array with type {type_name(index)}")
    if x < 0 or x > cap_:
        raise FuncError(f"index out of range: {x}")
    return x


def _value_type(v: object) -> str:
    """The type after Go's ``indirect``: a struct pointer's element type."""
    if isinstance(v, Struct) and v.go_pointer:
        return v.go_type.lstrip("*")
    return type_name(v)


def _index(item: object, *indexes: object) -> object:
    if item is None:
        raise FuncError("index of untyped nil")
    for index in indexes:
        if isinstance(item, str | list | tuple):
            data = item.encode("utf-8", "surrogateescape") if isinstance(item, str) else item
            x = _index_arg(index, len(data))
            if x == len(data):
                kind = "string" if isinstance(item, str) else "slice"
                raise FuncError(f"reflect: {kind} index out of range")
            item = Uint8(data[x]) if isinstance(data, bytes) else data[x]
        elif isinstance(item, GoMap):
            if not isinstance(index, str):
                if index is None:
                    raise FuncError("value is nil; should be of type string")
                raise FuncError(f"value has type {type_name(index)}; should be string")
            item = item.get(index, item.zero)
        else:
            raise FuncError(f"can't index item of type {_value_type(item)}")
    return item


def _slice(item: object, *indexes: object) -> object:
    if item is None:
        raise FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise FuncError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise FuncError("cannot 3-index slice a string")
        data = item.encode("utf-8", "surrogateescape")
        cap_ = len(data)
    elif isinstance(item, list | tuple):
        cap_ = len(item)
    else:
        raise FuncError(f"can't slice item of type {type_name(item)}")
    idx = [0, cap_, cap_]
    for i, index in enumerate(indexes):
        idx[i] = _index_arg(index, cap_)
    if idx[0] > idx[1]:
        raise FuncError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise FuncError(f"invalid slice index: {idx[1]} > {idx[2]}")
    if isinstance(item, str):
        return data[idx[0] : idx[1]].decode("utf-8", "surrogateescape")
    part = list(item[idx[0] : idx[1]])
    if isinstance(item, GoSlice):
        return GoSlice(part, item.go_type, item.elem_type)
    return part


def _len(item: object) -> int:
    if isinstance(item, str):
        return len(item.encode("utf-8", "surrogateescape"))
    if isinstance(item, list | tuple | dict):
        return len(item)
    if item is None:
        raise FuncError("reflect: call of reflect.Value.Type on zero Value")
    raise FuncError(f"len of type {_value_type(item)}")


def _not(v: object) -> bool:
    return not is_true(v)[0]


def _call(callee: str, fn: object, *args: object) -> object:
    if fn is None:
        raise FuncError("call of nil")
    raise FuncError(f"non-function {callee} of type {type_name(fn)}")


def _unreachable(*args: object) -> object:
    raise AssertionError("and/or are evaluated by the executor")


def _printf(fmt: str, *args: object) -> str:
    return sprintf(fmt, *args)


BUILTINS: dict[str, Func] = {
    "and": Func((T_VALUE, T_VALUE), _unreachable, variadic=True),
    "call": Func((T_VALUE, T_VALUE), _call, variadic=True),
    "eq": Func((T_VALUE, T_VALUE), _eq, variadic=True),
    "ge": Func((T_VALUE, T_VALUE), _ge),
    "gt": Func((T_VALUE, T_VALUE), _gt),
    "html": Func((T_ANY,), lambda *a: html_escape(printable_args(a)), variadic=True),
    "index": Func((T_VALUE, T_VALUE), _index, variadic=True),
    "js": Func((T_ANY,), lambda *a: js_escape(printable_args(a)), variadic=True),
    "le": Func((T_VALUE, T_VALUE), _le),
    "len": Func((T_VALUE,), _len),
    "lt": Func((T_VALUE, T_VALUE), _lt),
    "ne": Func((T_VALUE, T_VALUE), _ne),
    "not": Func((T_VALUE,), _not),
    "or": Func((T_VALUE, T_VALUE), _unreachable, variadic=True),
    "print": Func((T_ANY,), sprint, variadic=True),
    "printf": Func((T_STRING, T_ANY), _printf, variadic=True),
    "println": Func((T_ANY,), sprintln, variadic=True),
    "slice": Func((T_VALUE, T_VALUE), _slice, variadic=True),
    "urlquery": Func((T_ANY,), lambda *a: query_escape(printable_args(a)), variadic=True),
}
