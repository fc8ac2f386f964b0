"""HorizontalPodAutoscaler manifests (YAML) into :mod:`kubeprom.config.hpa_spec` types.

Read as the API server decodes them: YAML becomes JSON first, so a YAML float in a quantity
field is the text Go's ``encoding/json`` writes for it (``0.05``, ``1e-7``), integers must be
whole numbers within int32, ``null`` leaves a pointer field unset and makes any other field
its zero value. Unknown and repeated keys are errors; ``autoscaling/v1`` is converted to the
v2 shape (``targetCPUUtilizationPercentage`` becomes the one cpu Utilization metric, 80 when
absent). Every field path written is recorded with its position, so that validation errors
found later can point at the line. Nothing here applies defaults or validates values.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import yaml

from kubeprom.config.hpa_spec import (
    DEFAULT_CPU_UTILIZATION,
    DEFAULT_NAMESPACE,
    ContainerResourceMetricSource,
    CrossVersionObjectReference,
    ExternalMetricSource,
    HorizontalPodAutoscaler,
    HPABehavior,
    HPAScalingPolicy,
    HPAScalingRules,
    HPASpec,
    LabelSelector,
    LabelSelectorRequirement,
    LoadedHPA,
    MetricIdentifier,
    MetricSourceType,
    MetricSpec,
    MetricTarget,
    MetricTargetType,
    ObjectMetricSource,
    PodsMetricSource,
    Position,
    ResourceMetricSource,
)
from kubeprom.config.nodes import Fields, describe, error, is_null
from kubeprom.errors import ConfigError
from kubeprom.model.gofmt import format_f
from kubeprom.model.quantity import Quantity, parse_quantity

KIND = "HorizontalPodAutoscaler"
V1 = "autoscaling/v1"
V2 = "autoscaling/v2"
_REMOVED = ("autoscaling/v2beta1", "autoscaling/v2beta2")
_INT32 = (-(1 << 31), (1 << 31) - 1)
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_STR_TAG = "tag:yaml.org,2002:str"
# Annotations through which autoscaling/v1 smuggles v2 fields; not supported here.
_V1_ANNOTATION_PREFIX = "autoscaling.alpha.kubernetes.io/"


def compose_all(text: str, source: str) -> Iterator[yaml.Node]:
    """The documents of a YAML stream (empty ones skipped); syntax errors carry a position."""
    try:
        for node in yaml.compose_all(text):
            if node is not None and not is_null(node):
                yield node
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(
            f"invalid YAML: {problem}",
            file=source,
            line=mark.line + 1 if mark is not None else None,
            col=mark.column + 1 if mark is not None else None,
        ) from err


def parse_manifests(text: str, source: str) -> list[LoadedHPA]:
    """Every HPA of a manifest file, as written (no defaults, no validation)."""
    return [ManifestReader(source).document(node) for node in compose_all(text, source)]


def parse_manifest_node(node: yaml.Node, source: str) -> LoadedHPA:
    """One HPA written inline in another YAML file (positions are that file's)."""
    return ManifestReader(source).document(node)


def go_json_float(value: float) -> str:
    """The text Go's ``encoding/json`` writes for a float64 (``0.05``, ``1e-7``, ``1e+21``)."""
    if value != 0 and (abs(value) < 1e-6 or abs(value) >= 1e21):
        text = repr(value)  # shortest digits in 'e' form, as strconv's 'e' with precision -1
        mantissa, exp = text.split("e")
        if exp.startswith("-0"):
            exp = "-" + exp[2:]  # encoding/json's clean-up of e-09 to e-9
        return f"{mantissa}e{exp}"
    return format_f(value)


class ManifestReader:
    """Reads one document; ``positions`` collects where each field path was written.

    Its readers of Kubernetes types (integers, quantities, selectors, ``behavior``) serve
    other manifests that embed them (KEDA's ScaledObject)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.positions: dict[str, Position] = {}

    def mark(self, path: str, node: yaml.Node) -> None:
        if node.start_mark is not None:  # the stand-in for an absent mapping has none
            self.positions[path] = Position(node.start_mark.line + 1, node.start_mark.column + 1)

    def fields(self, node: yaml.Node, path: str, type_name: str, known: set[str]) -> Fields:
        f = Fields(node, self.source, path, type_name, known)
        self.mark(path, node)
        for key in known:
            value = f.get(key)
            if value is not None:
                self.mark(f.sub(key), value)
        return f

    def fail(self, node: yaml.Node, path: str, message: str) -> ConfigError:
        return error(node, self.source, path, message)

    # ---- scalars ------------------------------------------------------------------------
    def string(self, f: Fields, key: str) -> str:
        node = f.get(key)
        return "" if node is None else self.text(node, f.sub(key))

    def text(self, node: yaml.Node, path: str) -> str:
        """A string field: JSON has no other scalar that decodes into a Go string."""
        if is_null(node):
            return ""
        if not isinstance(node, yaml.ScalarNode) or node.tag != _STR_TAG:
            raise self.fail(node, path, f"expected a string, got {describe(node)}")
        return str(node.value)

    def int32(self, node: yaml.Node, path: str) -> int:
        if not isinstance(node, yaml.ScalarNode) or node.tag not in (_INT_TAG, _FLOAT_TAG):
            raise self.fail(node, path, f"expected an integer, got {describe(node)}")
        value = yaml.safe_load(node.value)
        if isinstance(value, float):
            if not value.is_integer():
                raise self.fail(node, path, f"expected an integer, got {node.value!r}")
            value = int(value)
        if not _INT32[0] <= value <= _INT32[1]:
            raise self.fail(node, path, f"integer {node.value!r} is out of the int32 range")
        return int(value)

    def opt_int32(self, f: Fields, key: str) -> int | None:
        node = f.get(key)
        return None if node is None or is_null(node) else self.int32(node, f.sub(key))

    def req_int32(self, f: Fields, key: str) -> int:
        node = f.get(key)
        return 0 if node is None or is_null(node) else self.int32(node, f.sub(key))

    def quantity(self, f: Fields, key: str) -> Quantity | None:
        node = f.get(key)
        if node is None or is_null(node):
            return None
        path = f.sub(key)
        if not isinstance(node, yaml.ScalarNode) or node.tag == _BOOL_TAG:
            raise self.fail(node, path, f"expected a quantity, got {describe(node)}")
        text = str(node.value)
        if node.tag == _INT_TAG:
            text = str(yaml.safe_load(text))
        elif node.tag == _FLOAT_TAG:
            value = yaml.safe_load(text)
            if not math.isfinite(value):
                raise self.fail(node, path, f"expected a quantity, got {text!r}")
            text = go_json_float(value)
        try:
            return parse_quantity(text)
        except ValueError as err:
            raise self.fail(node, path, f"cannot parse quantity {text!r}: {err}") from None

    def string_map(self, f: Fields, key: str) -> tuple[tuple[str, str], ...]:
        pairs = [(name, self.text(v, f"{f.sub(key)}.{name}")) for name, _, v in f.pairs(key)]
        return tuple(sorted(pairs))

    # ---- objects --------------------------------------------------------------------------
    def document(self, node: yaml.Node) -> LoadedHPA:
        top = self.fields(
            node, "", "HorizontalPodAutoscaler", {"apiVersion", "kind", "metadata", "spec"}
        )
        api_version = self.string(top, "apiVersion")
        kind = self.string(top, "kind")
        if kind != KIND:
            raise top.fail("kind", f"expected kind {KIND!r}, got {kind!r}")
        if api_version in _REMOVED:
            raise top.fail("apiVersion", f"{api_version!r} was removed from Kubernetes; use {V2!r}")
        if api_version not in (V1, V2):
            raise top.fail(
                "apiVersion", f"expected apiVersion {V2!r} or {V1!r}, got {api_version!r}"
            )
        meta = self.fields(
            top.get("metadata") or _EMPTY,
            "metadata",
            "v1.ObjectMeta",
            {"name", "namespace", "labels", "annotations"},
        )
        annotations = self.string_map(meta, "annotations")
        for name, _ in annotations:
            if name.startswith(_V1_ANNOTATION_PREFIX):
                raise meta.fail(
                    "annotations",
                    f"annotation {name!r} is not supported; write an autoscaling/v2 object",
                )
        spec_node = top.get("spec") or _EMPTY
        spec = self.spec_v1(spec_node) if api_version == V1 else self.spec_v2(spec_node)
        hpa = HorizontalPodAutoscaler(
            name=self.string(meta, "name"),
            namespace=self.string(meta, "namespace") if "namespace" in meta else DEFAULT_NAMESPACE,
            spec=spec,
            labels=self.string_map(meta, "labels"),
            annotations=annotations,
            api_version=api_version,
        )
        return LoadedHPA(hpa, self.source, self.positions)

    def reference(self, node: yaml.Node, path: str) -> CrossVersionObjectReference:
        f = self.fields(
            node, path, "v2.CrossVersionObjectReference", {"apiVersion", "kind", "name"}
        )
        return CrossVersionObjectReference(
            kind=self.string(f, "kind"),
            name=self.string(f, "name"),
            api_version=self.string(f, "apiVersion"),
        )

    def spec_v1(self, node: yaml.Node) -> HPASpec:
        known = {"scaleTargetRef", "minReplicas", "maxReplicas", "targetCPUUtilizationPercentage"}
        f = self.fields(node, "spec", "v1.HorizontalPodAutoscalerSpec", known)
        target = self.opt_int32(f, "targetCPUUtilizationPercentage")
        where = f.at("targetCPUUtilizationPercentage")
        # The API server validates the converted object: errors name the v2 paths.
        for path in (
            "spec.metrics",
            "spec.metrics[0]",
            "spec.metrics[0].resource",
            "spec.metrics[0].resource.target",
            "spec.metrics[0].resource.target.averageUtilization",
        ):
            self.mark(path, where)
        metric = MetricSpec(
            type=MetricSourceType.RESOURCE,
            resource=ResourceMetricSource(
                "cpu",
                MetricTarget(
                    MetricTargetType.UTILIZATION,
                    average_utilization=DEFAULT_CPU_UTILIZATION if target is None else target,
                ),
            ),
        )
        return HPASpec(
            scale_target_ref=self.reference(
                f.get("scaleTargetRef") or _EMPTY, "spec.scaleTargetRef"
            ),
            max_replicas=self.req_int32(f, "maxReplicas"),
            min_replicas=self.opt_int32(f, "minReplicas"),
            metrics=(metric,),
        )

    def spec_v2(self, node: yaml.Node) -> HPASpec:
        known = {"scaleTargetRef", "minReplicas", "maxReplicas", "metrics", "behavior"}
        f = self.fields(node, "spec", "v2.HorizontalPodAutoscalerSpec", known)
        ref_node = f.get("scaleTargetRef")
        behavior_node = f.get("behavior")
        return HPASpec(
            scale_target_ref=self.reference(
                ref_node if ref_node is not None else _EMPTY, "spec.scaleTargetRef"
            ),
            max_replicas=self.req_int32(f, "maxReplicas"),
            min_replicas=self.opt_int32(f, "minReplicas"),
            metrics=tuple(self.metric(item, path) for path, item in f.items("metrics")),
            behavior=None
            if behavior_node is None or is_null(behavior_node)
            else self.behavior(behavior_node),
        )

    def selector(self, f: Fields, key: str) -> LabelSelector | None:
        node = f.get(key)
        if node is None or is_null(node):
            return None
        s = self.fields(node, f.sub(key), "v1.LabelSelector", {"matchLabels", "matchExpressions"})
        expressions = []
        for path, item in s.items("matchExpressions"):
            e = self.fields(
                item, path, "v1.LabelSelectorRequirement", {"key", "operator", "values"}
            )
            values = tuple(self.text(v, p) for p, v in e.items("values"))
            expressions.append(
                LabelSelectorRequirement(self.string(e, "key"), self.string(e, "operator"), values)
            )
        return LabelSelector(self.string_map(s, "matchLabels"), tuple(expressions))

    def identifier(self, node: yaml.Node, path: str) -> MetricIdentifier:
        f = self.fields(node, path, "v2.MetricIdentifier", {"name", "selector"})
        return MetricIdentifier(self.string(f, "name"), self.selector(f, "selector"))

    def target(self, node: yaml.Node, path: str) -> MetricTarget:
        known = {"type", "value", "averageValue", "averageUtilization"}
        f = self.fields(node, path, "v2.MetricTarget", known)
        return MetricTarget(
            type=self.string(f, "type"),
            value=self.quantity(f, "value"),
            average_value=self.quantity(f, "averageValue"),
            average_utilization=self.opt_int32(f, "averageUtilization"),
        )

    def metric(self, node: yaml.Node, path: str) -> MetricSpec:
        known = {"type", "resource", "containerResource", "pods", "object", "external"}
        f = self.fields(node, path, "v2.MetricSpec", known)

        def part(key: str) -> yaml.Node | None:
            value = f.get(key)
            return None if value is None or is_null(value) else value

        resource = container = pods = obj = external = None
        if (n := part("resource")) is not None:
            r = self.fields(n, f.sub("resource"), "v2.ResourceMetricSource", {"name", "target"})
            resource = ResourceMetricSource(self.string(r, "name"), self._target(r))
        if (n := part("containerResource")) is not None:
            known = {"name", "container", "target"}
            c = self.fields(
                n, f.sub("containerResource"), "v2.ContainerResourceMetricSource", known
            )
            container = ContainerResourceMetricSource(
                self.string(c, "name"), self.string(c, "container"), self._target(c)
            )
        if (n := part("pods")) is not None:
            p = self.fields(n, f.sub("pods"), "v2.PodsMetricSource", {"metric", "target"})
            pods = PodsMetricSource(self._metric_id(p), self._target(p))
        if (n := part("object")) is not None:
            known = {"describedObject", "metric", "target"}
            o = self.fields(n, f.sub("object"), "v2.ObjectMetricSource", known)
            ref = self.reference(o.get("describedObject") or _EMPTY, o.sub("describedObject"))
            obj = ObjectMetricSource(ref, self._metric_id(o), self._target(o))
        if (n := part("external")) is not None:
            e = self.fields(n, f.sub("external"), "v2.ExternalMetricSource", {"metric", "target"})
            external = ExternalMetricSource(self._metric_id(e), self._target(e))
        return MetricSpec(self.string(f, "type"), resource, container, pods, obj, external)

    def _metric_id(self, f: Fields) -> MetricIdentifier:
        return self.identifier(f.get("metric") or _EMPTY, f.sub("metric"))

    def _target(self, f: Fields) -> MetricTarget:
        return self.target(f.get("target") or _EMPTY, f.sub("target"))

    def behavior(self, node: yaml.Node, path: str = "spec.behavior") -> HPABehavior:
        f = self.fields(node, path, "v2.HorizontalPodAutoscalerBehavior", {"scaleUp", "scaleDown"})
        return HPABehavior(self.rules(f, "scaleUp"), self.rules(f, "scaleDown"))

    def rules(self, parent: Fields, key: str) -> HPAScalingRules | None:
        node = parent.get(key)
        if node is None or is_null(node):
            return None
        known = {"stabilizationWindowSeconds", "selectPolicy", "policies", "tolerance"}
        f = self.fields(node, parent.sub(key), "v2.HPAScalingRules", known)
        policies_node = f.get("policies")
        policies = None
        if policies_node is not None and not is_null(policies_node):
            policies = tuple(self.policy(item, path) for path, item in f.items("policies"))
        return HPAScalingRules(
            stabilization_window_seconds=self.opt_int32(f, "stabilizationWindowSeconds"),
            select_policy=None if _absent(f, "selectPolicy") else self.string(f, "selectPolicy"),
            policies=policies,
            tolerance=self.quantity(f, "tolerance"),
        )

    def policy(self, node: yaml.Node, path: str) -> HPAScalingPolicy:
        f = self.fields(node, path, "v2.HPAScalingPolicy", {"type", "value", "periodSeconds"})
        return HPAScalingPolicy(
            self.string(f, "type"), self.req_int32(f, "value"), self.req_int32(f, "periodSeconds")
        )


def _absent(f: Fields, key: str) -> bool:
    node = f.get(key)
    return node is None or is_null(node)


# An empty mapping, for a required object that was not written (its fields take zero values).
_EMPTY = yaml.MappingNode("tag:yaml.org,2002:map", [])
