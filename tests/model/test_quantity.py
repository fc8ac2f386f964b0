"""Kubernetes quantities: apimachinery's parse forms, MilliValue and AsApproximateFloat64."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from kubeprom.model.quantity import (
    FORMAT_WRONG,
    SUFFIX,
    QuantityFormat,
    decimal_si,
    from_milli,
    go_pow10,
    milli_text,
    parse_quantity,
)

DEC, BIN, EXP = QuantityFormat.DECIMAL_SI, QuantityFormat.BINARY_SI, QuantityFormat.DECIMAL_EXPONENT


@pytest.mark.parametrize(
    ("text", "unscaled", "scale", "fmt", "fast", "milli"),
    [
        ("500m", 500, -3, DEC, True, 500),
        ("1.5", 15, -1, DEC, True, 1500),
        ("0.05", 5, -2, DEC, True, 50),
        ("1e3", 1, 3, EXP, True, 1_000_000),
        ("1Gi", 2**30, 0, BIN, True, 2**30 * 1000),
        ("+.5", 5, -1, DEC, True, 500),
        ("1.", 1, 0, DEC, True, 1000),
        ("-2k", -2, 3, DEC, True, -2_000_000),
        # the decimal form: inputs the int64 form cannot hold, rounded up to nano
        ("1.5Ki", 1_536_000_000_000, -9, BIN, False, 1_536_000),
        ("0.1Ki", 102_400_000_000, -9, BIN, False, 102_400),
        ("1e-10", 1, -9, EXP, False, 1),  # 0.1n rounds up to 1n, whose milli value is 1
        ("0.5n", 1, -9, DEC, False, 1),
        # binary quantities are capped at 2**63-1
        ("8Ei", 2**63 - 1, 0, BIN, False, -1000),
        # apimachinery accepts these and reads zero
        (".", 0, 0, DEC, True, 0),
        ("-", 0, 0, DEC, True, 0),
        ("Mi", 0, 0, BIN, True, 0),
    ],
)
def test_parse(text: str, unscaled: int, scale: int, fmt: str, fast: bool, milli: int) -> None:
    q = parse_quantity(text)
    assert (q.unscaled, q.scale, q.format, q.fast) == (unscaled, scale, fmt, fast)
    assert q.milli_value() == milli
    assert str(q) == text


def test_values_are_exact() -> None:
    assert parse_quantity("0.1Ki").value == Fraction(512, 5)
    assert parse_quantity("123456789012345678901").value == 123456789012345678901


@pytest.mark.parametrize(
    ("text", "milli"),
    [
        # MilliValue() overflows as apimachinery does: its docs call the result undefined
        ("10E", 0),  # the int64 form, scaled by 10 twenty-one times: gives up with 0
        ("9223372036854775807", -1000),  # the decimal form: the low 64 bits of the product
        ("9223372036854775", 9223372036854775000),
    ],
)
def test_milli_value_overflow(text: str, milli: int) -> None:
    assert parse_quantity(text).milli_value() == milli


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", FORMAT_WRONG),
        ("1x", FORMAT_WRONG),
        ("1.2.3", FORMAT_WRONG),
        ("1 Gi", FORMAT_WRONG),
        ("1gi", FORMAT_WRONG),
        ("1e", SUFFIX),
        ("1k3", SUFFIX),
        (".Ki5", SUFFIX),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_quantity(text)


def test_approximate_float_is_mantissa_times_pow10() -> None:
    # Go computes 3 * math.Pow10(-1): one ulp above the double nearest 0.3
    assert parse_quantity("0.3").approximate_float() == 0.30000000000000004
    assert parse_quantity("0.05").approximate_float() == 0.05
    assert parse_quantity("1e-7").approximate_float() == 1e-07
    assert parse_quantity("1.5Ki").approximate_float() == 1536.0
    assert parse_quantity("2").approximate_float() == 2.0


def test_go_pow10_tables() -> None:
    assert go_pow10(-1) == 0.1
    assert go_pow10(40) == 1e40
    assert go_pow10(-330) == 0.0
    assert go_pow10(400) == float("inf")


@pytest.mark.parametrize(
    ("mantissa", "exponent", "text"),
    [
        (250_000_000, -9, "250m"),
        (1500, -3, "1500m"),
        (2000, -3, "2"),
        (0, -3, "0"),
        (15, 2, "1500"),
        (1, 21, "1000E"),
    ],
)
def test_decimal_si(mantissa: int, exponent: int, text: str) -> None:
    assert decimal_si(mantissa, exponent) == text


def test_from_milli() -> None:
    q = from_milli(1200)
    assert (q.milli_value(), str(q), milli_text(1200)) == (1200, "1200m", "1200m")
    assert str(from_milli(3000)) == "3"
