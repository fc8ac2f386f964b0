"""kubectl's printers for HorizontalPodAutoscalers, over the API's JSON objects.

* :class:`Table` is ``kubectl get hpa``: NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE
  (NAMESPACE first with ``-A``), laid out by Go's tabwriter as kubectl configures it
  (minimum width 6, padding 3, the last column unpadded, widths remembered between
  flushes for ``--watch``);
* :func:`describe_hpa` is ``kubectl describe hpa`` (``describeHorizontalPodAutoscalerV2``:
  tabwriter with padding 2, the events table flushed apart);
* :func:`human_duration` is apimachinery's ``duration.HumanDuration`` (ages: ``45s``,
  ``5m2s``, ``3h10m``, ``4d``);
* :func:`to_yaml` / :func:`to_json` are ``-o yaml`` / ``-o json`` (keys sorted, as kubectl
  prints the decoded object; JSON indented by 4 with HTML characters escaped as Go does).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from typing import Any

import yaml

from kubeprom.hpa.printing import describe_metrics, targets
from kubeprom.model.timeutil import parse_rfc3339_ms
from kubeprom.top.tabwriter import tabwrite

JSON = dict[str, Any]
HEADERS = ("NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE")
_MIN_WIDTH = 6
_PADDING = 3


def human_duration(ms: int) -> str:
    """``duration.HumanDuration``: about 2-3 significant figures of a duration."""
    seconds = int(ms / 1000)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = ms // 60_000
    if minutes < 10:
        s = (ms // 1000) % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = ms // 3_600_000
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def since(timestamp: str | None, now_ms: int) -> str:
    """``translateTimestampSince``: ``<unknown>`` for no time."""
    if not timestamp:
        return "<unknown>"
    return human_duration(now_ms - parse_rfc3339_ms(timestamp))


def hpa_row(obj: JSON, now_ms: int, *, with_namespace: bool = False) -> list[str]:
    """``printHorizontalPodAutoscaler``'s cells for one HPA."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    min_pods = spec.get("minReplicas")
    row = [
        str(meta.get("name", "")),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        targets(obj),
        "<unset>" if min_pods is None else str(min_pods),
        str(spec.get("maxReplicas", 0)),
        str(status.get("currentReplicas", 0)),
        since(meta.get("creationTimestamp"), now_ms),
    ]
    return [str(meta.get("namespace", "")), *row] if with_namespace else row


class Table:
    """A table printed in flushes with remembered column widths (kubectl's tabwriter with
    ``RememberWidths``): widths only grow from one flush to the next."""

    def __init__(self, *, min_width: int = _MIN_WIDTH, padding: int = _PADDING) -> None:
        self.min_width = min_width
        self.padding = padding
        self.widths: list[int] = []

    def flush(self, rows: Sequence[Sequence[str]]) -> str:
        """The rows as text, each line ending with a newline."""
        for row in rows:
            for j, cell in enumerate(row[:-1]):
                width = max(self.min_width, len(cell) + self.padding)
                if j == len(self.widths):
                    self.widths.append(width)
                else:
                    self.widths[j] = max(self.widths[j], width)
        out = []
        for row in rows:
            cells = [cell.ljust(self.widths[j]) for j, cell in enumerate(row[:-1])]
            out.append("".join(cells) + (row[-1] if row else "") + "\n")
        return "".join(out)


def headers(*, with_namespace: bool) -> list[str]:
    return ["NAMESPACE", *HEADERS] if with_namespace else list(HEADERS)


# ---- describe -------------------------------------------------------------------------------
def _rfc1123z(timestamp: str) -> str:
    """``time.RFC1123Z`` in the local time zone, as kubectl shows creation times."""
    t = datetime.datetime.fromtimestamp(parse_rfc3339_ms(timestamp) / 1000).astimezone()
    return t.strftime("%a, %d %b %Y %H:%M:%S %z")


def _multiline(title: str, items: dict[str, str], sep: str) -> list[str]:
    """``printLabelsMultiline`` (``key=value``) / ``printAnnotationsMultiline``
    (``key: value``)."""
    if not items:
        return [f"{title}:\t<none>"]
    out = []
    for i, key in enumerate(sorted(items)):
        head = f"{title}:\t" if i == 0 else "\t"
        out.append(f"{head}{key}{sep}{items[key]}")
    return out


def _behavior(direction: str, rules: JSON | None) -> list[str]:
    if rules is None:
        return []
    out = [f"  {direction}:"]
    if rules.get("stabilizationWindowSeconds") is not None:
        out.append(f"    Stabilization Window: {rules['stabilizationWindowSeconds']} seconds")
    policies = rules.get("policies") or []
    if policies:
        out.append(f"    Select Policy: {rules.get('selectPolicy') or 'Max'}")
        out.append("    Policies:")
        out += [
            f"      - Type: {p.get('type')}\tValue: {p.get('value')}\t"
            f"Period: {p.get('periodSeconds')} seconds"
            for p in policies
        ]
    return out


def describe_hpa(obj: JSON, events: list[JSON] | None, now_ms: int) -> str:
    """``kubectl describe hpa`` of an HPA object and its events (None: ``--show-events=false``)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    lines = [f"Name:\t{meta.get('name', '')}", f"Namespace:\t{meta.get('namespace', '')}"]
    lines += _multiline("Labels", meta.get("labels") or {}, "=")
    lines += _multiline("Annotations", meta.get("annotations") or {}, ": ")
    lines.append(f"CreationTimestamp:\t{_rfc1123z(meta.get('creationTimestamp', ''))}")
    lines.append(f"Reference:\t{ref.get('kind', '')}/{ref.get('name', '')}")
    lines.append("Metrics:\t( current / target )")
    for level, text, value in describe_metrics(obj):
        indent = "  " * level
        lines.append(f"{indent}{text}\t{value}" if value else f"{indent}{text}")
    min_pods = spec.get("minReplicas")
    lines.append(f"Min replicas:\t{'<unset>' if min_pods is None else min_pods}")
    lines.append(f"Max replicas:\t{spec.get('maxReplicas', 0)}")
    behavior = spec.get("behavior")
    if behavior is not None:
        lines.append("Behavior:")
        lines += _behavior("Scale Up", behavior.get("scaleUp"))
        lines += _behavior("Scale Down", behavior.get("scaleDown"))
    current, desired = status.get("currentReplicas", 0), status.get("desiredReplicas", 0)
    lines.append(f"{ref.get('kind', '')} pods:\t{current} current / {desired} desired")
    conditions = status.get("conditions") or []
    if conditions:
        lines += [
            "Conditions:",
            "  Type\tStatus\tReason\tMessage",
            "  ----\t------\t------\t-------",
        ]
        lines += [
            f"  {c.get('type')}\t{c.get('status')}\t{c.get('reason')}\t{c.get('message')}"
            for c in conditions
        ]
    events_part = ""
    if events is not None:
        if not events:
            lines.append("Events:\t<none>")
        else:
            events_part = _events(events, now_ms)
    return _describe_flush(lines) + events_part


def _describe_flush(lines: list[str]) -> str:
    return tabwrite("\n".join(lines) + "\n", min_width=0, padding=2)


def _events(events: list[JSON], now_ms: int) -> str:
    """``DescribeEvents``: sorted by last time, ``(xN over T)`` for repeated ones."""
    ordered = sorted(
        events, key=lambda e: parse_rfc3339_ms(e.get("lastTimestamp") or "1970-01-01T00:00:00Z")
    )
    lines = ["Events:", "  Type\tReason\tAge\tFrom\tMessage", "  ----\t------\t----\t----\t-------"]
    for e in ordered:
        first = since(e.get("firstTimestamp"), now_ms)
        count = int(e.get("count") or 0)
        age = (
            f"{since(e.get('lastTimestamp'), now_ms)} (x{count} over {first})"
            if count > 1
            else first
        )
        source = (e.get("source") or {}).get("component") or e.get("reportingComponent", "")
        message = str(e.get("message", "")).strip()
        lines.append(f"  {e.get('type')}\t{e.get('reason')}\t{age}\t{source}\t{message}")
    return _describe_flush(lines)


# ---- -o yaml / json ------------------------------------------------------------------------
class _GoYAMLDumper(yaml.SafeDumper):
    """go-yaml's choice of quotes: a string that would read back as another type
    (``"True"``, ``"2027-01-15T08:00:00Z"``, ``"3"``) is double-quoted; one that only cannot
    be plain (``a: b``) is single-quoted; block style, keys sorted."""

    def choose_scalar_style(self) -> str:
        event = self.event
        str_tag = "tag:yaml.org,2002:str"
        if (
            isinstance(event, yaml.ScalarEvent)
            and event.tag == str_tag
            and _RESOLVER.resolve(yaml.ScalarNode, event.value, (True, False)) != str_tag  # type: ignore[no-untyped-call]
        ):
            return '"'
        style: str = super().choose_scalar_style()
        return style


_RESOLVER = yaml.resolver.Resolver()


def to_yaml(obj: Any) -> str:
    out: str = yaml.dump(
        obj, Dumper=_GoYAMLDumper, sort_keys=True, default_flow_style=False, allow_unicode=True
    )
    return out


def to_json(obj: Any) -> str:
    text = json.dumps(obj, indent=4, sort_keys=True, ensure_ascii=False)
    for char, code in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, code)
    return text + "\n"


def as_list(items: list[JSON]) -> JSON:
    """What kubectl prints for several objects: a ``v1`` List."""
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}
