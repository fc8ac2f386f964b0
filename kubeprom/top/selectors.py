"""``-l/--selector`` and ``--field-selector``, parsed as Kubernetes does and turned into
PromQL label matchers.

Label selectors take apimachinery's syntax (``labels.Parse``): comma-separated requirements
``key``, ``!key``, ``key=value``, ``key==value``, ``key!=value``, ``key in (a,b)`` and
``key notin (a,b)``. In series, a Kubernetes label key becomes a Prometheus label name the
way kube-state-metrics (``label_`` prefix) and the ``labelmap`` relabelling of node labels
(no prefix) spell it: every character outside ``[a-zA-Z0-9_]`` becomes ``_``. Prometheus
cannot tell an empty label from a missing one, so ``key`` (exists) means "non-empty".

Field selectors take ``field=value``, ``field==value`` and ``field!=value`` for the pod
fields ``metadata.name``, ``metadata.namespace`` and ``spec.nodeName``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from kubeprom.model.gofmt import quote  # a PromQL string literal: Go's escapes
from kubeprom.top.errors import BadRequest, TopError

_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_KEY_RE = re.compile(rf"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?{_NAME}\Z")
_VALUE_RE = re.compile(rf"({_NAME})?\Z")
_REQUIREMENT_RE = re.compile(
    r"\s*(?P<not>!)?\s*(?P<key>[^\s=!,()]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[^\s,()=!]*)"
    r"|(?P<set>in|notin)\s*\((?P<values>[^()]*)\))?\s*(?:,|\Z)"
)
# Prometheus regex metacharacters (RE2 syntax), escaped in `in (...)` alternatives.
_REGEX_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")


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


class FieldName(StrEnum):
    NAME = "metadata.name"
    NAMESPACE = "metadata.namespace"
    NODE_NAME = "spec.nodeName"


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    field: FieldName
    value: str
    negate: bool = False


def _parse_error(detail: str) -> TopError:
    return TopError(f"unable to parse requirement: {detail}")


def _check_key(key: str) -> None:
    if _KEY_RE.match(key) is None:
        raise _parse_error(f"invalid label key {key!r}: must be a qualified name")


def _check_value(value: str) -> None:
    if len(value) > 63 or _VALUE_RE.match(value) is None:
        raise _parse_error(f"invalid label value: {value!r}: must be a valid label value")


def parse_label_selector(text: str) -> tuple[Requirement, ...]:
    """The requirements of a label selector; the empty selector selects everything.

    Raises :class:`TopError` ("unable to parse requirement: ...") for bad syntax, keys or
    values.
    """
    if not text.strip():
        return ()
    out: list[Requirement] = []
    pos = 0
    while pos < len(text):
        m = _REQUIREMENT_RE.match(text, pos)
        if m is None or m.end() == pos:
            raise _parse_error(f"cannot parse {text[pos:]!r}")
        key = m["key"]
        _check_key(key)
        if m["not"]:
            if m["op"] or m["set"]:
                raise _parse_error(f"'!{key}' takes no operator")
            out.append(Requirement(key, Op.DOES_NOT_EXIST))
        elif m["op"]:
            _check_value(m["value"])
            op = Op.NOT_EQUALS if m["op"] == "!=" else Op.EQUALS
            out.append(Requirement(key, op, (m["value"],)))
        elif m["set"]:
            values = tuple(v.strip() for v in m["values"].split(","))
            for v in values:
                _check_value(v)
            out.append(Requirement(key, Op.IN if m["set"] == "in" else Op.NOT_IN, values))
        else:
            out.append(Requirement(key, Op.EXISTS))
        pos = m.end()
        if text[pos - 1 : pos] == "," and pos == len(text):
            raise _parse_error("found '', expected: identifier after ','")
    return tuple(out)


def parse_field_selector(text: str) -> tuple[FieldRequirement, ...]:
    """The requirements of a pod field selector. Raises :class:`TopError` for bad syntax and
    :class:`BadRequest` (as the API server answers) for an unsupported field."""
    out: list[FieldRequirement] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.fullmatch(r"([^=!]+?)\s*(==|=|!=)\s*(.*)", part)
        if m is None:
            raise TopError(f"invalid selector: {part!r}; can't understand {part!r}")
        name, op, value = m.groups()
        try:
            field = FieldName(name)
        except ValueError:
            raise BadRequest(f"field label not supported: {name}") from None
        out.append(FieldRequirement(field, value, negate=op == "!="))
    return tuple(out)


def label_name(key: str, prefix: str = "") -> str:
    """The Prometheus label name of a Kubernetes label key (``app.kubernetes.io/name`` ->
    ``app_kubernetes_io_name``), after ``prefix`` (``label_`` for kube-state-metrics)."""
    return prefix + _UNSAFE.sub("_", key)


def regex_escape(value: str) -> str:
    return _REGEX_SPECIAL.sub(r"\\\1", value)


def label_matchers(requirements: tuple[Requirement, ...], prefix: str = "") -> list[str]:
    """PromQL matchers (``name="v"``) for label requirements."""
    out = []
    for r in requirements:
        name = label_name(r.key, prefix)
        match r.op:
            case Op.EQUALS:
                out.append(f"{name}={quote(r.values[0])}")
            case Op.NOT_EQUALS:
                out.append(f"{name}!={quote(r.values[0])}")
            case Op.IN:
                out.append(f"{name}=~{quote('|'.join(map(regex_escape, r.values)))}")
            case Op.NOT_IN:
                out.append(f"{name}!~{quote('|'.join(map(regex_escape, r.values)))}")
            case Op.EXISTS:
                out.append(f'{name}!=""')
            case Op.DOES_NOT_EXIST:
                out.append(f'{name}=""')
    return out


#: The series label each pod field is found in.
FIELD_LABELS = {
    FieldName.NAME: "pod",
    FieldName.NAMESPACE: "namespace",
    FieldName.NODE_NAME: "node",
}


def field_matchers(requirements: tuple[FieldRequirement, ...]) -> list[str]:
    """PromQL matchers for pod field requirements."""
    return [
        f"{FIELD_LABELS[r.field]}{'!=' if r.negate else '='}{quote(r.value)}" for r in requirements
    ]
