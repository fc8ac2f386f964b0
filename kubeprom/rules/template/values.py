"""The Go values alert templates see: the alert data struct, query samples, times, durations.

Plain Python values stand for Go's basic types (see :mod:`kubeprom.model.goprintf`); the
classes here are the struct and pointer types of Prometheus' ``template`` package and of
Go's ``time`` package, with the fields and methods a template can reach.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from kubeprom.model.goprintf import GoMap, GoSlice, go_type_name

T_ANY = "interface {}"
T_VALUE = "reflect.Value"
T_STRING = "string"
T_FLOAT = "float64"
T_INT = "int"
T_BOOL = "bool"
T_MAP_STRING = "map[string]string"
T_MAP_ANY = "map[string]interface {}"
T_SAMPLE = "*template.sample"
T_QUERY = "template.queryResult"
T_HTML = "template.HTML"
T_TIME = "*time.Time"
T_DURATION = "*time.Duration"

ALERT_DATA_TYPE = (
    "struct { Labels map[string]string; ExternalLabels map[string]string; "
    "ExternalURL string; Value interface {} }"
)


def string_map(items: Mapping[str, str]) -> GoMap:
    """A ``map[string]string``; a missing key reads as ``""`` (Prometheus' missingkey=zero)."""
    return GoMap(items, T_MAP_STRING, "")


def any_map(items: Mapping[str, object]) -> GoMap:
    """A ``map[string]interface {}``; a missing key reads as nil."""
    return GoMap(items, T_MAP_ANY, None)


@dataclass(frozen=True, slots=True)
class Method:
    """A Go method a template may call: parameter types, whether it returns an error."""

    params: tuple[str, ...]
    impl: Callable[..., object]
    returns_error: bool = False


class Struct:
    """A Go struct value (``go_pointer`` False) or pointer to one; FIELDS name -> declared type."""

    __slots__ = ()
    go_type = ""
    go_pointer = False
    FIELDS: ClassVar[Mapping[str, str]] = {}
    METHODS: ClassVar[Mapping[str, Method]] = {}

    def go_fields(self) -> Sequence[tuple[str, object]]:
        return [(name, getattr(self, name)) for name in self.FIELDS]


class AlertData(Struct):
    """The dot of an alert template (Prometheus ``AlertTemplateData``)."""

    __slots__ = ("ExternalLabels", "ExternalURL", "Labels", "Value")
    go_type = ALERT_DATA_TYPE
    FIELDS: ClassVar[Mapping[str, str]] = {
        "Labels": T_MAP_STRING,
        "ExternalLabels": T_MAP_STRING,
        "ExternalURL": T_STRING,
        "Value": T_ANY,
    }

    def __init__(
        self,
        labels: Mapping[str, str],
        external_labels: Mapping[str, str],
        external_url: str,
        value: float,
    ) -> None:
        self.Labels = string_map(labels)
        self.ExternalLabels = string_map(external_labels)
        self.ExternalURL = external_url
        self.Value = value


class Sample(Struct):
    """``*template.sample``: one element of a query result."""

    __slots__ = ("Labels", "Value")
    go_type = T_SAMPLE
    go_pointer = True
    FIELDS: ClassVar[Mapping[str, str]] = {"Labels": T_MAP_STRING, "Value": T_ANY}

    def __init__(self, labels: Mapping[str, str], value: float) -> None:
        self.Labels = string_map(labels)
        self.Value = value


def query_result(samples: Sequence[Sample]) -> GoSlice:
    return GoSlice(samples, T_QUERY, T_SAMPLE)


class ValueView(Struct):
    """A struct pointer seen through Go's ``indirect``: prints without the ``&``."""

    __slots__ = ("target",)

    def __init__(self, target: Struct) -> None:
        self.target = target

    @property
    def go_type(self) -> str:  # type: ignore[override]
        return self.target.go_type.lstrip("*")

    def go_fields(self) -> Sequence[tuple[str, object]]:
        return self.target.go_fields()


# ---- time --------------------------------------------------------------------------------------
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


class GoTime:
    """``*time.Time`` in UTC with nanoseconds, as ``toTime`` returns it."""

    __slots__ = ("ns",)
    go_type = T_TIME

    def __init__(self, ns: int) -> None:
        self.ns = ns

    def _parts(self) -> tuple[dt.datetime, int]:
        secs, frac = divmod(self.ns, 1_000_000_000)
        return _EPOCH + dt.timedelta(seconds=secs), frac

    def go_string(self) -> str:
        """``Time.String``: ``2006-01-02 15:04:05.999999999 -0700 MST``."""
        return self.format("2006-01-02 15:04:05.999999999 -0700 MST")

    def unix(self) -> int:
        return self.ns // 1_000_000_000

    def format(self, layout: str) -> str:
        """``Time.Format`` (Go's layout elements), in UTC."""
        t, frac = self._parts()
        out: list[str] = []
        i = 0
        while i < len(layout):
            code, n = _std_chunk(layout, i)
            out.append(_render(code, layout[i : i + n], t, frac) if code else layout[i : i + n])
            i += n
        return "".join(out)

    METHODS: ClassVar[Mapping[str, Method]] = {}


def _hour12(t: dt.datetime) -> int:
    return t.hour % 12 or 12


def _lower_at(s: str, i: int) -> bool:
    return i < len(s) and "a" <= s[i] <= "z"


_ZONES = ("-070000", "-07:00:00", "-0700", "-07:00", "-07")


def _std_chunk(layout: str, i: int) -> tuple[str, int]:
    """Go's nextStdChunk at i: (element code or "", length consumed)."""
    r = layout[i:]
    c = r[0]
    if c == "J" and r.startswith("Jan"):
        if r.startswith("January"):
            return "January", 7
        if not _lower_at(r, 3):
            return "Jan", 3
    elif c == "M" and r.startswith("Mon"):
        if r.startswith("Monday"):
            return "Monday", 6
        if not _lower_at(r, 3):
            return "Mon", 3
    elif c == "M" and r.startswith("MST"):
        return "MST", 3
    elif c == "0" and len(r) > 1 and "1" <= r[1] <= "6":
        return r[:2], 2
    elif c == "0" and r.startswith("002"):
        return "002", 3
    elif c == "1":
        return ("15", 2) if r.startswith("15") else ("1", 1)
    elif c == "2":
        return ("2006", 4) if r.startswith("2006") else ("2", 1)
    elif c == "_" and r.startswith("_2") and not r.startswith("_2006"):
        return ("__2", 3) if r.startswith("__2") else ("_2", 2)
    elif c in "345":
        return c, 1
    elif c in "Pp" and r[1:2] == ("M" if c == "P" else "m"):
        return r[:2], 2
    elif c in "-Z":
        for z in _ZONES:
            cand = z if c == "-" else "Z" + z[1:]
            if r.startswith(cand):
                return cand, len(cand)
    elif c in ".," and r[1:2] in ("0", "9"):
        j = 1
        while j < len(r) and r[j] == r[1]:
            j += 1
        if not (j < len(r) and r[j].isdigit()):
            return "frac" + r[1], j
    return "", 1


def _render(code: str, text: str, t: dt.datetime, frac: int) -> str:
    if code.startswith("frac"):
        digits = f"{frac:09d}"[: len(text) - 1]
        if code == "frac9":
            digits = digits.rstrip("0")
            return text[0] + digits if digits else ""
        return text[0] + digits
    if code[0] in "-Z":
        if code[0] == "Z":
            return "Z"
        return {"-070000": "+000000", "-07:00:00": "+00:00:00", "-0700": "+0000"}.get(
            code, "+00:00" if code == "-07:00" else "+00"
        )
    simple: dict[str, str] = {
        "January": _MONTHS[t.month - 1],
        "Jan": _MONTHS[t.month - 1][:3],
        "Monday": _DAYS[(t.weekday() + 1) % 7],
        "Mon": _DAYS[(t.weekday() + 1) % 7][:3],
        "MST": "UTC",
        "2006": f"{t.year:04d}",
        "002": f"{t.timetuple().tm_yday:03d}",
        "__2": f"{t.timetuple().tm_yday:3d}",
        "01": f"{t.month:02d}",
        "02": f"{t.day:02d}",
        "03": f"{_hour12(t):02d}",
        "04": f"{t.minute:02d}",
        "05": f"{t.second:02d}",
        "06": f"{t.year % 100:02d}",
        "15": f"{t.hour:02d}",
        "_2": f"{t.day:2d}",
        "PM": "PM" if t.hour >= 12 else "AM",
        "pm": "pm" if t.hour >= 12 else "am",
        "1": str(t.month),
        "2": str(t.day),
        "3": str(_hour12(t)),
        "4": str(t.minute),
        "5": str(t.second),
    }
    return simple[code]


class GoDuration:
    """``*time.Duration`` (nanoseconds), as ``toDuration`` returns it."""

    __slots__ = ("ns",)
    go_type = T_DURATION

    def __init__(self, ns: int) -> None:
        self.ns = ns

    def go_string(self) -> str:
        return duration_string(self.ns)

    METHODS: ClassVar[Mapping[str, Method]] = {}


def duration_string(d: int) -> str:
    """``time.Duration.String``: ``1h2m3.5s``, ``1.5ms``, ``0s``."""
    neg = d < 0
    u = -d if neg else d
    if u < 1_000_000_000:
        if u == 0:
            return "0s"
        if u < 1_000:
            text = f"{u}ns"
        elif u < 1_000_000:
            text = _frac_units(u, 3) + "µs"
        else:
            text = _frac_units(u, 6) + "ms"
    else:
        whole, frac = divmod(u, 1_000_000_000)
        fraction = f"{frac:09d}".rstrip("0")
        text = f"{whole % 60}" + (f".{fraction}" if fraction else "") + "s"
        minutes = whole // 60
        if minutes:
            text = f"{minutes % 60}m" + text
            hours = minutes // 60
            if hours:
                text = f"{hours}h" + text
    return ("-" if neg else "") + text


def _frac_units(u: int, prec: int) -> str:
    whole, frac = divmod(u, 10**prec)
    fraction = f"{frac:0{prec}d}".rstrip("0")
    return f"{whole}" + (f".{fraction}" if fraction else "")


def _time_methods() -> dict[str, Method]:
    utc: Callable[[GoTime], GoTime] = lambda t: t  # noqa: E731 - always UTC here
    return {
        "Format": Method((T_STRING,), GoTime.format),
        "Unix": Method((), lambda t: t.unix()),
        "UnixMilli": Method((), lambda t: t.ns // 1_000_000),
        "UnixNano": Method((), lambda t: t.ns),
        "UTC": Method((), utc),
        "String": Method((), GoTime.go_string),
        "Year": Method((), lambda t: t._parts()[0].year),
        "YearDay": Method((), lambda t: t._parts()[0].timetuple().tm_yday),
        "Day": Method((), lambda t: t._parts()[0].day),
        "Hour": Method((), lambda t: t._parts()[0].hour),
        "Minute": Method((), lambda t: t._parts()[0].minute),
        "Second": Method((), lambda t: t._parts()[0].second),
        "Nanosecond": Method((), lambda t: t._parts()[1]),
    }


def _tdiv(a: int, b: int) -> int:
    """Go's integer division (truncates toward zero)."""
    q = abs(a) // b
    return q if a >= 0 else -q


def _split(ns: int, unit: int) -> float:
    """Go's Duration.Seconds/Minutes/Hours: whole units plus the remainder as a fraction."""
    whole = _tdiv(ns, unit)
    return float(whole) + float(ns - whole * unit) / unit


def _duration_methods() -> dict[str, Method]:
    return {
        "String": Method((), GoDuration.go_string),
        "Seconds": Method((), lambda d: _split(d.ns, 1_000_000_000)),
        "Minutes": Method((), lambda d: _split(d.ns, 60_000_000_000)),
        "Hours": Method((), lambda d: _split(d.ns, 3_600_000_000_000)),
        "Milliseconds": Method((), lambda d: _tdiv(d.ns, 1_000_000)),
        "Microseconds": Method((), lambda d: _tdiv(d.ns, 1_000)),
        "Nanoseconds": Method((), lambda d: d.ns),
    }


GoTime.METHODS = _time_methods()
GoDuration.METHODS = _duration_methods()


def type_name(v: object) -> str:
    """The Go type of a template value (``reflect.TypeOf(v).String()``)."""
    return go_type_name(v)
