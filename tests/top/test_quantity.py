"""Units and rounding exactly as metrics-server stores and kubectl prints them."""

from __future__ import annotations

import pytest

from kubeprom.top.quantity import (
    cpu_milli_of_cores,
    cpu_nanocores,
    cpu_quantity,
    format_cpu,
    format_memory,
    format_percent,
    memory_bytes,
    memory_quantity,
)

MI = 1024 * 1024


@pytest.mark.parametrize(
    ("cores", "nano", "cell"),
    [
        (0.25, 250_000_000, "250m"),
        (0.115, 115_000_000, "115m"),  # 0.115 * 1e9 is 114999999.99999999 in floats
        (0.000_000_1, 100, "1m"),  # MilliValue rounds up
        (0.001_000_001, 1_000_001, "2m"),
        (0.0, 0, "0m"),
        (-0.5, 0, "0m"),
        (float("nan"), 0, "0m"),
        (3.5, 3_500_000_000, "3500m"),
    ],
    ids=["250m", "float-error", "tiny-rounds-up", "just-over-1m", "zero", "negative", "nan", "3.5"],
)
def test_cpu_cells(cores: float, nano: int, cell: str) -> None:
    assert cpu_nanocores(cores) == nano
    assert format_cpu(nano) == cell


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (180 * MI, "180Mi"),
        (180 * MI - 1, "179Mi"),  # rounds down
        (180 * MI + 0.9, "180Mi"),
        (512 * 1024, "0Mi"),
        (0.0, "0Mi"),
        (16 * 1024 * MI, "16384Mi"),
    ],
    ids=["exact", "one-byte-short", "fraction", "half-mebibyte", "zero", "16Gi"],
)
def test_memory_cells(value: float, cell: str) -> None:
    assert format_memory(memory_bytes(value)) == cell


@pytest.mark.parametrize(
    ("usage", "available", "cell"),
    [
        (380, 3800, "10%"),
        (379, 3800, "9%"),  # truncated, not rounded
        (3800, 3800, "100%"),
        (5000, 3800, "131%"),
        (10, 0, "0%"),
    ],
    ids=["ten", "truncates", "full", "over", "zero-available"],
)
def test_percent_cells(usage: int, available: int, cell: str) -> None:
    assert format_percent(usage, available) == cell


def test_resource_list_cpu_in_cores_becomes_exact_millicores() -> None:
    assert cpu_milli_of_cores(3.8) == 3800
    assert cpu_milli_of_cores(0.1 + 0.2) == 300  # 0.30000000000000004
    assert cpu_milli_of_cores(0.0005) == 1  # half a millicore rounds up like MilliValue


@pytest.mark.parametrize(
    ("nano", "text"),
    [
        (250_000_000, "250m"),
        (329_087_452, "329087452n"),
        (1_000_000_000, "1"),
        (1_500_000_000, "1500m"),
        (10_000_000_000, "10"),
        (1_000_000_000_000, "1k"),
        (120_000, "120u"),
        (0, "0"),
    ],
)
def test_cpu_quantity_is_canonical_decimal_si(nano: int, text: str) -> None:
    assert cpu_quantity(nano) == text


@pytest.mark.parametrize(
    ("n_bytes", "text"),
    [
        (2_814_136_320, "2748180Ki"),
        (16 * 1024**3, "16Gi"),
        (180 * MI, "180Mi"),
        (1_234_567, "1234567"),
        (512, "512"),
        (1024, "1Ki"),
        (0, "0"),
    ],
)
def test_memory_quantity_is_canonical_binary_si(n_bytes: int, text: str) -> None:
    assert memory_quantity(n_bytes) == text
