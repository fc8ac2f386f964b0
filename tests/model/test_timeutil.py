"""Time as Prometheus (Go) writes it: model.Duration, time.Duration, RFC 3339, the calendar.

Cases come from prometheus/common's ``model/time_test.go`` (TestParseDuration,
TestParseBadDuration) and Go's ``time`` tests (durationTests, parse/format examples).
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeprom.model import format_duration_ms, parse_duration_ms
from kubeprom.model.timeutil import (
    NS_PER_MS,
    civil_utc,
    format_go_duration,
    format_rfc3339,
    format_rfc3339_nano,
    parse_rfc3339_ms,
)

S, M, H, D = 1_000, 60_000, 3_600_000, 86_400_000
W, Y = 7 * D, 365 * D
NS_S = 1_000_000_000

# ---- model.Duration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ms", "string"),
    [
        # TestParseDuration's base cases: (input, value, String() where it differs)
        ("0", 0, "0s"),
        ("0w", 0, "0s"),
        ("0s", 0, "0s"),
        ("324ms", 324, "324ms"),
        ("3s", 3 * S, "3s"),
        ("5m", 5 * M, "5m"),
        ("1h", H, "1h"),
        ("4d", 4 * D, "4d"),
        ("4d1h", 4 * D + H, "4d1h"),
        ("14d", 14 * D, "2w"),
        ("3w", 3 * W, "3w"),
        ("3w2d1h", 3 * W + 2 * D + H, "23d1h"),
        ("10y", 10 * Y, "10y"),
        # more
        ("8d", 8 * D, "8d"),  # weeks only when exact: not 1w1d
        ("90d", 90 * D, "90d"),
        ("366d", 366 * D, "366d"),
        ("1y2w3d4h5m6s7ms", Y + 2 * W + 3 * D + 4 * H + 5 * M + 6 * S + 7, "382d4h5m6s7ms"),
        ("1h30m", H + 30 * M, "1h30m"),
        ("90s", 90 * S, "1m30s"),
        ("1m30ms", M + 30, "1m30ms"),
        ("0001m", M, "1m"),
        ("000000000000000000000000001s", S, "1s"),  # leading zeros: strconv.ParseUint
        ("106751d23h47m16s854ms", (2**63 - 1) // NS_PER_MS, "106751d23h47m16s854ms"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_parse_and_string(text: str, ms: int, string: str) -> None:
    assert parse_duration_ms(text) == ms
    assert format_duration_ms(ms) == string


@pytest.mark.parametrize(
    ("ms", "text"),
    [(-3 * S, "-3s"), (-(3 * W + 2 * D + H), "-23d1h"), (-10 * Y, "-10y"), (-W, "-1w")],
)
def test_negative_durations_print_with_a_sign(ms: int, text: str) -> None:
    assert format_duration_ms(ms) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # TestParseBadDuration
        ("1", 'not a valid duration string: "1"'),
        ("1y1m1d", 'not a valid duration string: "1y1m1d"'),
        ("1.5d", 'unknown unit "." in duration "1.5d"'),
        ("d", 'not a valid duration string: "d"'),
        ("294y", "duration out of range"),
        ("200y10400w", "duration out of range"),
        ("107675d", "duration out of range"),
        ("2584200h", "duration out of range"),
        ("", "empty duration string"),
        # more
        ("5x", 'unknown unit "x" in duration "5x"'),
        ("1m1h", 'not a valid duration string: "1m1h"'),
        ("1h1h", 'not a valid duration string: "1h1h"'),
        ("-1s", 'not a valid duration string: "-1s"'),
        (" 1s", 'not a valid duration string: " 1s"'),
        ("1s ", 'unknown unit "s " in duration "1s "'),
        ("1S", 'unknown unit "S" in duration "1S"'),
        ("1mss", 'unknown unit "mss" in duration "1mss"'),
        ("1us", 'unknown unit "us" in duration "1us"'),
        ("\u0661s", 'not a valid duration string: "\u0661s"'),  # ARABIC-INDIC ONE: ASCII only
        ("18446744073709551616ms", 'not a valid duration string: "18446744073709551616ms"'),
        ("106751d23h47m16s855ms", "duration out of range"),
    ],
    ids=lambda x: repr(x) if isinstance(x, str) else None,
)
def test_parse_rejects_with_prometheus_wording(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_duration_ms(text)


@given(st.integers(min_value=0, max_value=(2**63 - 1) // NS_PER_MS))
def test_format_then_parse_round_trips(ms: int) -> None:
    assert parse_duration_ms(format_duration_ms(ms)) == ms


@given(st.integers(min_value=1, max_value=10**12))
def test_years_and_weeks_only_when_exact(ms: int) -> None:
    text = format_duration_ms(ms)
    assert ("y" in text) == (ms % Y == 0)
    assert ("w" in text) == (ms % Y != 0 and ms % W == 0)


# ---- time.Duration.String -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        # Go's durationTests
        (0, "0s"),
        (1, "1ns"),
        (1100, "1.1µs"),
        (2_200_000, "2.2ms"),
        (3300 * NS_PER_MS, "3.3s"),
        (4 * 60 * NS_S + 5 * NS_S, "4m5s"),
        (4 * 60 * NS_S + 5001 * NS_PER_MS, "4m5.001s"),
        (5 * 3600 * NS_S + 6 * 60 * NS_S + 7001 * NS_PER_MS, "5h6m7.001s"),
        (8 * 60 * NS_S + 1, "8m0.000000001s"),
        (2**63 - 1, "2562047h47m16.854775807s"),
        (-(2**63), "-2562047h47m16.854775808s"),
        # what metrics-server's window and kubectl's pod age look like
        (20_064 * NS_PER_MS, "20.064s"),
        (60 * NS_S, "1m0s"),
        (3600 * NS_S, "1h0m0s"),
        (500 * NS_PER_MS, "500ms"),
        (999, "999ns"),
        (1000, "1µs"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_go_duration_string(ns: int, text: str) -> None:
    assert format_go_duration(ns) == text
    if 0 < ns < 2**63:
        assert format_go_duration(-ns) == "-" + text


# ---- RFC 3339 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("t_ms", "rfc3339", "nano"),
    [
        (0, "1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"),
        (1136239445_000, "2006-01-02T22:04:05Z", "2006-01-02T22:04:05Z"),
        (1136239445_500, "2006-01-02T22:04:05Z", "2006-01-02T22:04:05.5Z"),
        (1136239445_120, "2006-01-02T22:04:05Z", "2006-01-02T22:04:05.12Z"),
        (1136239445_001, "2006-01-02T22:04:05Z", "2006-01-02T22:04:05.001Z"),
        (1_800_000_000_999, "2027-01-15T08:00:00Z", "2027-01-15T08:00:00.999Z"),
        (-1, "1969-12-31T23:59:59Z", "1969-12-31T23:59:59.999Z"),  # floored, as Go's clock
        (951782400_000, "2000-02-29T00:00:00Z", "2000-02-29T00:00:00Z"),
        (-62135596800_000, "0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        (-62167219200_000, "0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z"),
        # appendInt(year, 4): the sign, then at least four digits
        (-62198755200_000, "-0001-01-01T00:00:00Z", "-0001-01-01T00:00:00Z"),
        (253402300800_000, "10000-01-01T00:00:00Z", "10000-01-01T00:00:00Z"),
    ],
)
def test_format_rfc3339(t_ms: int, rfc3339: str, nano: str) -> None:
    assert format_rfc3339(t_ms) == rfc3339
    assert format_rfc3339_nano(t_ms) == nano


@given(st.integers(min_value=-62135596800_000, max_value=253402300799_999))
def test_format_rfc3339_agrees_with_the_calendar_of_datetime(t_ms: int) -> None:
    when = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=t_ms)
    assert format_rfc3339(t_ms) == (
        f"{when.year:04d}-{when.month:02d}-{when.day:02d}T"
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}Z"
    )


@pytest.mark.parametrize(
    ("text", "t_ms"),
    [
        ("2006-01-02T15:04:05Z", 1136214245_000),
        ("2006-01-02T15:04:05.5Z", 1136214245_500),
        ("2006-01-02T15:04:05.123456789Z", 1136214245_123),  # floored to the ms
        ("2006-01-02T15:04:05.1234567891234Z", 1136214245_123),  # past ns: ignored
        ("2006-01-02T15:04:05,5Z", 1136214245_500),  # Go takes a comma too
        ("2006-01-02T15:04:05+07:00", 1136189045_000),
        ("2006-01-02T15:04:05-07:00", 1136239445_000),
        ("2006-01-02T15:04:05.999-07:30", 1136241245_999),
        ("2006-01-02T5:04:05Z", 1136178245_000),  # layout "15": a one-digit hour
        ("2006-01-02T15:04:05+24:00", 1136127845_000),  # offsets up to 24:60 in Go's parser
        ("2000-02-29T00:00:00Z", 951782400_000),
        ("0000-01-01T00:00:00Z", -62167219200_000),
        ("1969-12-31T23:59:59.999Z", -1),
    ],
)
def test_parse_rfc3339(text: str, t_ms: int) -> None:
    assert parse_rfc3339_ms(text) == t_ms


@pytest.mark.parametrize(
    "text",
    [
        "2006-01-02T15:04:05",  # no zone
        "2006-01-02",
        "2006-01-02 15:04:05Z",
        "2006-01-02t15:04:05Z",
        "2006-01-02T15:04:05z",
        "2006-1-02T15:04:05Z",
        "2006-01-2T15:04:05Z",
        "06-01-02T15:04:05Z",
        "2006-01-02T15:4:05Z",
        "2006-01-02T15:04:5Z",
        "2006-01-02T24:00:00Z",
        "2006-01-02T15:60:00Z",
        "2006-01-02T15:04:60Z",
        "2006-13-02T15:04:05Z",
        "2006-00-02T15:04:05Z",
        "2006-02-29T15:04:05Z",
        "2006-01-00T15:04:05Z",
        "2006-01-02T15:04:05.Z",
        "2006-01-02T15:04:05+0700",
        "2006-01-02T15:04:05+7:00",
        "2006-01-02T15:04:05+25:00",
        "2006-01-02T15:04:05+07:61",
        "2006-01-02T15:04:05ZZ",
        "+2006-01-02T15:04:05Z",
        "12006-01-02T15:04:05Z",
        "\uff12\uff10\uff10\uff16-01-02T15:04:05Z",  # fullwidth digits
        "",
    ],
)
def test_parse_rfc3339_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=f"^cannot parse {re.escape(repr(text))}"):
        parse_rfc3339_ms(text)


@given(st.integers(min_value=-62167219200_000, max_value=253402300799_999))
def test_parse_of_format_round_trips(t_ms: int) -> None:
    assert parse_rfc3339_ms(format_rfc3339_nano(t_ms)) == t_ms


# ---- the calendar -----------------------------------------------------------------------------


def test_civil_fields() -> None:
    c = civil_utc(np.array([1136239445, -1, 951782400], dtype=np.int64))
    assert c.year.tolist() == [2006, 1969, 2000]
    assert c.month.tolist() == [1, 12, 2]
    assert c.day.tolist() == [2, 31, 29]
    assert c.weekday.tolist() == [1, 3, 2]  # Monday, Wednesday, Tuesday
    assert c.yearday.tolist() == [2, 365, 60]
    assert (c.hour.tolist(), c.minute.tolist(), c.second.tolist()) == (
        [22, 23, 0],
        [4, 59, 0],
        [5, 59, 0],
    )
    assert c.days_in_month().tolist() == [31, 31, 29]
