"""Go's float and string primitives: the cases come from Go's strconv/fmt/strings behaviour
(``quote_test.go``'s quotetests, ``%g``/``%f`` rules) and Prometheus' FormatOpenMetricsFloat."""

from __future__ import annotations

import math
import re

import promql_parser
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeprom.model.gofmt import (
    ParseFloatError,
    can_backquote,
    format_e,
    format_f,
    format_float,
    format_g,
    format_openmetrics_float,
    parse_float,
    quote,
    quote_ascii,
    quote_meta,
    quote_rune,
    to_lower,
    to_upper,
    unescape,
)

_FINITE = st.floats(allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (2.0, "2"),
        (1.5, "1.5"),
        (-0.1, "-0.1"),
        (1.01, "1.01"),
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (0.0, "0"),
        (-0.0, "-0"),
        (1e6, "1e+06"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (123456789.0, "1.23456789e+08"),
        (100.0, "100"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1e21, "1e+21"),
        (1e-7, "1e-07"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (0.1 + 0.2, "0.30000000000000004"),
        (-2.5e-5, "-2.5e-05"),
        (1e100, "1e+100"),
    ],
    ids=str,
)
def test_percent_g(value: float, want: str) -> None:
    assert format_g(value) == want


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (10.0, "10"),
        (0.0, "0"),
        (123.0, "1.2e+02"),
        (0.000123, "0.00012"),
        (9999.0, "1e+04"),
        (1.0, "1"),
        (0.5, "0.5"),
        (99.0, "99"),
        (1e-5, "1e-05"),
        (math.inf, "+Inf"),
    ],
    ids=str,
)
def test_percent_point_2g(value: float, want: str) -> None:
    assert format_g(value, 2) == want


def test_percent_point_0g_is_point_1g() -> None:
    assert format_g(123.0, 0) == format_g(123.0, 1) == "1e+02"


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (1.0, "1"),
        (0.5, "0.5"),
        (1e21, "1000000000000000000000"),
        (1e16, "10000000000000000"),
        (1.5e-7, "0.00000015"),
        (float("nan"), "NaN"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
        (123456789.125, "123456789.125"),
        (0.1, "0.1"),
        (-0.0, "-0"),
        (2.0**60, "1152921504606847000"),  # shortest digits, then zeros (fmtF)
    ],
    ids=str,
)
def test_format_float_f_shortest(value: float, want: str) -> None:
    assert format_f(value) == want


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (0.0, "0.000000"),
        (1.5, "1.500000"),
        (-2.0, "-2.000000"),
        (0.1234565, "0.123456"),  # the exact binary value is below the half
        (math.nan, "NaN"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
    ],
    ids=str,
)
def test_percent_f(value: float, want: str) -> None:
    assert format_f(value, 6) == want


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1.0"),
        (0.0, "0.0"),
        (-0.0, "0.0"),  # upstream's `case f == 0` catches -0 too
        (-1.0, "-1.0"),
        (10.0, "10.0"),
        (123456.0, "123456.0"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (2.5, "2.5"),
        (0.005, "0.005"),
        (1e22, "1e+22"),
        (-2.5e-7, "-2.5e-07"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
    ids=str,
)
def test_format_openmetrics_float(value: float, text: str) -> None:
    assert format_openmetrics_float(value) == text


@given(_FINITE)
def test_g_and_f_keep_every_digit(x: float) -> None:
    # Shortest forms round-trip, as Go's -1 precision promises.
    assert float(format_g(x)) == x
    assert float(format_f(x)) == x


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300))
def test_f_never_has_an_exponent(x: float) -> None:
    assert "e" not in format_f(x)


# ---- strconv.Quote ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        # Go's quotetests (the Quote column)
        ("\a\b\f\r\n\t\v", '"\\a\\b\\f\\r\\n\\t\\v"'),
        ("\\", '"\\\\"'),
        (b"abc\xffdef".decode("utf-8", "surrogateescape"), '"abc\\xffdef"'),
        ("\u263a", '"\u263a"'),
        ("\U0010ffff", '"\\U0010ffff"'),
        ("\x04", '"\\x04"'),
        ("!\u00a0!\u2000!\u3000!", '"!\\u00a0!\\u2000!\\u3000!"'),
        # more
        ("\x7f", '"\\x7f"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("", '""'),
        ("é日本😀", '"é日本😀"'),
        ("\u00ad", '"\\u00ad"'),  # soft hyphen: a format character, not printable
        ("\x00", '"\\x00"'),
        ("\u0085", '"\\u0085"'),
        ("'", '"\'"'),
    ],
    ids=repr,
)
def test_quote(text: str, want: str) -> None:
    assert quote(text) == want


_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]))


@given(_TEXT)
def test_quote_round_trips_through_go_unquoting(text: str) -> None:
    assert unescape(quote(text)[1:-1]) == text


@given(_TEXT)
def test_quote_is_a_promql_string_literal(text: str) -> None:
    # promql-parser (Rust) unquotes independently of this project.
    expr = promql_parser.parse(f"up{{a={quote(text)}}}")
    assert isinstance(expr, promql_parser.VectorSelector)
    assert expr.matchers.matchers[0].value == text


# ---- strconv.FormatFloat with a format and precision ---------------------------------------


@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(0, 25))
def test_format_float_with_a_precision_is_c_printf(x: float, prec: int) -> None:
    # Go's %e/%f/%g with a precision round as C's printf does, which is Python's format().
    assert format_float(x, "e", prec) == f"{x:.{prec}e}"
    assert format_float(x, "f", prec) == f"{x:.{prec}f}"
    assert format_float(x, "G", prec) == f"{x:.{max(prec, 1)}G}"


@pytest.mark.parametrize(
    ("value", "fmt", "want"),
    [
        (1.0, "e", "1e+00"),
        (-1.5e-7, "E", "-1.5E-07"),
        (0.0, "e", "0e+00"),
        (1e21, "g", "1e+21"),
        (-0.0, "f", "-0"),
        (math.inf, "E", "+Inf"),
        (2.0, "b", "4503599627370496p-51"),
        (1.0, "x", "0x1p+00"),
        (-0.5, "X", "-0X1P-01"),
    ],
    ids=str,
)
def test_format_float_shortest(value: float, fmt: str, want: str) -> None:
    assert format_float(value, fmt, -1) == want


@given(_FINITE)
def test_shortest_e_round_trips(x: float) -> None:
    assert float(format_e(x)) == x


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


# ---- strings and regexp ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lower", "upper"),
    [
        ("MiXeD", "mixed", "MIXED"),
        ("straße", "straße", "STRAßE"),  # no full mapping ß -> SS
        ("\u0130", "i", "\u0130"),  # İ: simple lowercase i, not i + combining dot
        ("\u03a3\u0391\u03a3", "\u03c3\u03b1\u03c3", "\u03a3\u0391\u03a3"),  # no final sigma
        ("ǅ", "ǆ", "Ǆ"),
    ],
)
def test_go_case_mappings(text: str, lower: str, upper: str) -> None:
    assert (to_lower(text), to_upper(text)) == (lower, upper)


def test_quote_meta_escapes_exactly_the_re2_metacharacters() -> None:
    assert quote_meta(r"a.b+c*d?e(f)g|h[i]j{k}l^m$n\o-p") == (
        r"a\.b\+c\*d\?e\(f\)g\|h\[i\]j\{k\}l\^m\$n\\o-p"
    )
