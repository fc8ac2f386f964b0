"""What a failed unit test says: promtool's text, and a diff of only what differs.

:func:`alert_failure` and :func:`expr_failure` write promtool's messages byte for byte
(``unittest.go``: ``labelsAndAnnotations.String``, ``parsedSamplesString``). The diff pairs
expected and got alerts (or samples): equal ones are left out; those with the same labels
differ in annotations (or value); the rest are paired by the most label pairs in common
and show the labels that differ; what is left is missing or unexpected. A missing alert
that is pending says when its ``for`` lets it fire, an unexpected one since when it fires:
the two ways a ``for`` that does not match the test shows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from kubeprom.model.gofmt import format_e, format_g, quote
from kubeprom.model.labels import is_label_name
from kubeprom.model.timeutil import format_duration_ms
from kubeprom.rules.unittest_file import Pairs


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert as compared; ``state``/``active_ms``/``for_ms`` (relative to the test's
    start) only for alerts the rule has, for the diff's notes."""

    labels: Pairs
    annotations: Pairs
    state: str = ""
    active_ms: int = 0
    for_ms: int = 0

    @property
    def key(self) -> tuple[Pairs, Pairs]:
        return (self.labels, self.annotations)


@dataclass(frozen=True, slots=True)
class SampleView:
    labels: Pairs
    value: float
    histogram: str = ""


@dataclass(frozen=True, slots=True)
class Change:
    """One difference. ``kind``: ``missing`` / ``unexpected`` (a whole alert or sample),
    ``label`` / ``annotation`` / ``value`` (of the alert or sample ``subject``); ``want`` and
    ``got`` are None where that side has nothing."""

    kind: str
    subject: str
    name: str = ""
    want: str | None = None
    got: str | None = None
    note: str = ""


# ---- promtool's text --------------------------------------------------------------------------


def braced(pairs: Pairs) -> str:
    """``labels.Labels.String()``."""
    inner = ", ".join(f"{n if is_label_name(n) else quote(n)}={quote(v)}" for n, v in pairs)
    return "{" + inner + "}"


def indent_lines(text: str, indent: str) -> str:
    """``indentLines``: every line but the first gets ``indent``."""
    return ("\n" + indent).join(text.split("\n"))


def alerts_text(alerts: Sequence[AlertView]) -> str:
    """``labelsAndAnnotations.String()``."""
    if not alerts:
        return "[]"
    parts = []
    for i, a in enumerate(alerts):
        one = f"Labels:{braced(a.labels)}\nAnnotations:{braced(a.annotations)}"
        parts.append(f"{i}:" + indent_lines("\n" + one, "  "))
    return "[\n" + ",\n".join(parts) + "\n]"


def alert_failure(
    group_name: str,
    alertname: str,
    eval_ms: int,
    exp: Sequence[AlertView],
    got: Sequence[AlertView],
) -> str:
    name = f"    name: {group_name},\n" if group_name else ""
    exp_text = indent_lines(alerts_text(exp), " " * 12)
    got_text = indent_lines(alerts_text(got), " " * 12)
    return (
        f"{name}    alertname: {alertname}, time: {format_duration_ms(eval_ms)}, \n"
        f"        exp:{exp_text}, \n        got:{got_text}"
    )


def samples_text(samples: Sequence[SampleView]) -> str:
    """``parsedSamplesString``."""
    if not samples:
        return "nil"
    return ", ".join(
        f"{braced(s.labels)} {s.histogram or format_e(s.value).replace('e', 'E')}" for s in samples
    )


def expr_failure(
    expr: str, eval_ms: int, exp: Sequence[SampleView], got: Sequence[SampleView]
) -> str:
    return (
        f"    expr: {quote(expr)}, time: {format_duration_ms(eval_ms)},\n"
        f"        exp: {samples_text(exp)}\n        got: {samples_text(got)}"
    )


def expr_error(expr: str, eval_ms: int, err: str) -> str:
    return f"    expr: {quote(expr)}, time: {format_duration_ms(eval_ms)}, err: {err}"


_T = TypeVar("_T", AlertView, SampleView)


# ---- the diff ---------------------------------------------------------------------------------


def _common(a: Pairs, b: Pairs) -> int:
    return len(set(a) & set(b))


def _match(exp: list[_T], got: list[_T]) -> tuple[list[tuple[_T, _T]], list[_T], list[_T]]:
    """Pairs with equal labels first, then by the most label pairs in common (at least one
    besides ``alertname``/``__name__``, or the only two left); the leftovers."""
    pairs: list[tuple[_T, _T]] = []
    exp, got = list(exp), list(got)
    for e in list(exp):
        for g in got:
            if g.labels == e.labels:
                pairs.append((e, g))
                exp.remove(e)
                got.remove(g)
                break
    while exp and got:
        best = max(
            (
                (_common(e.labels, g.labels), i, j)
                for i, e in enumerate(exp)
                for j, g in enumerate(got)
            ),
        )
        score, i, j = best
        names = {n for n, _ in exp[i].labels} | {n for n, _ in got[j].labels}
        floor = 1 + ("alertname" in names) + ("__name__" in names)
        if score < floor and not (len(exp) == 1 and len(got) == 1):
            break
        pairs.append((exp.pop(i), got.pop(j)))
    return pairs, exp, got


def _pair_changes(kind: str, subject: str, want: Pairs, got: Pairs) -> list[Change]:
    w, g = dict(want), dict(got)
    out = []
    for name in sorted(set(w) | set(g)):
        a, b = w.get(name), g.get(name)
        if a != b:
            out.append(
                Change(
                    kind,
                    subject,
                    name,
                    None if a is None else quote(a),
                    None if b is None else quote(b),
                )
            )
    return out


def _timing(a: AlertView) -> str:
    if a.state == "pending":
        fires = a.active_ms + a.for_ms
        return (
            f"pending since {format_duration_ms(a.active_ms)}, "
            f"fires at {format_duration_ms(fires)} (for: {format_duration_ms(a.for_ms)})"
        )
    if a.state == "firing":
        since = a.active_ms + a.for_ms
        return (
            f"firing since {format_duration_ms(since)} (active since "
            f"{format_duration_ms(a.active_ms)}, for: {format_duration_ms(a.for_ms)})"
        )
    return ""


def alert_changes(
    exp: Sequence[AlertView], got: Sequence[AlertView], others: Sequence[AlertView] = ()
) -> list[Change]:
    """What differs between expected and got (firing) alerts; ``others`` are the rule's
    alerts that are not firing (pending), which explain a missing one."""
    got_left = [g for g in got if g.key not in {e.key for e in exp}]
    exp_left = [e for e in exp if e.key not in {g.key for g in got}]
    pairs, missing, unexpected = _match(exp_left, got_left)
    out: list[Change] = []
    for e, g in pairs:
        subject = braced(e.labels if e.labels == g.labels else _shared(e.labels, g.labels))
        out += _pair_changes("label", subject, e.labels, g.labels)
        out += _pair_changes("annotation", subject, e.annotations, g.annotations)
    pending = {o.labels: o for o in others}
    for e in missing:
        why = pending.get(e.labels)
        note = _timing(why) if why is not None else "no such alert is active"
        out.append(Change("missing", braced(e.labels), note=note))
    for g in unexpected:
        out.append(Change("unexpected", braced(g.labels), note=_timing(g)))
    return out


def _shared(a: Pairs, b: Pairs) -> Pairs:
    return tuple(p for p in a if p in set(b))


def sample_changes(exp: Sequence[SampleView], got: Sequence[SampleView]) -> list[Change]:
    """What differs between expected and got samples (the caller left out the ones that
    matched, so a pair whose values print alike is a NaN, which never matches)."""
    pairs, missing, unexpected = _match(list(exp), list(got))
    out: list[Change] = []
    for e, g in pairs:
        subject = braced(e.labels if e.labels == g.labels else _shared(e.labels, g.labels))
        out += _pair_changes("label", subject, e.labels, g.labels)
        if _value_text(e) != _value_text(g):
            out.append(Change("value", subject, "", _value_text(e), _value_text(g)))
        elif math.isnan(e.value):
            note = "NaN never equals NaN"
            out.append(Change("value", subject, "", "NaN", "NaN", note))
    out += [Change("missing", braced(e.labels), want=_value_text(e)) for e in missing]
    out += [Change("unexpected", braced(g.labels), got=_value_text(g)) for g in unexpected]
    return out


def _value_text(s: SampleView) -> str:
    return s.histogram or format_g(s.value)


# ---- rendering --------------------------------------------------------------------------------

_RED, _GREEN, _DIM, _BOLD, _RESET = "\x1b[31m", "\x1b[32m", "\x1b[2m", "\x1b[1m", "\x1b[0m"


def _mark(text: str, other: str, colour: str, enabled: bool) -> str:
    """``text`` with the part that differs from ``other`` in bold (colours on)."""
    if not enabled:
        return text
    p = 0
    while p < min(len(text), len(other)) and text[p] == other[p]:
        p += 1
    s = 0
    while s < min(len(text), len(other)) - p and text[-1 - s] == other[-1 - s]:
        s += 1
    mid_end = len(text) - s
    return f"{colour}{text[:p]}{_BOLD}{text[p:mid_end]}{_RESET}{colour}{text[mid_end:]}{_RESET}"


def render_changes(
    changes: Sequence[Change], *, color: bool, indent: str = "        "
) -> list[str]:
    """The diff as lines: ``-`` what was expected, ``+`` what was got."""
    red, green, dim, reset = (_RED, _GREEN, _DIM, _RESET) if color else ("", "", "", "")
    lines = [f"{indent}diff (-want +got):"]
    subject = None
    for c in changes:
        if c.kind in ("missing", "unexpected"):
            subject = None
            sign, col = ("-", red) if c.kind == "missing" else ("+", green)
            value = c.want if c.kind == "missing" else c.got
            text = f"{indent}  {sign} {c.kind} {c.subject}" + (f" {value}" if value else "")
            note = f"  {dim}({c.note}){reset}" if c.note else ""
            lines.append(f"{col}{text}{reset if color else ''}{note}")
            continue
        if c.subject != subject:
            subject = c.subject
            lines.append(f"{indent}  {subject}")
        label = f"{c.kind} {c.name}: " if c.name else f"{c.kind}: "
        if c.want is not None:
            lines.append(
                f"{indent}    {red}- {label}{reset}"
                + _mark(c.want, c.got or "", red, color and c.got is not None)
            )
        if c.got is not None:
            lines.append(
                f"{indent}    {green}+ {label}{reset}"
                + _mark(c.got, c.want or "", green, color and c.want is not None)
            )
        if c.note:
            lines.append(f"{indent}    {dim}({c.note}){reset}")
    return lines
