"""The types of a HorizontalPodAutoscaler (``k8s.io/api/autoscaling/v2``) and the API
server's defaults for them.

Quantities stay :class:`Quantity` values (the controller takes their ``MilliValue``); a metric
``type`` or target ``type`` is kept as written, so the controller can report an unknown one as
Kubernetes does. Loading manifests is :mod:`kubeprom.config.hpa`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from kubeprom.model.quantity import Quantity
from kubeprom.model.selectors import Op, Requirement, check_key, check_value

DEFAULT_CPU_UTILIZATION = 80  # autoscaling.DefaultCPUUtilization
DEFAULT_NAMESPACE = "default"


class MetricSourceType(StrEnum):
    OBJECT = "Object"
    PODS = "Pods"
    RESOURCE = "Resource"
    CONTAINER_RESOURCE = "ContainerResource"
    EXTERNAL = "External"


class MetricTargetType(StrEnum):
    UTILIZATION = "Utilization"
    VALUE = "Value"
    AVERAGE_VALUE = "AverageValue"


class ScalingPolicyType(StrEnum):
    PODS = "Pods"
    PERCENT = "Percent"


class SelectPolicy(StrEnum):
    MAX = "Max"
    MIN = "Min"
    DISABLED = "Disabled"


@dataclass(frozen=True, slots=True)
class LabelSelectorRequirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """``metav1.LabelSelector``; ``match_labels`` sorted by key."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()

    def requirements(self) -> tuple[Requirement, ...]:
        """``metav1.LabelSelectorAsSelector``: the requirements this selector states.

        Raises ValueError for an unknown operator, a bad key or value, a set operator
        without values or an existence operator with values.
        """
        out = []
        for key, value in self.match_labels:
            check_key(key)
            check_value(value)
            out.append(Requirement(key, Op.EQUALS, (value,)))
        for expr in self.match_expressions:
            op = _OPERATORS.get(expr.operator)
            if op is None:
                raise ValueError(f'"{expr.operator}" is not a valid label selector operator')
            check_key(expr.key)
            if op in (Op.IN, Op.NOT_IN) and not expr.values:
                raise ValueError("for 'in', 'notin' operators, values set can't be empty")
            if op in (Op.EXISTS, Op.DOES_NOT_EXIST) and expr.values:
                raise ValueError("values set must be empty for exists and does not exist")
            for v in expr.values:
                check_value(v)
            out.append(Requirement(expr.key, op, tuple(expr.values)))
        return tuple(out)


_OPERATORS = {
    "In": Op.IN,
    "NotIn": Op.NOT_IN,
    "Exists": Op.EXISTS,
    "DoesNotExist": Op.DOES_NOT_EXIST,
}


@dataclass(frozen=True, slots=True)
class CrossVersionObjectReference:
    kind: str
    name: str
    api_version: str = ""


@dataclass(frozen=True, slots=True)
class MetricIdentifier:
    name: str
    selector: LabelSelector | None = None


@dataclass(frozen=True, slots=True)
class MetricTarget:
    """One of ``value``, ``average_value`` or ``average_utilization`` (percent), per ``type``."""

    type: str
    value: Quantity | None = None
    average_value: Quantity | None = None
    average_utilization: int | None = None


@dataclass(frozen=True, slots=True)
class ResourceMetricSource:
    name: str
    target: MetricTarget


@dataclass(frozen=True, slots=True)
class ContainerResourceMetricSource:
    name: str
    container: str
    target: MetricTarget


@dataclass(frozen=True, slots=True)
class PodsMetricSource:
    metric: MetricIdentifier
    target: MetricTarget


@dataclass(frozen=True, slots=True)
class ObjectMetricSource:
    described_object: CrossVersionObjectReference
    metric: MetricIdentifier
    target: MetricTarget


@dataclass(frozen=True, slots=True)
class ExternalMetricSource:
    metric: MetricIdentifier
    target: MetricTarget


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric; ``type`` names which source field is set (as written, maybe unknown)."""

    type: str
    resource: ResourceMetricSource | None = None
    container_resource: ContainerResourceMetricSource | None = None
    pods: PodsMetricSource | None = None
    object: ObjectMetricSource | None = None
    external: ExternalMetricSource | None = None


@dataclass(frozen=True, slots=True)
class HPAScalingPolicy:
    type: str
    value: int
    period_seconds: int


@dataclass(frozen=True, slots=True)
class HPAScalingRules:
    """Rules for one direction; None = not written (defaults fill it in)."""

    stabilization_window_seconds: int | None = None
    select_policy: str | None = None
    policies: tuple[HPAScalingPolicy, ...] | None = None
    tolerance: Quantity | None = None


@dataclass(frozen=True, slots=True)
class HPABehavior:
    scale_up: HPAScalingRules | None = None
    scale_down: HPAScalingRules | None = None


@dataclass(frozen=True, slots=True)
class HPASpec:
    scale_target_ref: CrossVersionObjectReference
    max_replicas: int
    min_replicas: int | None = None
    metrics: tuple[MetricSpec, ...] = ()
    behavior: HPABehavior | None = None


@dataclass(frozen=True, slots=True)
class HorizontalPodAutoscaler:
    """One HPA object. ``api_version`` is the version it was written in."""

    name: str
    spec: HPASpec
    namespace: str = DEFAULT_NAMESPACE
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    api_version: str = "autoscaling/v2"

    @property
    def key(self) -> str:
        """``namespace/name``, the controller's key for its memory of this HPA."""
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class FeatureGates:
    """The API server's feature gates that change what an HPA may say.

    ``hpa_scale_to_zero`` (alpha, off by default) allows ``minReplicas: 0``;
    ``hpa_configurable_tolerance`` (beta, on) keeps ``behavior.*.tolerance`` (when off the API
    server drops the field).
    """

    hpa_scale_to_zero: bool = False
    hpa_configurable_tolerance: bool = True


@dataclass(frozen=True, slots=True)
class Position:
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class LoadedHPA:
    """An HPA read from a file: the defaulted object and where each field path was written."""

    hpa: HorizontalPodAutoscaler
    source: str
    positions: dict[str, Position] = field(default_factory=dict, compare=False)

    def position_of(self, path: str) -> Position | None:
        """Where ``path`` (or the nearest enclosing field that was written) is in the file."""
        while path:
            pos = self.positions.get(path)
            if pos is not None:
                return pos
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.positions.get("")


# The defaults of k8s.io/kubernetes/pkg/apis/autoscaling/v2/defaults.go.
SCALE_UP_DEFAULTS = HPAScalingRules(
    stabilization_window_seconds=0,
    select_policy=SelectPolicy.MAX,
    policies=(
        HPAScalingPolicy(ScalingPolicyType.PODS, 4, 15),
        HPAScalingPolicy(ScalingPolicyType.PERCENT, 100, 15),
    ),
)
# The scale-down window stays None: the controller fills in its
# --horizontal-pod-autoscaler-downscale-stabilization flag.
SCALE_DOWN_DEFAULTS = HPAScalingRules(
    stabilization_window_seconds=None,
    select_policy=SelectPolicy.MAX,
    policies=(HPAScalingPolicy(ScalingPolicyType.PERCENT, 100, 15),),
)
DEFAULT_METRIC = MetricSpec(
    type=MetricSourceType.RESOURCE,
    resource=ResourceMetricSource(
        "cpu", MetricTarget(MetricTargetType.UTILIZATION, average_utilization=80)
    ),
)


def fill_rules(rules: HPAScalingRules | None, defaults: HPAScalingRules) -> HPAScalingRules:
    """``copyHPAScalingRules``: each field written replaces its default entirely."""
    if rules is None:
        return defaults
    return HPAScalingRules(
        stabilization_window_seconds=(
            rules.stabilization_window_seconds
            if rules.stabilization_window_seconds is not None
            else defaults.stabilization_window_seconds
        ),
        select_policy=rules.select_policy
        if rules.select_policy is not None
        else defaults.select_policy,
        policies=rules.policies if rules.policies is not None else defaults.policies,
        tolerance=rules.tolerance if rules.tolerance is not None else defaults.tolerance,
    )


def default_behavior(behavior: HPABehavior | None) -> HPABehavior | None:
    """``SetDefaults_HorizontalPodAutoscalerBehavior``: a behavior (even empty) gets both
    directions filled in; no behavior stays None (the legacy algorithm)."""
    if behavior is None:
        return None
    return HPABehavior(
        scale_up=fill_rules(behavior.scale_up, SCALE_UP_DEFAULTS),
        scale_down=fill_rules(behavior.scale_down, SCALE_DOWN_DEFAULTS),
    )


def apply_defaults(hpa: HorizontalPodAutoscaler) -> HorizontalPodAutoscaler:
    """``SetDefaults_HorizontalPodAutoscaler``: minReplicas 1, cpu 80% when there are no
    metrics, and the behavior defaults."""
    spec = hpa.spec
    spec = replace(
        spec,
        min_replicas=1 if spec.min_replicas is None else spec.min_replicas,
        metrics=spec.metrics or (DEFAULT_METRIC,),
        behavior=default_behavior(spec.behavior),
    )
    return replace(hpa, spec=spec)


def drop_disabled_fields(
    hpa: HorizontalPodAutoscaler, gates: FeatureGates
) -> HorizontalPodAutoscaler:
    """The API server's ``dropDisabledFields``: without HPAConfigurableTolerance the
    tolerance fields are dropped on create (the behavior itself stays)."""
    behavior = hpa.spec.behavior
    if gates.hpa_configurable_tolerance or behavior is None:
        return hpa
    up = replace(behavior.scale_up, tolerance=None) if behavior.scale_up else None
    down = replace(behavior.scale_down, tolerance=None) if behavior.scale_down else None
    return replace(hpa, spec=replace(hpa.spec, behavior=HPABehavior(up, down)))
