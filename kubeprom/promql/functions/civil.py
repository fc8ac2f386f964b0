"""UTC calendar fields of Unix seconds, vectorised, as Go's ``time.Unix(sec, 0).UTC()``.

The date functions (``year()``, ``day_of_week()``, ...) convert a sample value with Go's
``int64(v)``: truncation toward zero, and on amd64 (``CVTTSD2SQ``) NaN, +/-Inf and values
outside the int64 range all become ``math.MinInt64``. Go's calendar is the proleptic
Gregorian one over the whole int64 range, so the fields follow from the day number with
Howard Hinnant's ``civil_from_days``, floor division throughout (``time.Unix(-1, 0)`` is
1969-12-31T23:59:59Z).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kubeprom.model.samples import F64Array, I64Array

SECONDS_PER_DAY = 86_400
_MIN_INT64 = -(2**63)
# 2**63 as a float64: the first value Go's conversion can no longer represent.
_TWO_63 = 9.223372036854775808e18
# Days from 0000-03-01 to 1970-01-01 (Hinnant's epoch shift) and days per 400-year era.
_EPOCH_SHIFT_DAYS = 719_468
_DAYS_PER_ERA = 146_097
# Day of year (0-based) of the first of each month, in a non-leap year.
_MONTH_START = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334], dtype=np.int64)
_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def go_int64_seconds(values: F64Array) -> I64Array:
    """Go's ``int64(v)`` on amd64: truncate toward zero; NaN, Inf and overflow -> MinInt64."""
    ok = (values >= -_TWO_63) & (values < _TWO_63)  # False for NaN
    out = np.full(values.shape, _MIN_INT64, dtype=np.int64)
    out[ok] = np.trunc(values[ok]).astype(np.int64)
    return out


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
    """The UTC calendar fields of Unix ``seconds``."""
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


def rfc3339_utc(seconds: int) -> str:
    """``time.Unix(seconds, 0).UTC().Format(time.RFC3339)`` for years 0..9999."""
    c = civil_utc(np.array([seconds], dtype=np.int64))
    return (
        f"{int(c.year[0]):04d}-{int(c.month[0]):02d}-{int(c.day[0]):02d}T"
        f"{int(c.hour[0]):02d}:{int(c.minute[0]):02d}:{int(c.second[0]):02d}Z"
    )
