"""Time as Prometheus (Go) writes and reads it: one home for every such format.

- Prometheus durations (prometheus/common ``model.Duration``): :func:`parse_duration_ms`,
  :func:`format_duration_ms` (``1h30m``, ``90d``; configs, flags, ``/api/v1/targets``).
- Go's ``time.Duration.String()``: :func:`format_go_duration` (``1m0.5s``, ``250ms``).
- RFC 3339 as Go's ``time`` package writes and reads it: :func:`format_rfc3339`,
  :func:`format_rfc3339_nano` (``time.Time``'s JSON form), :func:`parse_rfc3339_ms`.
- The proleptic Gregorian UTC calendar over the whole int64 range, vectorised:
  :func:`civil_utc` (what RFC 3339 and PromQL's date functions are written from).

Every instant is in UTC: Prometheus' API writes ``time.Time`` in the server's zone, and the
servers we compare against run with ``TZ`` unset (UTC, ``Z``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kubeprom.model.gofmt import quote
from kubeprom.model.samples import I64Array

NS_PER_MS = 1_000_000
_NS_PER_S = 1_000_000_000
_MAX_INT64 = 2**63 - 1

# ---- Prometheus durations ----------------------------------------------------------------------

# model.Duration's units, largest first: (unit, ms, printed only when the rest divides exactly).
_UNITS = (
    ("y", 365 * 86_400_000, True),
    ("w", 7 * 86_400_000, True),
    ("d", 86_400_000, False),
    ("h", 3_600_000, False),
    ("m", 60_000, False),
    ("s", 1_000, False),
    ("ms", 1, False),
)
_UNIT_POS = {unit: (pos, ms * NS_PER_MS) for pos, (unit, ms, _) in enumerate(_UNITS)}


def parse_duration_ms(text: str) -> int:
    """``model.ParseDuration`` in milliseconds: ``1h30m``, ``0`` (the only unitless form).

    Units go largest first, each at most once, integers only, nothing negative (as
    prometheus/common's parser). Raises ValueError with Prometheus' wording, input quoted.
    """
    if text == "0":
        return 0
    if text == "":
        raise ValueError("empty duration string")
    total_ns = 0
    last_pos = -1
    i, n = 0, len(text)
    while i < n:
        start = i
        while i < n and "0" <= text[i] <= "9":
            i += 1
        digits = text[start:i].lstrip("0")
        # strconv.ParseUint: at least one digit, and the number must fit in a uint64.
        if i == start or len(digits) > 20 or int(digits or "0") >= 2**64:
            raise ValueError(f"not a valid duration string: {quote(text)}")
        value = int(digits or "0")
        start = i
        while i < n and not "0" <= text[i] <= "9":
            i += 1
        unit = text[start:i]
        if not unit:
            raise ValueError(f"not a valid duration string: {quote(text)}")
        if unit not in _UNIT_POS:
            raise ValueError(f"unknown unit {quote(unit)} in duration {quote(text)}")
        pos, unit_ns = _UNIT_POS[unit]
        if pos <= last_pos:  # units must go from the biggest to the smallest
            raise ValueError(f"not a valid duration string: {quote(text)}")
        last_pos = pos
        if value > (1 << 63) // unit_ns:
            raise ValueError("duration out of range")
        total_ns += value * unit_ns
        if total_ns > _MAX_INT64:
            raise ValueError("duration out of range")
    return total_ns // NS_PER_MS


def format_duration_ms(ms: int) -> str:
    """``model.Duration.String``: the largest units first, ``0s`` for zero.

    Years and weeks are used only when what is left divides exactly, so 8d prints ``8d`` and
    90d ``90d`` (not ``1w1d``, ``12w6d``), 14d ``2w`` and 365d ``1y``.
    """
    if ms == 0:
        return "0s"
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    out = [sign]
    for unit, size, exact in _UNITS:
        if exact and ms % size:
            continue
        n, ms = divmod(ms, size)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)


# ---- Go's time.Duration ------------------------------------------------------------------------


def format_go_duration(ns: int) -> str:
    """Go's ``time.Duration.String()`` of ``ns`` nanoseconds: ``72h3m0.5s``, ``1.5ms``, ``0s``.

    Below one second the unit shrinks so the leading digit is not zero (``ms``, ``µs``,
    ``ns``); fractions drop trailing zeros; hours are the largest unit.
    """
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < _NS_PER_S:
        if u < 1_000:
            return f"{sign}{u}ns"
        if u < NS_PER_MS:
            return f"{sign}{_frac(u, 3)}µs"
        return f"{sign}{_frac(u, 6)}ms"
    seconds, minutes = _frac(u % (60 * _NS_PER_S), 9), u // (60 * _NS_PER_S)
    if minutes == 0:
        return f"{sign}{seconds}s"
    hours, minutes = divmod(minutes, 60)
    if hours == 0:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{hours}h{minutes}m{seconds}s"


def _frac(v: int, prec: int) -> str:
    """``v / 10**prec`` with the fraction's trailing zeros (and a bare point) dropped."""
    whole, frac = divmod(v, 10**prec)
    digits = f"{frac:0{prec}d}".rstrip("0") if prec else ""
    return f"{whole}.{digits}" if digits else str(whole)


# ---- the UTC calendar --------------------------------------------------------------------------

SECONDS_PER_DAY = 86_400
# Days from 0000-03-01 to 1970-01-01 (Hinnant's epoch shift) and days per 400-year era.
_EPOCH_SHIFT_DAYS = 719_468
_DAYS_PER_ERA = 146_097
# Day of year (0-based) of the first of each month, in a non-leap year.
_MONTH_START = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334], dtype=np.int64)
_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Civil:
    """Calendar fields of many instants (same shape as the input), all int64."""

    year: I64Array
    month: I64Array  # 1..12
    day: I64Array  # 1..31
    weekday: I64Array  # 0 = Sunday
    yearday: I64Array  # 1..366
    hour: I64Array
    minute: I64Array
    second: I64Array

    def days_in_month(self) -> I64Array:
        leap = _is_leap(self.year)
        out: I64Array = _MONTH_DAYS[self.month - 1] + (leap & (self.month == 2))
        return out


def _is_leap(year: I64Array) -> I64Array:
    leap: I64Array = ((year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))).astype(np.int64)
    return leap


def civil_utc(seconds: I64Array) -> Civil:
    """The UTC calendar fields of Unix ``seconds``, as Go's ``time.Unix(sec, 0).UTC()``.

    Go's calendar is the proleptic Gregorian one over the whole int64 range, so the fields
    follow from the day number with Howard Hinnant's ``civil_from_days``, floor division
    throughout (``time.Unix(-1, 0)`` is 1969-12-31T23:59:59Z).
    """
    days = seconds // SECONDS_PER_DAY
    second_of_day = seconds % SECONDS_PER_DAY
    z = days + _EPOCH_SHIFT_DAYS
    era = z // _DAYS_PER_ERA
    doe = z - era * _DAYS_PER_ERA  # day of era, 0..146096
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy_march = doe - (365 * yoe + yoe // 4 - yoe // 100)  # 0 = March 1st
    mp = (5 * doy_march + 2) // 153
    day = doy_march - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    yearday = _MONTH_START[month - 1] + day + (_is_leap(year) & (month > 2))
    return Civil(
        year=year,
        month=month,
        day=day,
        weekday=(days + 4) % 7,  # 1970-01-01 was a Thursday
        yearday=yearday,
        hour=second_of_day // 3600,
        minute=second_of_day % 3600 // 60,
        second=second_of_day % 60,
    )


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's ``days_from_civil``)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * _DAYS_PER_ERA + yoe * 365 + yoe // 4 - yoe // 100 + doy - _EPOCH_SHIFT_DAYS


def _days_in(month: int, year: int) -> int:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return int(_MONTH_DAYS[month - 1]) + (month == 2 and leap)


# ---- RFC 3339 ----------------------------------------------------------------------------------


def _go_year(year: int) -> str:
    # Go's appendInt(year, 4): at least four digits, the sign before the padding.
    return f"-{-year:04d}" if year < 0 else f"{year:04d}"


def format_rfc3339(t_ms: int) -> str:
    """``time.UnixMilli(t_ms).UTC().Format(time.RFC3339)``: ``2006-01-02T15:04:05Z``.

    The fraction is dropped (the second is floored, as Go's clock), any year is written.
    """
    c = civil_utc(np.array([t_ms // 1000], dtype=np.int64))
    return (
        f"{_go_year(int(c.year[0]))}-{int(c.month[0]):02d}-{int(c.day[0]):02d}T"
        f"{int(c.hour[0]):02d}:{int(c.minute[0]):02d}:{int(c.second[0]):02d}Z"
    )


def format_rfc3339_nano(t_ms: int) -> str:
    """``time.RFC3339Nano`` in UTC, as Go marshals a ``time.Time`` to JSON.

    The fraction is written without trailing zeros, and not at all when it is zero:
    ``2006-01-02T15:04:05Z``, ``2006-01-02T15:04:05.5Z``, ``2006-01-02T15:04:05.123Z``.
    """
    text = format_rfc3339(t_ms)
    millis = t_ms % 1000
    if millis == 0:
        return text
    return f"{text[:-1]}.{f'{millis:03d}'.rstrip('0')}Z"


_LAYOUT = "2006-01-02T15:04:05.999999999Z07:00"


def parse_rfc3339_ms(text: str) -> int:
    """``time.Parse(time.RFC3339Nano, text)`` as Unix milliseconds (``timestamp.FromTime``).

    What Go accepts: ``YYYY-MM-DDTHH:MM:SS``, an optional fraction after ``.`` or ``,``
    (digits past nanoseconds ignored), then ``Z`` or ``±hh:mm``; a one-digit hour is allowed;
    a zone offset may go up to 24:60. A time zone is required. The result is floored to the
    millisecond. Raises ValueError naming the input.

    This is the Go of Prometheus 3 (>= 1.23). Go 1.19, which Debian's Prometheus 2.42 is built
    with, also took any two-digit zone offset and refused fractions past nine digits.
    """
    fields = _parse_rfc3339(text)
    if fields is None:
        raise ValueError(f"cannot parse {text!r} as RFC 3339 ({_LAYOUT})")
    year, month, day, hour, minute, second, nanos, offset_s = fields
    if not 1 <= day <= _days_in(month, year):
        raise ValueError(f"cannot parse {text!r} as RFC 3339: day out of range")
    unix_s = (
        _days_from_civil(year, month, day) * SECONDS_PER_DAY
        + hour * 3600
        + minute * 60
        + second
        - offset_s
    )
    return unix_s * 1000 + nanos // NS_PER_MS


def _two_digits(s: str, i: int) -> int | None:
    part = s[i : i + 2]
    return int(part) if len(part) == 2 and part.isascii() and part.isdigit() else None


def _parse_rfc3339(s: str) -> tuple[int, int, int, int, int, int, int, int] | None:
    """The fields of Go's general parser for the RFC3339Nano layout, or None where it fails.

    Go first tries a strict fast path; everything that accepts, this accepts too.
    """
    year_text = s[:4]
    if len(year_text) < 4 or not (year_text.isascii() and year_text.isdigit()):
        return None
    year = int(year_text)
    if s[4:5] != "-":
        return None
    month = _two_digits(s, 5)
    if month is None or not 1 <= month <= 12 or s[7:8] != "-":
        return None
    day = _two_digits(s, 8)
    if day is None or s[10:11] != "T":
        return None
    i = 11
    # The hour (layout "15") takes one or two digits; the rest exactly two.
    hour_len = 2 if s[i + 1 : i + 2].isascii() and s[i + 1 : i + 2].isdigit() else 1
    if not (s[i : i + 1].isascii() and s[i : i + 1].isdigit()):
        return None
    hour = int(s[i : i + hour_len])
    i += hour_len
    if hour >= 24 or s[i : i + 1] != ":":
        return None
    minute = _two_digits(s, i + 1)
    if minute is None or minute >= 60 or s[i + 3 : i + 4] != ":":
        return None
    second = _two_digits(s, i + 4)
    if second is None or second >= 60:
        return None
    i += 6
    nanos = 0
    if s[i : i + 1] in (".", ",") and s[i + 1 : i + 2].isascii() and s[i + 1 : i + 2].isdigit():
        j = i + 1
        while j < len(s) and "0" <= s[j] <= "9":
            j += 1
        digits = s[i + 1 : j][:9]  # Go keeps nanoseconds and ignores further digits
        nanos = int(digits) * 10 ** (9 - len(digits))
        i = j
    rest = s[i:]
    if rest == "Z":
        return year, month, day, hour, minute, second, nanos, 0
    if len(rest) != 6 or rest[0] not in "+-" or rest[3] != ":":
        return None
    zone_hour, zone_minute = _two_digits(rest, 1), _two_digits(rest, 4)
    if zone_hour is None or zone_minute is None or zone_hour > 24 or zone_minute > 60:
        return None
    offset_s = (zone_hour * 60 + zone_minute) * 60
    return year, month, day, hour, minute, second, nanos, -offset_s if rest[0] == "-" else offset_s
