"""kubectl's words for an HPA, computed from its API JSON (as kubectl decodes it).

:func:`targets` is the TARGETS column of ``kubectl get hpa`` (``formatHPAMetrics`` in
``pkg/printers/internalversion/printers.go``): ``cpu: 45%/50%``, ``<unknown>/50%``,
``10/20 (avg)``, at most two metrics then ``+ N more...``, ``<none>`` without metrics.
:func:`describe_metrics` is the ``Metrics: ( current / target )`` block of ``kubectl
describe hpa`` (``describeHorizontalPodAutoscalerV2`` in kubectl's ``describe.go``), as
(left, right) cells of the tab-separated lines. Both read ``spec.metrics`` and
``status.currentMetrics`` by position, as kubectl does.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]
UNKNOWN = "<unknown>"
_MAX_TARGETS = 2


def _status(statuses: list[Any], i: int, field: str) -> JSON | None:
    if i < len(statuses) and isinstance(statuses[i], dict):
        found = statuses[i].get(field)
        return found if isinstance(found, dict) else None
    return None


def _current(status: JSON | None, key: str) -> str | None:
    if status is None:
        return None
    current = status.get("current") or {}
    value = current.get(key)
    return None if value is None else str(value)


def _target(spec: JSON, key: str) -> str:
    value = (spec.get("target") or {}).get(key)
    return "" if value is None else str(value)


def _utilization(spec: JSON, status: JSON | None, name: str) -> str:
    current = UNKNOWN
    util = None if status is None else (status.get("current") or {}).get("averageUtilization")
    if util is not None:
        current = f"{util}%"
    target_util = (spec.get("target") or {}).get("averageUtilization")
    target = "<auto>" if target_util is None else f"{target_util}%"
    return f"{name}: {current}/{target}"


def targets(obj: JSON) -> str:
    """The TARGETS cell of ``kubectl get hpa`` for an HPA object."""
    specs = (obj.get("spec") or {}).get("metrics") or []
    statuses = (obj.get("status") or {}).get("currentMetrics") or []
    if not specs:
        return "<none>"
    out: list[str] = []
    for i, m in enumerate(specs):
        kind = m.get("type")
        if kind == "External":
            spec, status = m.get("external") or {}, _status(statuses, i, "external")
            if _target(spec, "averageValue"):
                current = _current(status, "averageValue") or UNKNOWN
                out.append(f"{current}/{_target(spec, 'averageValue')} (avg)")
            else:
                current = (_current(status, "value") or "0") if status else UNKNOWN
                out.append(f"{current}/{_target(spec, 'value') or '0'}")
        elif kind == "Pods":
            spec, status = m.get("pods") or {}, _status(statuses, i, "pods")
            current = (_current(status, "averageValue") or "0") if status else UNKNOWN
            out.append(f"{current}/{_target(spec, 'averageValue') or '0'}")
        elif kind == "Object":
            spec, status = m.get("object") or {}, _status(statuses, i, "object")
            if _target(spec, "averageValue"):
                current = _current(status, "averageValue") or UNKNOWN
                out.append(f"{current}/{_target(spec, 'averageValue')} (avg)")
            else:
                current = (_current(status, "value") or "0") if status else UNKNOWN
                out.append(f"{current}/{_target(spec, 'value') or '0'}")
        elif kind in ("Resource", "ContainerResource"):
            field = "resource" if kind == "Resource" else "containerResource"
            spec, status = m.get(field) or {}, _status(statuses, i, field)
            name = str(spec.get("name", ""))
            if _target(spec, "averageValue"):
                current = (_current(status, "averageValue") or "0") if status else UNKNOWN
                out.append(f"{name}: {current}/{_target(spec, 'averageValue')}")
            else:
                out.append(_utilization(spec, status, name))
        else:
            out.append("<unknown type>")
    if len(out) > _MAX_TARGETS:
        return f"{', '.join(out[:_MAX_TARGETS])} + {len(out) - _MAX_TARGETS} more..."
    return ", ".join(out)


def describe_metrics(obj: JSON) -> list[tuple[int, str, str]]:
    """The lines under ``Metrics:`` as (indent level, text before the tab, after it); an
    unknown metric type has nothing after its text (and no tab)."""
    specs = (obj.get("spec") or {}).get("metrics") or []
    statuses = (obj.get("status") or {}).get("currentMetrics") or []
    out: list[tuple[int, str, str]] = []
    for i, m in enumerate(specs):
        kind = m.get("type")
        if kind == "External":
            spec, status = m.get("external") or {}, _status(statuses, i, "external")
            name = _go_quote(str((spec.get("metric") or {}).get("name", "")))
            if _target(spec, "averageValue"):
                current = _current(status, "averageValue") or UNKNOWN
                target = _target(spec, "averageValue")
                out.append((1, f"{name} (target average value):", f"{current} / {target}"))
            else:
                current = (_current(status, "value") or "0") if status else UNKNOWN
                target = _target(spec, "value") or "0"
                out.append((1, f"{name} (target value):", f"{current} / {target}"))
        elif kind == "Pods":
            spec, status = m.get("pods") or {}, _status(statuses, i, "pods")
            name = _go_quote(str((spec.get("metric") or {}).get("name", "")))
            current = (_current(status, "averageValue") or "0") if status else UNKNOWN
            target = _target(spec, "averageValue") or "0"
            out.append((1, f"{name} on pods:", f"{current} / {target}"))
        elif kind == "Object":
            spec, status = m.get("object") or {}, _status(statuses, i, "object")
            metric = str((spec.get("metric") or {}).get("name", ""))
            described = spec.get("describedObject") or {}
            head = f'"{metric}" on {described.get("kind", "")}/{described.get("name", "")} '
            if (spec.get("target") or {}).get("type") == "AverageValue":
                current = (_current(status, "averageValue") or "0") if status else UNKNOWN
                target = _target(spec, "averageValue") or "0"
                out.append((1, f"{head}(target average value):", f"{current} / {target}"))
            else:
                current = (_current(status, "value") or "0") if status else UNKNOWN
                target = _target(spec, "value") or "0"
                out.append((1, f"{head}(target value):", f"{current} / {target}"))
        elif kind in ("Resource", "ContainerResource"):
            field = "resource" if kind == "Resource" else "containerResource"
            spec, status = m.get(field) or {}, _status(statuses, i, field)
            head = f"resource {spec.get('name', '')} "
            if kind == "ContainerResource":
                head += f'of container "{spec.get("container", "")}" '
            head += "on pods"
            if _target(spec, "averageValue"):
                current = (_current(status, "averageValue") or "0") if status else UNKNOWN
                out.append((1, f"{head}:", f"{current} / {_target(spec, 'averageValue')}"))
            else:
                current = UNKNOWN
                cur = (status or {}).get("current") or {}
                if status is not None and cur.get("averageUtilization") is not None:
                    average = cur.get("averageValue") or "0"
                    current = f"{cur['averageUtilization']}% ({average})"
                util = (spec.get("target") or {}).get("averageUtilization")
                target = "<auto>" if util is None else f"{util}%"
                # kubectl writes the head and then, on the same line, a second write at
                # level 1 (its prefix writer indents every write): two spaces between.
                text = f"{head}  (as a percentage of request):"
                out.append((1, text, f"{current} / {target}"))
        else:
            out.append((1, f"<unknown metric type {_go_quote(str(kind))}>", ""))
    return out


def _go_quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
