"""HorizontalPodAutoscaler validation, as the API server validates a new object.

Follows ``pkg/apis/autoscaling/validation/validation.go`` (``ValidateHorizontalPodAutoscaler``)
on the defaulted object, error for error and in the same order, each rendered as
``field.Error`` renders: ``spec.maxReplicas: Invalid value: 0: must be greater than 0``,
``spec.metrics[0].type: Unsupported value: "Foo": supported values: "ContainerResource", ...``.
One deliberate difference: an invalid quantity is shown as its text (``Invalid value: "-1"``)
where the API server prints Go's ``%#v`` dump of the ``resource.Quantity`` struct.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from kubeprom.config.hpa_spec import (
    CrossVersionObjectReference,
    FeatureGates,
    HorizontalPodAutoscaler,
    HPABehavior,
    HPAScalingPolicy,
    HPAScalingRules,
    LoadedHPA,
    MetricIdentifier,
    MetricSourceType,
    MetricSpec,
    MetricTarget,
    MetricTargetType,
    ScalingPolicyType,
    SelectPolicy,
    apply_defaults,
    drop_disabled_fields,
)
from kubeprom.errors import ConfigError
from kubeprom.model.gofmt import quote
from kubeprom.model.quantity import Quantity

MAX_PERIOD_SECONDS = 1800
MAX_STABILIZATION_WINDOW_SECONDS = 3600

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_DNS1123_SUBDOMAIN = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z"
)
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_STANDARD_CONTAINER_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})
_METRIC_TYPES = sorted(str(t) for t in MetricSourceType)
_SELECT_POLICIES = sorted(str(p) for p in SelectPolicy)
_POLICY_TYPES = sorted(str(t) for t in ScalingPolicyType)
_SOURCE_FIELDS: dict[str, str] = {
    MetricSourceType.OBJECT: "object",
    MetricSourceType.PODS: "pods",
    MetricSourceType.RESOURCE: "resource",
    MetricSourceType.EXTERNAL: "external",
    MetricSourceType.CONTAINER_RESOURCE: "containerResource",
}


class ErrorType(StrEnum):
    """``field.ErrorType`` as it prints."""

    INVALID = "Invalid value"
    REQUIRED = "Required value"
    FORBIDDEN = "Forbidden"
    NOT_SUPPORTED = "Unsupported value"
    TOO_LONG = "Too long"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One ``field.Error``: ``value`` is already rendered (``0``, ``"x"``), or None."""

    path: str
    type: ErrorType
    detail: str = ""
    value: str | None = None

    def body(self) -> str:
        """``ErrorBody()``: the error without its field path."""
        text = str(self.type)
        if self.value is not None and self.type in (ErrorType.INVALID, ErrorType.NOT_SUPPORTED):
            text = f"{text}: {self.value}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.path}: {self.body()}"


def _invalid(path: str, value: int | str | Quantity | None, detail: str) -> FieldError:
    return FieldError(path, ErrorType.INVALID, detail, _render(value))


def _render(value: int | str | Quantity | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    return quote(str(value))


def _not_supported(path: str, value: str, supported: list[str]) -> FieldError:
    detail = "supported values: " + ", ".join(quote(v) for v in supported)
    return FieldError(path, ErrorType.NOT_SUPPORTED, detail, quote(value))


def _required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, ErrorType.REQUIRED, detail)


def _forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, ErrorType.FORBIDDEN, detail)


def _path_segment_errors(path: str, name: str) -> list[FieldError]:
    """``IsValidPathSegmentName``."""
    if name in (".", ".."):
        return [_invalid(path, name, f"may not be '{name}'")]
    return [_invalid(path, name, f"may not contain '{c}'") for c in ("/", "%") if c in name]


def _dns1123_label(path: str, value: str) -> list[FieldError]:
    errs = []
    if len(value) > 63:
        errs.append(_invalid(path, value, "must be no more than 63 characters"))
    if _DNS1123_LABEL.match(value) is None:
        errs.append(_invalid(path, value, _LABEL_MSG))
    return errs


def _dns1123_subdomain(path: str, value: str) -> list[FieldError]:
    errs = []
    if len(value) > 253:
        errs.append(_invalid(path, value, "must be no more than 253 characters"))
    if _DNS1123_SUBDOMAIN.match(value) is None:
        errs.append(_invalid(path, value, _SUBDOMAIN_MSG))
    return errs


def validate(hpa: HorizontalPodAutoscaler, gates: FeatureGates | None = None) -> list[FieldError]:
    """Every validation error of a defaulted HPA, in the API server's order."""
    gates = gates or FeatureGates()
    errs: list[FieldError] = []
    if not hpa.name:
        errs.append(_required("metadata.name", "name or generateName is required"))
    else:
        errs += _dns1123_subdomain("metadata.name", hpa.name)
    if not hpa.namespace:
        errs.append(_required("metadata.namespace"))
    else:
        errs += _dns1123_label("metadata.namespace", hpa.namespace)
    spec = hpa.spec
    lower = 0 if gates.hpa_scale_to_zero else 1
    if spec.min_replicas is not None and spec.min_replicas < lower:
        detail = f"must be greater than or equal to {lower}"
        errs.append(_invalid("spec.minReplicas", spec.min_replicas, detail))
    if spec.max_replicas < 1:
        errs.append(_invalid("spec.maxReplicas", spec.max_replicas, "must be greater than 0"))
    if spec.min_replicas is not None and spec.max_replicas < spec.min_replicas:
        detail = "must be greater than or equal to `minReplicas`"
        errs.append(_invalid("spec.maxReplicas", spec.max_replicas, detail))
    errs += _reference(spec.scale_target_ref, "spec.scaleTargetRef")
    errs += _metrics(spec.metrics, "spec.metrics", spec.min_replicas)
    errs += _behavior(spec.behavior, "spec.behavior")
    return errs


def _reference(ref: CrossVersionObjectReference, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for key, value in (("kind", ref.kind), ("name", ref.name)):
        if not value:
            errs.append(_required(f"{path}.{key}"))
        else:
            errs += _path_segment_errors(f"{path}.{key}", value)
    return errs


def _metrics(
    metrics: tuple[MetricSpec, ...], path: str, min_replicas: int | None
) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, spec in enumerate(metrics):
        errs += _metric(spec, f"{path}[{i}]")
    zero_capable = {MetricSourceType.OBJECT, MetricSourceType.EXTERNAL}
    if min_replicas == 0 and not any(m.type in zero_capable for m in metrics):
        detail = (
            "must specify at least one Object or External metric to support scaling to zero "
            "replicas"
        )
        errs.append(_forbidden(path, detail))
    return errs


def _metric(spec: MetricSpec, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not spec.type:
        errs.append(_required(f"{path}.type", "must specify a metric source type"))
    if spec.type not in _METRIC_TYPES:
        errs.append(_not_supported(f"{path}.type", spec.type, _METRIC_TYPES))
    present = []
    # The API server validates only the first source present, in this order.
    if spec.object is not None:
        present.append("object")
        if len(present) == 1:
            o = spec.object
            errs += _reference(o.described_object, f"{path}.object.describedObject")
            errs += _identifier(o.metric, f"{path}.object.metric")
            errs += _target(o.target, f"{path}.object.target")
            if o.target.value is None and o.target.average_value is None:
                detail = "must set either a target value or averageValue"
                errs.append(_required(f"{path}.object.target.averageValue", detail))
    if spec.external is not None:
        present.append("external")
        if len(present) == 1:
            e = spec.external
            errs += _identifier(e.metric, f"{path}.external.metric")
            errs += _target(e.target, f"{path}.external.target")
            if e.target.value is None and e.target.average_value is None:
                detail = "must set either a target value for metric or a per-pod target"
                errs.append(_required(f"{path}.external.target.averageValue", detail))
            if e.target.value is not None and e.target.average_value is not None:
                detail = "may not set both a target value for metric and a per-pod target"
                errs.append(_forbidden(f"{path}.external.target.value", detail))
    if spec.pods is not None:
        present.append("pods")
        if len(present) == 1:
            p = spec.pods
            errs += _identifier(p.metric, f"{path}.pods.metric")
            errs += _target(p.target, f"{path}.pods.target")
            if p.target.average_value is None:
                detail = "must specify a positive target averageValue"
                errs.append(_required(f"{path}.pods.target.averageValue", detail))
    if spec.resource is not None:
        present.append("resource")
        if len(present) == 1:
            r = spec.resource
            if not r.name:
                errs.append(_required(f"{path}.resource.name", "must specify a resource name"))
            errs += _target(r.target, f"{path}.resource.target")
            errs += _raw_or_utilization(r.target, f"{path}.resource.target")
    if spec.container_resource is not None:
        present.append("containerResource")
        if len(present) == 1:
            c = spec.container_resource
            where = f"{path}.containerResource"
            if not c.name:
                errs.append(_required(f"{where}.name", "must specify a resource name"))
            else:
                errs += _container_resource_name(c.name, f"{where}.name")
            if not c.container:
                errs.append(_required(f"{where}.container", "must specify a container"))
            else:
                errs += _dns1123_label(f"{where}.container", c.container)
            errs += _target(c.target, f"{where}.target")
            errs += _raw_or_utilization(c.target, f"{where}.target")
    expected = _SOURCE_FIELDS.get(spec.type)
    if expected is None:
        errs.append(_not_supported(f"{path}.type", spec.type, _METRIC_TYPES))
    elif expected not in present:
        detail = "must populate information for the given metric source"
        errs.append(_required(f"{path}.{expected}", detail))
    if len(present) != 1:
        for name in sorted(set(present) - {expected}):
            errs.append(_forbidden(f"{path}.{name}", "must populate the given metric source only"))
    return errs


def _raw_or_utilization(target: MetricTarget, path: str) -> list[FieldError]:
    if target.average_utilization is None and target.average_value is None:
        detail = "must set either a target raw value or a target utilization"
        return [_required(f"{path}.averageUtilization", detail)]
    if target.average_utilization is not None and target.average_value is not None:
        detail = "may not set both a target raw value and a target utilization"
        return [_forbidden(f"{path}.averageValue", detail)]
    return []


def _container_resource_name(name: str, path: str) -> list[FieldError]:
    """``ValidateContainerResourceName`` for the names a container can request."""
    if "/" not in name:
        if _QUALIFIED_NAME.match(name) is None:
            return [_invalid(path, name, "must be a standard resource for containers")]
        if name not in _STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
            return [_invalid(path, name, "must be a standard resource for containers")]
    return []


def _target(target: MetricTarget, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not target.type:
        errs.append(_required(f"{path}.type", "must specify a metric target type"))
    if target.type not in tuple(MetricTargetType):
        detail = "must be either Utilization, Value, or AverageValue"
        errs.append(_invalid(f"{path}.type", target.type, detail))
    if target.value is not None and target.value.sign() != 1:
        errs.append(_invalid(f"{path}.value", target.value, "must be positive"))
    if target.average_value is not None and target.average_value.sign() != 1:
        errs.append(_invalid(f"{path}.averageValue", target.average_value, "must be positive"))
    if target.average_utilization is not None and target.average_utilization < 1:
        detail = "must be greater than 0"
        errs.append(_invalid(f"{path}.averageUtilization", target.average_utilization, detail))
    return errs


def _identifier(metric: MetricIdentifier, path: str) -> list[FieldError]:
    if not metric.name:
        return [_required(f"{path}.name", "must specify a metric name")]
    return _path_segment_errors(f"{path}.name", metric.name)


def _behavior(behavior: HPABehavior | None, path: str) -> list[FieldError]:
    if behavior is None:
        return []
    return _rules(behavior.scale_up, f"{path}.scaleUp") + _rules(
        behavior.scale_down, f"{path}.scaleDown"
    )


def _rules(rules: HPAScalingRules | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if rules is None:
        return errs
    window = rules.stabilization_window_seconds
    if window is not None and window < 0:
        detail = "must be greater than or equal to zero"
        errs.append(_invalid(f"{path}.stabilizationWindowSeconds", window, detail))
    if window is not None and window > MAX_STABILIZATION_WINDOW_SECONDS:
        detail = f"must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}"
        errs.append(_invalid(f"{path}.stabilizationWindowSeconds", window, detail))
    if rules.select_policy is not None and rules.select_policy not in _SELECT_POLICIES:
        errs.append(_not_supported(f"{path}.selectPolicy", rules.select_policy, _SELECT_POLICIES))
    if not rules.policies:
        errs.append(_required(f"{path}.policies", "must specify at least one Policy"))
    for i, policy in enumerate(rules.policies or ()):
        errs += _policy(policy, f"{path}.policies[{i}]")
    if rules.tolerance is not None and rules.tolerance.sign() < 0:
        detail = "must be greater than or equal to 0"
        errs.append(_invalid(f"{path}.tolerance", rules.tolerance, detail))
    return errs


def _policy(policy: HPAScalingPolicy, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if policy.type not in _POLICY_TYPES:
        errs.append(_not_supported(f"{path}.type", policy.type, _POLICY_TYPES))
    if policy.value <= 0:
        errs.append(_invalid(f"{path}.value", policy.value, "must be greater than zero"))
    if policy.period_seconds <= 0:
        detail = "must be greater than zero"
        errs.append(_invalid(f"{path}.periodSeconds", policy.period_seconds, detail))
    if policy.period_seconds > MAX_PERIOD_SECONDS:
        detail = f"must be less than or equal to {MAX_PERIOD_SECONDS}"
        errs.append(_invalid(f"{path}.periodSeconds", policy.period_seconds, detail))
    return errs


def check(loaded: LoadedHPA, gates: FeatureGates) -> LoadedHPA:
    """Default, drop disabled fields and validate one HPA read from a file; the first error
    is raised as a :class:`ConfigError` at the position of its field."""
    hpa = drop_disabled_fields(apply_defaults(loaded.hpa), gates)
    errs = validate(hpa, gates)
    if errs:
        first = errs[0]
        pos = loaded.position_of(first.path)
        more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
        raise ConfigError(
            first.body() + more,
            file=loaded.source,
            line=pos.line if pos else None,
            col=pos.col if pos else None,
            field=first.path,
        )
    return LoadedHPA(hpa, loaded.source, loaded.positions)
