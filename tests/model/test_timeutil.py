"""Prometheus durations: parsing and shortest formatting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeprom.model import format_duration_ms, parse_duration_ms

S, M, H, D = 1_000, 60_000, 3_600_000, 86_400_000


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1h30m", H + 30 * M),
        ("90s", 90 * S),
        ("1d", D),
        ("0s", 0),
        ("250ms", 250),
        ("1m30ms", M + 30),
        ("30ms", 30),
        ("2w", 14 * D),
        ("1y", 365 * D),
        ("1y2w3d4h5m6s7ms", 365 * D + 14 * D + 3 * D + 4 * H + 5 * M + 6 * S + 7),
        ("0001m", M),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_parse(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize(
    "text",
    ["5x", "1m1h", "", "1h1h", "h", "-1s", "1.5h", " 1s", "1s ", "1S", "1mss"],
    ids=[
        "unknown-unit",
        "units-out-of-order",
        "empty",
        "unit-twice",
        "no-number",
        "negative",
        "fraction",
        "leading-space",
        "trailing-space",
        "upper-case",
        "junk-after-unit",
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=rf"^not a valid duration string: {text!r}$"):
        parse_duration_ms(text)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0s"),
        (1, "1ms"),
        (90 * S, "1m30s"),
        (H + 30 * M, "1h30m"),
        (2 * H, "2h"),
        (D, "1d"),
        (8 * D, "1w1d"),
        (365 * D + 1, "1y1ms"),
        (M + 30, "1m30ms"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_format(ms: int, text: str) -> None:
    assert format_duration_ms(ms) == text


@given(st.integers(min_value=0, max_value=10**15))
def test_format_then_parse_round_trips(ms: int) -> None:
    assert parse_duration_ms(format_duration_ms(ms)) == ms
