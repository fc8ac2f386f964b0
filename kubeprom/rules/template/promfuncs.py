"""Prometheus' template functions (``template/template.go`` of Prometheus 3.x).

Number arguments go through ``ConvertToFloat`` as in Prometheus (float64, string, int,
int64, uint64). ``tmpl`` exists only in HTML expansion (console templates), so text
templates do not have it, as in Prometheus.
"""

from __future__ import annotations

import ipaddress
import math
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

import re2

from kubeprom.errors import KubepromError
from kubeprom.model.gofmt import quote
from kubeprom.model.goprintf import (
    GoSlice,
    Int64,
    NamedString,
    ParseFloatError,
    Uint64,
    can_backquote,
    parse_float,
    sprintf,
)
from kubeprom.rules.template.builtins import query_escape
from kubeprom.rules.template.exec import Func, FuncError
from kubeprom.rules.template.values import (
    T_ANY,
    T_HTML,
    T_QUERY,
    T_SAMPLE,
    T_STRING,
    GoDuration,
    GoTime,
    Sample,
    any_map,
    query_result,
    type_name,
)

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # errors become template errors


class QuerySample(Protocol):
    """One sample of an instant query result, as the injected query function returns it."""

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def value(self) -> float: ...


QueryFunc = Callable[[str], Sequence[QuerySample]]
"""Runs an instant query at the expansion time; raises a KubepromError on failure."""


@dataclass(slots=True)
class FuncContext:
    """What the functions see of one expansion: time, query function, external URL."""

    t_ms: int
    query: QueryFunc | None
    external_url: str
    regex_cache: dict[str, object] = field(default_factory=dict)


# ---- numbers and time --------------------------------------------------------------------------
def convert_to_float(i: object) -> float:
    """common/helpers/templates.ConvertToFloat."""
    if isinstance(i, float):
        return i
    if type(i) is str:
        try:
            return parse_float(i)
        except ParseFloatError as err:
            raise FuncError(str(err)) from None
    if isinstance(i, int) and not isinstance(i, bool) and (type(i) in (int, Int64, Uint64)):
        return float(i)
    raise FuncError(f"can't convert {'<nil>' if i is None else type_name(i)} to float")


def go_int64(f: float) -> int:
    """Go's ``int64(f)`` on amd64: truncation; NaN and out of range give MinInt64."""
    if math.isnan(f) or not -(2.0**63) <= f < 2.0**63:
        return -(1 << 63)
    return int(f)


def _tdiv(a: int, b: int) -> int:
    q = abs(a) // b
    return q if (a >= 0) == (b >= 0) else -q


def _tmod(a: int, b: int) -> int:
    return a - b * _tdiv(a, b)


def _humanize(i: object) -> str:
    v = convert_to_float(i)
    if v == 0 or math.isnan(v) or math.isinf(v):
        return sprintf("%.4g", v)
    prefix = ""
    if abs(v) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix = p
            v /= 1000
        return sprintf("%.4g%s", v, prefix)
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return sprintf("%.4g%s", v, prefix)


def _humanize1024(i: object) -> str:
    v = convert_to_float(i)
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return sprintf("%.4g", v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix = p
        v /= 1024
    return sprintf("%.4g%s", v, prefix)


def _humanize_duration(i: object) -> str:
    v = convert_to_float(i)
    if math.isnan(v) or math.isinf(v):
        return sprintf("%.4g", v)
    if v == 0:
        return sprintf("%.4gs", v)
    if abs(v) >= 1:
        sign = ""
        if v < 0:
            sign, v = "-", -v
        d = go_int64(v)
        seconds = _tmod(d, 60)
        minutes = _tmod(_tdiv(d, 60), 60)
        hours = _tmod(_tdiv(d, 3600), 24)
        days = _tdiv(d, 86400)
        if days != 0:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours != 0:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes != 0:
            return f"{sign}{minutes}m {seconds}s"
        return sprintf("%s%.4gs", sign, v)
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return sprintf("%.4g%ss", v, prefix)


def _humanize_percentage(i: object) -> str:
    return sprintf("%.4g%%", convert_to_float(i) * 100)


class _NaNOrInf(FuncError):
    pass


def float_to_time(v: float) -> GoTime:
    """common FloatToTime: seconds to a time, through milliseconds as model.Time does."""
    if math.isnan(v) or math.isinf(v):
        raise _NaNOrInf("value is NaN or Inf")
    ts = v * 1e9
    if ts > 2.0**63 or ts < -(2.0**63):
        msg = "%v cannot be represented as a nanoseconds timestamp since it overflows int64"
        raise FuncError(sprintf(msg, v))
    ms = _tdiv(go_int64(ts), 1_000_000)
    return GoTime(ms * 1_000_000)


def _humanize_timestamp(i: object) -> str:
    v = convert_to_float(i)
    try:
        return float_to_time(v).go_string()
    except _NaNOrInf:
        return sprintf("%.4g", v)


def _to_time(i: object) -> GoTime:
    return float_to_time(convert_to_float(i))


def _to_duration(i: object) -> GoDuration:
    return GoDuration(go_int64(convert_to_float(i) * 1e9))


_DURATION_UNITS = {
    "ms": (7, 1_000_000),
    "s": (6, 1_000_000_000),
    "m": (5, 60_000_000_000),
    "h": (4, 3_600_000_000_000),
    "d": (3, 86_400_000_000_000),
    "w": (2, 604_800_000_000_000),
    "y": (1, 31_536_000_000_000_000),
}


def parse_model_duration(s: str) -> int:
    """common/model.ParseDurationAllowNegative, in nanoseconds; raises FuncError."""
    if s.startswith("-"):
        return -parse_model_duration(s[1:])
    if s == "0":
        return 0
    if s == "":
        raise FuncError("empty duration string")
    orig, dur, last = s, 0, 0
    invalid = FuncError(f"not a valid duration string: {quote(orig)}")
    while s:
        if not "0" <= s[0] <= "9":
            raise invalid
        i = 0
        while i < len(s) and "0" <= s[i] <= "9":
            i += 1
        v = int(s[:i])
        if v >= 1 << 64:
            raise invalid
        s = s[i:]
        i = 0
        while i < len(s) and not "0" <= s[i] <= "9":
            i += 1
        if i == 0:
            raise invalid
        unit, s = s[:i], s[i:]
        if unit not in _DURATION_UNITS:
            raise FuncError(f"unknown unit {quote(unit)} in duration {quote(orig)}")
        pos, mult = _DURATION_UNITS[unit]
        if pos <= last:
            raise invalid
        last = pos
        if v > (1 << 63) // mult:
            raise FuncError("duration out of range")
        dur += v * mult
        if dur > (1 << 63) - 1:
            raise FuncError("duration out of range")
    return dur


# ---- strings -----------------------------------------------------------------------------------
_MID = frozenset(":.'·\u0387\u05f4\u2018\u2019\u2024\u2027\ufe13\ufe52\ufe55\uff07\uff0e\uff1a")
_LETTER_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Mn", "Me", "Mc", "Cf", "Pc"})


def _cased(c: str) -> bool:
    return c.isupper() or c.islower() or unicodedata.category(c) == "Lt"


def title(s: str) -> str:
    """x/text ``cases.Title(language.AmericanEnglish, cases.NoLower)``: the first cased
    letter of each word is title-cased, the rest kept; words break per x/text's
    approximation of UAX #29 (letters, digits and ``_`` join; ``:.'`` join unless doubled)."""
    out: list[str] = []
    mid_word = False
    prev_mid = False
    for c in s:
        is_mid = c in _MID
        if prev_mid and is_mid:
            mid_word = False
        if _cased(c):
            out.append(c if mid_word else c.title())
            mid_word = True
        else:
            out.append(c)
            if not is_mid and unicodedata.category(c) not in _LETTER_CATEGORIES:
                mid_word = False
        prev_mid = is_mid
    return "".join(out)


_SIMPLE_LOWER = {"\u0130": "i"}


def to_upper(s: str) -> str:
    """strings.ToUpper: simple per-rune mappings (``ß`` stays ``ß``)."""
    if s.isascii():
        return s.upper()
    return "".join(u if len(u := c.upper()) == 1 else c for c in s)


def to_lower(s: str) -> str:
    """strings.ToLower: simple per-rune mappings, no final-sigma context."""
    if s.isascii():
        return s.lower()
    return "".join(_SIMPLE_LOWER.get(c) or (lo if len(lo := c.lower()) == 1 else c) for c in s)


def split_host_port(hostport: str) -> tuple[str, str] | None:
    """net.SplitHostPort; None on error."""
    i = hostport.rfind(":")
    if i < 0:
        return None
    j = k = 0
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or end + 1 == len(hostport) or end + 1 != i:
            return None
        host = hostport[1:end]
        j, k = 1, end + 1
    else:
        host = hostport[:i]
        if ":" in host:
            return None
    if "[" in hostport[j:] or "]" in hostport[k:]:
        return None
    return host, hostport[i + 1 :]


def _is_ip(host: str) -> bool:
    """net.ParseIP(host) != nil."""
    if "%" in host or not host:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _strip_port(hostport: str) -> str:
    hp = split_host_port(hostport)
    return hostport if hp is None else hp[0]


def _strip_domain(hostport: str) -> str:
    hp = split_host_port(hostport)
    host, port = (hostport, "") if hp is None else hp
    if _is_ip(host):
        return hostport
    host = host.split(".")[0]
    if port:
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host


# ---- regular expressions -----------------------------------------------------------------------
_RE2_TO_GO = {
    "missing )": "missing closing )",
    "unexpected )": "unexpected )",
    "missing ]": "missing closing ]",
    "bad repetition operator": "invalid nested repetition operator",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid escape sequence": "invalid escape sequence",
    "invalid character class range": "invalid character class range",
    "invalid character class": "invalid character class",
    "invalid repetition size": "invalid repeat count",
    "invalid named capture group": "invalid named capture",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid UTF-8": "invalid UTF-8",
}


def _go_regex_error(message: str) -> str:
    """RE2's parse error as Go's regexp/syntax words it."""
    if message.startswith("trailing \\"):
        return "error parsing regexp: trailing backslash at end of expression: ``"
    code, _, arg = message.partition(": ")
    return f"error parsing regexp: {_RE2_TO_GO.get(code, code)}: `{arg}`"


def _compile(ctx: FuncContext, pattern: str) -> object:
    """A compiled RE2 regexp, or the Go error message (str) when it does not compile."""
    hit = ctx.regex_cache.get(pattern)
    if hit is None:
        try:
            hit = re2.compile(pattern, _RE2_OPTIONS)
        except re2.error as err:
            raw = err.args[0] if err.args else str(err)
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            hit = _go_regex_error(text)
        ctx.regex_cache[pattern] = hit
    return hit


def _regex_quote(s: str) -> str:
    return f"`{s}`" if can_backquote(s) else quote(s)


def _expand(template: str, text: str, m: object, names: Mapping[str, int]) -> str:
    """regexp.Regexp.expand: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``."""
    out: list[str] = []
    group: Callable[[int], str | None] = m.group  # type: ignore[attr-defined]
    ngroups = len(m.groups())  # type: ignore[attr-defined]
    while template:
        before, dollar, after = template.partition("$")
        if not dollar:
            break
        out.append(before)
        template = after
        if template.startswith("$"):
            out.append("$")
            template = template[1:]
            continue
        brace = template.startswith("{")
        body = template[1:] if brace else template
        i = 0
        while i < len(body) and (body[i].isalpha() or body[i].isdecimal() or body[i] == "_"):
            i += 1
        name = body[:i]
        if i == 0 or (brace and (i >= len(body) or body[i] != "}")):
            out.append("$")
            continue
        template = body[i + 1 :] if brace else body[i:]
        num = -1
        if name.isascii() and name.isdigit() and not (name[0] == "0" and len(name) > 1):
            num = int(name) if len(name) <= 8 else -1
        idx = num if num >= 0 else names.get(name, -1)
        if 0 <= idx <= ngroups:
            g = group(idx)
            if g is not None:
                out.append(g)
    out.append(template)
    return "".join(out)


def _replace_all(regex: object, repl: str, text: str) -> str:
    """regexp.ReplaceAllString: Go skips an empty match right after the previous match."""
    search: Callable[[str, int], object] = regex.search  # type: ignore[attr-defined]
    names: Mapping[str, int] = regex.groupindex  # type: ignore[attr-defined]
    out: list[str] = []
    last_end = 0
    pos = 0
    end = len(text)
    while pos <= end:
        m = search(text, pos)
        if m is None:
            break
        a0, a1 = m.span()  # type: ignore[attr-defined]
        out.append(text[last_end:a0])
        if a1 > last_end or a0 == 0:
            out.append(_expand(repl, text, m, names))
        last_end = a1
        width = 1 if pos < end else 0
        if pos + width > a1:
            pos += width
        elif pos + 1 > a1:
            pos += 1
        else:
            pos = a1
    out.append(text[last_end:])
    return "".join(out)


# ---- the function map --------------------------------------------------------------------------
def _sample_or_panic(s: object) -> Sample:
    if not isinstance(s, Sample):
        raise FuncError("runtime error: invalid memory address or nil pointer dereference")
    return s


def _sort_by_label(label: str, v: object) -> object:
    if isinstance(v, list):
        v.sort(key=lambda s: str(s.Labels.get(label, "")) if isinstance(s, Sample) else "")
    return v


def _first(v: object) -> object:
    if isinstance(v, GoSlice) and v:
        return v[0]
    raise FuncError("first() called on vector with no elements")


def _query(ctx: FuncContext, q: str) -> GoSlice:
    if ctx.query is None:
        raise FuncError("runtime error: invalid memory address or nil pointer dereference")
    try:
        samples = ctx.query(q)
    except KubepromError as err:
        raise FuncError(str(err)) from None
    return query_result([Sample(s.labels, s.value) for s in samples])


def _match(ctx: FuncContext, pattern: str, s: str) -> bool:
    regex = _compile(ctx, pattern)
    if isinstance(regex, str):
        raise FuncError(regex)
    return regex.search(s) is not None  # type: ignore[attr-defined]


def _re_replace_all(ctx: FuncContext, pattern: str, repl: str, text: str) -> str:
    regex = _compile(ctx, pattern)
    if isinstance(regex, str):
        raise FuncError(f"regexp: Compile({_regex_quote(pattern)}): {regex}")
    return _replace_all(regex, repl, text)


def _path_prefix(ctx: FuncContext) -> str:
    return urlsplit(ctx.external_url).path


def _args(*a: object) -> object:
    return any_map({f"arg{i}": x for i, x in enumerate(a)})


def _label(k: str, s: object) -> str:
    return str(_sample_or_panic(s).Labels.get(k, ""))


def _link(tab: int) -> Callable[[str], str]:
    return lambda expr: f"/graph?g0.expr={query_escape(expr)}&g0.tab={tab}"


# Prometheus' text-template function map (``NewTemplateExpander``). Functions marked
# with_context get the expansion's FuncContext (time, query function, external URL).
FUNCS: dict[str, Func] = {
    "args": Func((T_ANY,), _args, variadic=True),
    "externalURL": Func((), lambda ctx: ctx.external_url, with_context=True),
    "first": Func((T_QUERY,), _first),
    "graphLink": Func((T_STRING,), _link(0)),
    "humanize": Func((T_ANY,), _humanize),
    "humanize1024": Func((T_ANY,), _humanize1024),
    "humanizeDuration": Func((T_ANY,), _humanize_duration),
    "humanizePercentage": Func((T_ANY,), _humanize_percentage),
    "humanizeTimestamp": Func((T_ANY,), _humanize_timestamp),
    "label": Func((T_STRING, T_SAMPLE), _label),
    "match": Func((T_STRING, T_STRING), _match, with_context=True),
    "now": Func((), lambda ctx: ctx.t_ms / 1000.0, with_context=True),
    "parseDuration": Func((T_STRING,), lambda d: parse_model_duration(d) / 1e9),
    "pathPrefix": Func((), _path_prefix, with_context=True),
    "query": Func((T_STRING,), _query, with_context=True),
    "reReplaceAll": Func((T_STRING, T_STRING, T_STRING), _re_replace_all, with_context=True),
    "safeHtml": Func((T_STRING,), lambda t: NamedString(t, T_HTML)),
    "sortByLabel": Func((T_STRING, T_QUERY), _sort_by_label),
    "stripDomain": Func((T_STRING,), _strip_domain),
    "stripPort": Func((T_STRING,), _strip_port),
    "strvalue": Func((T_SAMPLE,), lambda s: _label("__value__", s)),
    "tableLink": Func((T_STRING,), _link(1)),
    "title": Func((T_STRING,), title),
    "toDuration": Func((T_ANY,), _to_duration),
    "toLower": Func((T_STRING,), to_lower),
    "toTime": Func((T_ANY,), _to_time),
    "toUpper": Func((T_STRING,), to_upper),
    "urlQueryEscape": Func((T_STRING,), query_escape),
    "value": Func((T_SAMPLE,), lambda s: _sample_or_panic(s).Value),
}
