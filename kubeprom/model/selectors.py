"""Kubernetes label selectors: the string syntax of ``labels.Parse`` and matching.

Requirements are comma-separated: ``key``, ``!key``, ``key=value``, ``key==value``,
``key!=value``, ``key in (a,b)`` and ``key notin (a,b)``. Keys must be qualified names and
values valid label values, as apimachinery checks them. The empty selector selects
everything. Errors are ValueErrors worded ``unable to parse requirement: ...``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_KEY_RE = re.compile(rf"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?{_NAME}\Z")
_VALUE_RE = re.compile(rf"({_NAME})?\Z")
_REQUIREMENT_RE = re.compile(
    r"\s*(?P<not>!)?\s*(?P<key>[^\s=!,()]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[^\s,()=!]*)"
    r"|(?P<set>in|notin)\s*\((?P<values>[^()]*)\))?\s*(?:,|\Z)"
)


class Op(StrEnum):
    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    op: Op
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a set of labels satisfies this requirement (``labels.Requirement.Matches``)."""
        present = self.key in labels
        match self.op:
            case Op.EQUALS | Op.IN:
                return present and labels[self.key] in self.values
            case Op.NOT_EQUALS | Op.NOT_IN:
                return not present or labels[self.key] not in self.values
            case Op.EXISTS:
                return present
            case Op.DOES_NOT_EXIST:
                return not present


def _parse_error(detail: str) -> ValueError:
    return ValueError(f"unable to parse requirement: {detail}")


def check_key(key: str) -> None:
    """Raise ValueError unless ``key`` is a qualified label key."""
    if _KEY_RE.match(key) is None:
        raise _parse_error(f"invalid label key {key!r}: must be a qualified name")


def check_value(value: str) -> None:
    """Raise ValueError unless ``value`` is a valid label value."""
    if len(value) > 63 or _VALUE_RE.match(value) is None:
        raise _parse_error(f"invalid label value: {value!r}: must be a valid label value")


def parse_label_selector(text: str) -> tuple[Requirement, ...]:
    """The requirements of a label selector string; raises ValueError for bad syntax, keys or
    values."""
    if not text.strip():
        return ()
    out: list[Requirement] = []
    pos = 0
    while pos < len(text):
        m = _REQUIREMENT_RE.match(text, pos)
        if m is None or m.end() == pos:
            raise _parse_error(f"cannot parse {text[pos:]!r}")
        key = m["key"]
        check_key(key)
        if m["not"]:
            if m["op"] or m["set"]:
                raise _parse_error(f"'!{key}' takes no operator")
            out.append(Requirement(key, Op.DOES_NOT_EXIST))
        elif m["op"]:
            check_value(m["value"])
            op = Op.NOT_EQUALS if m["op"] == "!=" else Op.EQUALS
            out.append(Requirement(key, op, (m["value"],)))
        elif m["set"]:
            values = tuple(v.strip() for v in m["values"].split(","))
            for v in values:
                check_value(v)
            out.append(Requirement(key, Op.IN if m["set"] == "in" else Op.NOT_IN, values))
        else:
            out.append(Requirement(key, Op.EXISTS))
        pos = m.end()
        if text[pos - 1 : pos] == "," and pos == len(text):
            raise _parse_error("found '', expected: identifier after ','")
    return tuple(out)


def matches(requirements: tuple[Requirement, ...], labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfies every requirement (the empty selector matches all)."""
    return all(r.matches(labels) for r in requirements)


def format_selector(requirements: tuple[Requirement, ...]) -> str:
    """``labels.Selector.String()``: requirements sorted by key (stable), comma-joined, set
    values sorted (``app=web,tier in (a,b),!canary``); the empty selector is ``""``."""
    parts = []
    for r in sorted(requirements, key=lambda r: r.key):
        match r.op:
            case Op.EQUALS | Op.NOT_EQUALS:
                parts.append(f"{r.key}{r.op.value}{r.values[0]}")
            case Op.IN | Op.NOT_IN:
                parts.append(f"{r.key} {r.op.value} ({','.join(sorted(r.values))})")
            case Op.EXISTS:
                parts.append(r.key)
            case Op.DOES_NOT_EXIST:
                parts.append(f"!{r.key}")
    return ",".join(parts)
