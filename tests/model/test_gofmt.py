"""Go's float and string formatting: the cases come from Go's strconv/fmt behaviour
(``quote_test.go``'s quotetests, ``%g``/``%f`` rules) and Prometheus' FormatOpenMetricsFloat."""

from __future__ import annotations

import math

import promql_parser
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeprom.model.gofmt import format_f, format_g, format_openmetrics_float, quote, unescape

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


_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)))


@given(_TEXT)
def test_quote_round_trips_through_go_unquoting(text: str) -> None:
    assert unescape(quote(text)[1:-1]) == text


@given(_TEXT)
def test_quote_is_a_promql_string_literal(text: str) -> None:
    # promql-parser (Rust) unquotes independently of this project.
    expr = promql_parser.parse(f"up{{a={quote(text)}}}")
    assert expr.matchers.matchers[0].value == text
