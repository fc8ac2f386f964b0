"""Go's fmt and strconv primitives (the template corpus checks them against Go at large)."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeprom.model.gofmt import format_g
from kubeprom.model.goprintf import (
    GoMap,
    ParseFloatError,
    Uint8,
    can_backquote,
    format_float,
    go_type_name,
    parse_float,
    quote_ascii,
    quote_rune,
    sprint,
    sprintf,
    sprintln,
)


@pytest.mark.parametrize(
    ("fmt", "args", "want"),
    [
        ("%5.2f|%x|%q", (1234567.0, 1234567.0, "x\ty"), '1234567.00|0x1.2d687p+20|"x\\ty"'),
        ("%d", ("foo",), "%!d(string=foo)"),
        ("%d %d", (1,), "1 %!d(MISSING)"),
        ("%d", (1, "x", None), "1%!(EXTRA string=x, <nil>)"),
        ("%[2]d %[1]d", (1, 2), "2 1"),
        ("%[3]d", (1, 2), "%!d(BADINDEX)"),
        ("%*d|%-*d|", (5, 1, 4, 2), "    1|2   |"),
        ("%*d", ("x", 1), "%!(BADWIDTH)1"),
        ("%.*f", (-1, 3.5), "%!(BADPREC)3.500000"),
        ("%", (), "%!(NOVERB)"),
        ("%z", (1,), "%!z(int=1)"),
        ("%v %s", (None, None), "<nil> %!s(<nil>)"),
        ("%.4g|%.4g|%v|%v", (1.2345678, 1e-7, 1e6, 123456.7), "1.235|1e-07|1e+06|123456.7"),
        ("%+08.2f|% .1f|%-7.1f|", (-3.14159, 2.0, 2.5), "-0003.14| 2.0|2.5    |"),
        ("%#g|%#.3g|%#.0f|%#e", (1.0, 1.0, 3.0, 2.0), "1.00000|1.00|3.|2.000000e+00"),
        (
            "%f|%v|%5.1f|%+v|% v",
            (math.nan, math.inf, -math.inf, math.nan, math.nan),
            "NaN|+Inf| -Inf|NaN| NaN",
        ),
        ("%010.2f|%010v", (math.inf, -math.inf), "      +Inf|      -Inf"),
        ("%#x|%#o|%O|%b|%08b|%x", (255, 8, 8, 5, 5, -255), "0xff|010|0o10|101|00000101|-ff"),
        ("%05d|%.3d|%6.3d|%.0d|", (-42, 7, 7, 0), "-0042|007|   007||"),
        (
            "%c|%q|%+q|%U|%#U",
            (65, 65, 0x263A, 0x1F600, 0x263A),
            "A|'A'|'\\u263a'|U+1F600|U+263A '☺'",
        ),
        ("%c", (0x110000,), "\ufffd"),
        ("%x|% x|% #X|%.1x", ("hi", "hi", "hi", "hi"), "6869|68 69|0X68 0X69|68"),
        ("%#q|%#q|%+q", ("a", "`", "é"), '`a`|"`"|"\\u00e9"'),
        ("%.2s|%6s|%-4s|", ("日本語", "日本", "x"), "日本|    日本|x   |"),
        (
            "%v|%d",
            (GoMap({"b": "2", "a": "1"}, "map[string]string", ""),) * 2,
            "map[a:1 b:2]|map[%!d(string=a):%!d(string=1) %!d(string=b):%!d(string=2)]",
        ),
        ("%t|%5t|%d", (True, False, True), "true|false|%!d(bool=true)"),
        ("%T|%T|%T|%T", (1, 1.5, "s", Uint8(3)), "int|float64|string|uint8"),
        ("%e|%E|%.3e", (123.456, 1e-10, 0.0), "1.234560e+02|1.000000E-10|0.000e+00"),
        ("%b|%x|%X", (2.0, 1.0, -0.5), "4503599627370496p-51|0x1p+00|-0X1P-01"),
        ("%%|%5%|%d%%", (50,), "%|%|50%"),
    ],
)
def test_sprintf(fmt: str, args: tuple[object, ...], want: str) -> None:
    assert sprintf(fmt, *args) == want


def test_sprint_spaces_between_non_strings_only() -> None:
    assert sprint(1, 2, "a", "b", 3.5, True, None) == "1 2ab3.5 true <nil>"
    assert sprintln(1, "a", None) == "1 a <nil>\n"


@given(st.floats(allow_nan=False))
def test_v_of_a_float_is_shortest_g(x: float) -> None:
    assert sprintf("%v", x) == format_g(x)


@given(st.floats(min_value=-1e300, max_value=1e300), st.integers(0, 20))
def test_fixed_precision_round_trips_within_precision(x: float, prec: int) -> None:
    text = format_float(x, "e", prec)
    assert abs(float(text) - x) <= abs(x) * 10.0 ** (-prec) + 1e-300


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("1234", 1234.0),
        ("1_000", 1000.0),
        ("0x1p-2", 0.25),
        ("+Inf", math.inf),
        ("-infinity", -math.inf),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e-400", 0.0),
    ],
)
def test_parse_float(text: str, want: float) -> None:
    assert parse_float(text) == want


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("abc", 'parsing "abc": invalid syntax'),
        (" 1", 'parsing " 1": invalid syntax'),
        ("0x10", 'parsing "0x10": invalid syntax'),
        ("1__0", 'parsing "1__0": invalid syntax'),
        ("_1", 'parsing "_1": invalid syntax'),
        ("+nan", 'parsing "+nan": invalid syntax'),
        ("infinit", 'parsing "infinit": invalid syntax'),
        ("1e400", 'parsing "1e400": value out of range'),
    ],
)
def test_parse_float_errors_read_as_go(text: str, error: str) -> None:
    with pytest.raises(ParseFloatError, match=re.escape(f"strconv.ParseFloat: {error}")):
        parse_float(text)


def test_nan_parses() -> None:
    assert math.isnan(parse_float("NaN"))


def test_quoting() -> None:
    assert quote_ascii("héllo\n☺\U0001f600") == '"h\\u00e9llo\\n\\u263a\\U0001f600"'
    assert quote_rune(ord("'")) == "'\\''"
    assert quote_rune(0xD800) == "'�'"
    assert can_backquote("a\tb")
    assert not can_backquote("a\nb")
    assert not can_backquote("`")


def test_type_names() -> None:
    assert go_type_name(None) == "nil"
    assert go_type_name(True) == "bool"
    assert go_type_name(GoMap({}, "map[string]string", "")) == "map[string]string"
