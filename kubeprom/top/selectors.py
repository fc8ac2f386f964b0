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

from kubeprom.errors import BadRequest, TopError
from kubeprom.model.gofmt import quote  # a PromQL string literal: Go's escapes
from kubeprom.model.selectors import Op, Requirement
from kubeprom.model.selectors import parse_label_selector as _parse_label_selector

_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")
# Prometheus regex metacharacters (RE2 syntax), escaped in `in (...)` alternatives.
_REGEX_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")


class FieldName(StrEnum):
    NAME = "metadata.name"
    NAMESPACE = "metadata.namespace"
    NODE_NAME = "spec.nodeName"


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    field: FieldName
    value: str
    negate: bool = False


def parse_label_selector(text: str) -> tuple[Requirement, ...]:
    """The requirements of a label selector; the empty selector selects everything.

    Raises :class:`TopError` ("unable to parse requirement: ...") for bad syntax, keys or
    values.
    """
    try:
        return _parse_label_selector(text)
    except ValueError as err:
        raise TopError(str(err)) from None


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
