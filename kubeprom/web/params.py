"""Request parameters as Prometheus reads them: form values, times, limits, ``match[]``.

GET query strings and form-encoded POST bodies are merged (``r.FormValue`` in Go: the body
wins for a name given in both). Errors are :class:`APIError` ``bad_data`` with Prometheus'
messages, e.g. ``invalid parameter "limit": limit must be non-negative``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from aiohttp import web
from multidict import MultiDict

from kubeprom.errors import APIError, ErrorType, ParseError
from kubeprom.model.goprintf import ParseFloatError, parse_float
from kubeprom.model.matchers import Matcher
from kubeprom.model.timeutil import parse_duration_ms, parse_rfc3339_ms
from kubeprom.promql import ast
from kubeprom.promql.parse import parse
from kubeprom.tsdb.api import MAX_TIME, MIN_TIME

# What Go clients send for "no bound" (Prometheus' MinTime/MaxTime in RFC 3339); Go's parser
# takes four-digit years only, so Prometheus recognises these by their text, as here.
_MIN_TIME_TEXT = "-292273086-05-16T16:47:06Z"
_MAX_TIME_TEXT = "292277025-08-18T07:12:54.999999999Z"


async def form(request: web.Request) -> MultiDict[str]:
    """Query-string parameters plus, for a form POST, the body's (all values of a name)."""
    out: MultiDict[str] = MultiDict(request.query)
    if request.method in ("POST", "PUT") and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        for name, value in (await request.post()).items():
            if isinstance(value, str):
                out.add(name, value)
    return out


def value(params: MultiDict[str], name: str) -> str:
    """Go's ``FormValue``: the last body value, else the first query value, else ``""``."""
    values = params.getall(name, [])
    return values[-1] if values else ""


def _float_seconds(text: str) -> float | None:
    """Go's ``strconv.ParseFloat`` of a time or duration parameter; None if it does not parse
    (out of range included, as ``1e400``)."""
    try:
        return parse_float(text)
    except ParseFloatError:
        return None


def parse_time(text: str, name: str) -> int:
    """RFC 3339 or Unix seconds (with fraction) to ms; APIError naming the parameter.

    As Prometheus' ``parseTime``: seconds and their fraction rounded to the millisecond
    separately (``math.Modf``). A number whose milliseconds do not fit in int64 (``Inf``,
    ``NaN``, ``99999999999999999999``) is refused with the wording of a text that does not
    parse; Prometheus converts those with Go's undefined float-to-int conversion and answers
    for a nonsense time.
    """
    seconds = _float_seconds(text)
    if seconds is not None and math.isfinite(seconds):
        frac, whole = math.modf(seconds)
        t_ms = int(whole) * 1000 + round(frac * 1000)
        if MIN_TIME <= t_ms <= MAX_TIME:
            return t_ms
    elif seconds is None:
        if text == _MIN_TIME_TEXT:
            return MIN_TIME
        if text == _MAX_TIME_TEXT:
            return MAX_TIME
        parsed = _rfc3339_ms(text)
        if parsed is not None:
            return parsed
    raise APIError(
        ErrorType.BAD_DATA,
        f'invalid parameter "{name}": cannot parse "{text}" to a valid timestamp',
    )


def _rfc3339_ms(text: str) -> int | None:
    try:
        return parse_rfc3339_ms(text)
    except ValueError:
        return None


def time_param(params: MultiDict[str], name: str, default: int) -> int:
    """An optional time (Prometheus' ``parseTimeParam``): ``default`` when absent."""
    text = value(params, name)
    if not text:
        return default
    try:
        return parse_time(text, name)
    except APIError as err:
        reason = err.message.split(": ", 1)[1]
        raise APIError(
            ErrorType.BAD_DATA,
            f"invalid parameter \"{name}\": invalid time value for '{name}': {reason}",
        ) from None


def parse_step(text: str, name: str) -> int:
    """A duration (``15s``) or float seconds to ms, as Prometheus' ``parseDuration``.

    A number whose nanoseconds overflow int64 (``Inf``, ``1e10``) is refused with
    Prometheus' "overflows int64"; ``NaN`` is 0 (Go converts it so), which callers refuse as
    a step that is not positive.
    """
    seconds = _float_seconds(text)
    if seconds is not None:
        if math.isnan(seconds):
            return 0
        if abs(seconds * 1e9) >= 2.0**63:
            raise APIError(
                ErrorType.BAD_DATA,
                f'invalid parameter "{name}": cannot parse "{text}" to a valid duration. '
                "It overflows int64",
            )
        return int(seconds * 1e9) // 1_000_000
    try:
        return parse_duration_ms(text)
    except ValueError:
        raise APIError(
            ErrorType.BAD_DATA,
            f'invalid parameter "{name}": cannot parse "{text}" to a valid duration',
        ) from None


def limit_param(params: MultiDict[str]) -> int:
    """``limit`` as Prometheus 3 reads it for series and labels: 0 (or absent) is no limit."""
    text = value(params, "limit")
    if not text:
        return 0
    try:
        limit = int(text)
    except ValueError:
        raise APIError(
            ErrorType.BAD_DATA,
            f'invalid parameter "limit": strconv.Atoi: parsing "{text}": invalid syntax',
        ) from None
    if limit < 0:
        raise APIError(ErrorType.BAD_DATA, 'invalid parameter "limit": limit must be non-negative')
    return limit


def number_param(params: MultiDict[str], name: str, default: int) -> int:
    """An integer (``limit`` of the metadata endpoints): ``<name> must be a number``."""
    text = value(params, name)
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise APIError(ErrorType.BAD_DATA, f"{name} must be a number") from None


def parse_selector(text: str) -> list[Matcher]:
    """The matchers of one series selector (``up{job="a"}``); raises ParseError."""
    tree = parse(text)
    if not isinstance(tree, ast.VectorSel):
        raise ParseError(
            f"expected a series selector, got a {tree.type} expression",
            query=text,
            start=0,
            end=len(text),
        )
    return list(tree.matchers)


def matcher_sets(texts: Sequence[str]) -> list[list[Matcher]]:
    """Every ``match[]`` selector; each must hold a matcher that rejects the empty string.

    Raises ParseError (bad selector) or ValueError (only empty-matching matchers), which the
    caller maps to the message its endpoint uses.
    """
    try:
        sets = [parse_selector(t) for t in texts]
    except ParseError as err:
        # promql-parser rejects `{a=""}` while parsing; Prometheus parses it, then says this.
        if "at least one non-empty matcher" in str(err):
            raise ValueError("match[] must contain at least one non-empty matcher") from err
        raise
    for ms in sets:
        if not any(not m.matches("") for m in ms):
            raise ValueError("match[] must contain at least one non-empty matcher")
    return sets


def truncated(items: list[str], limit: int) -> tuple[list[str], list[str]]:
    """``items`` cut to ``limit`` (0: no limit) and Prometheus' warning when it cut."""
    if limit and len(items) > limit:
        return items[:limit], ["results truncated due to limit"]
    return items, []
