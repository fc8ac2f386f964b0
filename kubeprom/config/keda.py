"""KEDA ``ScaledObject`` manifests with ``prometheus`` triggers, checked as KEDA checks them.

A file holds one or more ``keda.sh/v1alpha1`` ``ScaledObject`` documents::

    apiVersion: keda.sh/v1alpha1
    kind: ScaledObject
    metadata: {name: web, namespace: default}
    spec:
      scaleTargetRef: {name: web}           # apps/v1 Deployment unless said otherwise
      pollingInterval: 30                   # seconds, KEDA's 0 <-> 1 loop
      cooldownPeriod: 300                   # seconds inactive before scaling to zero
      initialCooldownPeriod: 0
      idleReplicaCount: 0                   # optional, below minReplicaCount
      minReplicaCount: 0
      maxReplicaCount: 10                   # 100 when absent
      fallback: {failureThreshold: 3, replicas: 6, behavior: static}
      advanced:
        horizontalPodAutoscalerConfig:
          name: web-hpa                     # keda-hpa-<name> when absent
          behavior: {scaleDown: {stabilizationWindowSeconds: 60}}
      triggers:
        - type: prometheus
          metricType: AverageValue          # or Value
          useCachedMetrics: false
          metadata:
            serverAddress: http://prometheus:9090
            query: sum(rate(http_requests_total{deployment="web"}[2m]))
            threshold: "100"
            activationThreshold: "5"
            ignoreNullValues: "true"

Checked as the API server checks the CRD (unknown fields, types, minimums, enums, required
fields: ``spec.triggers[0].metadata.threshold in body must be of type string``), as KEDA's
admission webhook does (replica bounds, fallback, trigger names, name lengths) and as the
Prometheus scaler parses its metadata (``missing required parameter "query" in
[triggerMetadata]``). What kubeprom cannot honour is refused rather than ignored: trigger
types other than ``prometheus``, authentication, request options (headers, TLS, tenancy),
``scalingModifiers``, ``restoreToOriginalReplicaCount`` and KEDA's annotations. The query
runs through kubeprom's query seam; ``serverAddress`` is shown, not dialled.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kubeprom.config.hpa_parse import ManifestReader
from kubeprom.config.hpa_spec import (
    DEFAULT_NAMESPACE,
    FeatureGates,
    HPABehavior,
    LoadedHPA,
    Position,
)
from kubeprom.config.hpa_validate import check
from kubeprom.config.nodes import Fields, compose_all, error, is_null
from kubeprom.errors import ConfigError

KIND = "ScaledObject"
API_VERSION = "keda.sh/v1alpha1"
OWNER_LABEL = "scaledobject.keda.sh/name"  # ScaledObjectOwnerAnnotation
DEFAULT_POLLING_INTERVAL_S = 30
DEFAULT_COOLDOWN_PERIOD_S = 300
DEFAULT_INITIAL_COOLDOWN_PERIOD_S = 0
DEFAULT_HPA_MIN_REPLICAS = 1
DEFAULT_HPA_MAX_REPLICAS = 100
MAX_LABEL_VALUE_LENGTH = 63
FALLBACK_BEHAVIORS = (
    "static",
    "currentReplicas",
    "currentReplicasIfHigher",
    "currentReplicasIfLower",
    "scalingModifiers",
)
_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_PROMETHEUS_KEYS = (
    "serverAddress",
    "query",
    "threshold",
    "activationThreshold",
    "ignoreNullValues",
)
_UNSUPPORTED_KEYS = {
    "namespace": "the Thanos tenancy parameter",
    "customHeaders": "request headers",
    "queryParameters": "extra query parameters",
    "unsafeSsl": "TLS settings",
    "timeout": "the HTTP timeout",
    "awsRegion": "AWS signing",
    "identityOwner": "pod identity",
    "authModes": "authentication",
}
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


@dataclass(frozen=True, slots=True)
class PrometheusTrigger:
    """One ``prometheus`` trigger, its metadata parsed as ``prometheusMetadata``."""

    index: int
    name: str
    server_address: str
    query: str
    threshold: float
    activation_threshold: float = 0.0
    ignore_null_values: bool = True
    metric_type: str = "AverageValue"
    use_cached_metrics: bool = False

    @property
    def metric_name(self) -> str:
        """``GenerateMetricNameWithIndex(i, "prometheus")``: the external metric's name."""
        return f"s{self.index}-prometheus"


@dataclass(frozen=True, slots=True)
class Fallback:
    failure_threshold: int
    replicas: int
    behavior: str = "static"


@dataclass(frozen=True, slots=True)
class ScaledObject:
    """A ScaledObject; ``None`` fields were not written (KEDA's defaults apply)."""

    name: str
    namespace: str
    target_name: str
    target_kind: str = "Deployment"
    target_api_version: str = "apps/v1"
    polling_interval_s: int | None = None
    initial_cooldown_period_s: int | None = None
    cooldown_period_s: int | None = None
    idle_replica_count: int | None = None
    min_replica_count: int | None = None
    max_replica_count: int | None = None
    fallback: Fallback | None = None
    hpa_name: str = ""
    behavior: HPABehavior | None = None
    triggers: tuple[PrometheusTrigger, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def polling_interval_ms(self) -> int:
        s = self.polling_interval_s
        return (DEFAULT_POLLING_INTERVAL_S if s is None else s) * 1000

    @property
    def cooldown_period_ms(self) -> int:
        s = self.cooldown_period_s
        return (DEFAULT_COOLDOWN_PERIOD_S if s is None else s) * 1000

    @property
    def initial_cooldown_period_ms(self) -> int:
        s = self.initial_cooldown_period_s
        return (DEFAULT_INITIAL_COOLDOWN_PERIOD_S if s is None else s) * 1000

    @property
    def hpa_min_replicas(self) -> int:
        """``GetHPAMinReplicas``: minReplicaCount when above zero, else 1."""
        m = self.min_replica_count
        return m if m is not None and m > 0 else DEFAULT_HPA_MIN_REPLICAS

    @property
    def hpa_max_replicas(self) -> int:
        m = self.max_replica_count
        return DEFAULT_HPA_MAX_REPLICAS if m is None else m

    @property
    def generated_hpa_name(self) -> str:
        return self.hpa_name or f"keda-hpa-{self.name}"

    @property
    def target_kind_string(self) -> str:
        """``GVKString()``, as KEDA's events name the target (``apps/v1.Deployment``)."""
        group, _, version = self.target_api_version.rpartition("/")
        return f"{group}/{version}.{self.target_kind}"


@dataclass(frozen=True, slots=True)
class LoadedScaledObject:
    """A ScaledObject read from a file, with where each field path was written."""

    scaled_object: ScaledObject
    source: str
    positions: dict[str, Position] = field(default_factory=dict, compare=False)
    prefix: str = ""  # written inline in kubeprom.yml: the list item's path

    def error(self, path: str, message: str) -> ConfigError:
        """A :class:`ConfigError` at field ``path`` (or the nearest enclosing one written)."""
        probe = path
        while probe and probe not in self.positions:
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        pos = self.positions.get(probe)
        return ConfigError(
            message,
            file=self.source,
            line=pos.line if pos else None,
            col=pos.col if pos else None,
            field=(f"{self.prefix}.{path}" if self.prefix and path else path or self.prefix)
            or None,
        )


class _Reader(ManifestReader):
    def int32_min(self, f: Fields, key: str, minimum: int) -> int | None:
        value = self.opt_int32(f, key)
        if value is not None and value < minimum:
            raise f.fail(
                key,
                f"Invalid value: {value}: {f.sub(key)} in body should be greater than or equal "
                f"to {minimum}",
            )
        return value

    def document(self, node: yaml.Node) -> LoadedScaledObject:  # type: ignore[override]
        top = self.fields(node, "", "ScaledObject", {"apiVersion", "kind", "metadata", "spec"})
        kind = self.string(top, "kind")
        api_version = self.string(top, "apiVersion")
        if kind != KIND or api_version != API_VERSION:
            raise top.fail(
                "kind" if kind != KIND else "apiVersion",
                f"expected apiVersion {API_VERSION!r} and kind {KIND!r}, got "
                f"{api_version!r} and {kind!r}",
            )
        meta = self.fields(
            top.get("metadata") or _EMPTY,
            "metadata",
            "v1.ObjectMeta",
            {"name", "namespace", "labels", "annotations"},
        )
        for name, _ in self.string_map(meta, "annotations"):
            if name.startswith(("autoscaling.keda.sh/", "scaledobject.keda.sh/")):
                raise meta.fail("annotations", f"annotation {name!r} is not supported by kubeprom")
        name = self.string(meta, "name")
        if not name:
            raise meta.fail(
                "name", "metadata.name: Required value: name or generateName is required"
            )
        namespace = self.string(meta, "namespace") if "namespace" in meta else DEFAULT_NAMESPACE
        so = self.spec(top.get("spec") or _EMPTY, name, namespace, self.string_map(meta, "labels"))
        loaded = LoadedScaledObject(so, self.source, self.positions)
        _webhook(loaded, meta)
        return loaded

    def spec(
        self, node: yaml.Node, name: str, namespace: str, labels: tuple[tuple[str, str], ...]
    ) -> ScaledObject:
        known = {
            "scaleTargetRef",
            "pollingInterval",
            "initialCooldownPeriod",
            "cooldownPeriod",
            "idleReplicaCount",
            "minReplicaCount",
            "maxReplicaCount",
            "advanced",
            "triggers",
            "fallback",
        }
        f = self.fields(node, "spec", "v1alpha1.ScaledObjectSpec", known)
        ref_node = f.get("scaleTargetRef")
        if ref_node is None or is_null(ref_node):
            raise error(node, self.source, "spec.scaleTargetRef", "Required value")
        ref = self.fields(
            ref_node,
            "spec.scaleTargetRef",
            "v1alpha1.ScaleTarget",
            {"name", "apiVersion", "kind", "envSourceContainerName"},
        )
        if "envSourceContainerName" in ref:
            raise ref.fail("envSourceContainerName", "envSourceContainerName is not supported")
        target = self.string(ref, "name")
        if not target:
            raise ref.fail(
                "name",
                'Invalid value: "": spec.scaleTargetRef.name in body should be at least 1 chars '
                "long",
            )
        hpa_name, behavior = self.advanced(f)
        triggers = tuple(
            self.trigger(item, path, i) for i, (path, item) in enumerate(f.items("triggers"))
        )
        if not triggers:
            raise f.fail(
                "triggers", "Invalid value: 0: spec.triggers in body should have at least 1 items"
            )
        return ScaledObject(
            name=name,
            namespace=namespace,
            target_name=target,
            target_kind=self.string(ref, "kind") or "Deployment",
            target_api_version=self.string(ref, "apiVersion") or "apps/v1",
            polling_interval_s=self.int32_min(f, "pollingInterval", 1),
            initial_cooldown_period_s=self.int32_min(f, "initialCooldownPeriod", 0),
            cooldown_period_s=self.int32_min(f, "cooldownPeriod", 0),
            idle_replica_count=self.int32_min(f, "idleReplicaCount", 0),
            min_replica_count=self.int32_min(f, "minReplicaCount", 0),
            max_replica_count=self.int32_min(f, "maxReplicaCount", 1),
            fallback=self.fallback(f),
            hpa_name=hpa_name,
            behavior=behavior,
            triggers=triggers,
            labels=labels,
        )

    def advanced(self, f: Fields) -> tuple[str, HPABehavior | None]:
        node = f.get("advanced")
        if node is None or is_null(node):
            return "", None
        known = {
            "horizontalPodAutoscalerConfig",
            "restoreToOriginalReplicaCount",
            "scalingModifiers",
        }
        a = self.fields(node, f.sub("advanced"), "v1alpha1.AdvancedConfig", known)
        for key in ("restoreToOriginalReplicaCount", "scalingModifiers"):
            if key in a:
                raise a.fail(key, f"{key} is not supported by kubeprom")
        hpa_node = a.get("horizontalPodAutoscalerConfig")
        if hpa_node is None or is_null(hpa_node):
            return "", None
        path = a.sub("horizontalPodAutoscalerConfig")
        h = self.fields(
            hpa_node, path, "v1alpha1.HorizontalPodAutoscalerConfig", {"behavior", "name"}
        )
        behavior_node = h.get("behavior")
        behavior = None
        if behavior_node is not None and not is_null(behavior_node):
            behavior = self.behavior(behavior_node, h.sub("behavior"))
        return self.string(h, "name"), behavior

    def fallback(self, f: Fields) -> Fallback | None:
        node = f.get("fallback")
        if node is None or is_null(node):
            return None
        fb = self.fields(
            node,
            f.sub("fallback"),
            "v1alpha1.Fallback",
            {"failureThreshold", "replicas", "behavior"},
        )
        for key in ("failureThreshold", "replicas"):
            if key not in fb:
                raise error(node, self.source, fb.sub(key), "Required value")
        behavior = self.string(fb, "behavior") or "static"
        if behavior not in FALLBACK_BEHAVIORS:
            supported = ", ".join(f'"{b}"' for b in FALLBACK_BEHAVIORS)
            raise fb.fail(
                "behavior", f'Unsupported value: "{behavior}": supported values: {supported}'
            )
        if behavior == "scalingModifiers":
            raise fb.fail(
                "behavior",
                "scalingModifiers fallback behavior requires scalingModifiers.formula to be "
                "defined",
            )
        return Fallback(
            self.int32_min(fb, "failureThreshold", 0) or 0,
            self.int32_min(fb, "replicas", 0) or 0,
            behavior,
        )

    def metadata(self, t: Fields) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, _, value in t.pairs("metadata"):
            path = f"{t.sub('metadata')}.{key}"
            self.mark(path, value)
            if not isinstance(value, yaml.ScalarNode) or value.tag != _STR_TAG:
                kind = _json_type(value)
                raise error(
                    value,
                    self.source,
                    path,
                    f'Invalid value: "{kind}": {path} in body must be of type string: "{kind}"',
                )
            out[key] = str(value.value)
        return out

    def trigger(self, node: yaml.Node, path: str, index: int) -> PrometheusTrigger:
        known = {"type", "name", "useCachedMetrics", "metadata", "authenticationRef", "metricType"}
        t = self.fields(node, path, "v1alpha1.ScaleTriggers", known)
        kind = self.string(t, "type")
        if kind != "prometheus":
            raise t.fail(
                "type", f"trigger type {kind!r} is not supported: kubeprom runs prometheus triggers"
            )
        if "authenticationRef" in t:
            raise t.fail("authenticationRef", "authenticationRef is not supported by kubeprom")
        metric_type = self.string(t, "metricType") or "AverageValue"
        if metric_type == "Utilization":
            raise t.fail(
                "metricType",
                "error getting scaler metric type: 'Utilization' metric type is unsupported for "
                "external metrics, allowed values are 'Value' or 'AverageValue'",
            )
        meta = self.metadata(t)
        mpath = t.sub("metadata")

        def fail(key: str | None, message: str) -> ConfigError:
            node = t.at("metadata") if key is None else None
            where = f"{mpath}.{key}" if key else mpath
            pos = self.positions.get(where) or self.positions.get(mpath)
            return ConfigError(
                f"error parsing prometheus metadata: {message}",
                file=self.source,
                line=pos.line if pos else (node.start_mark.line + 1 if node is not None else None),
                col=pos.col if pos else None,
                field=where,
            )

        for key in meta:
            base = key.removesuffix("FromEnv")
            if key.endswith("FromEnv"):
                raise fail(key, f"{key}: values from the environment are not supported by kubeprom")
            if base in _UNSUPPORTED_KEYS:
                raise fail(key, f"{key}: {_UNSUPPORTED_KEYS[base]} is not supported by kubeprom")
            if base not in _PROMETHEUS_KEYS:
                raise fail(key, f"unknown parameter {key!r} for the prometheus scaler")
        values = {k: v.strip() for k, v in meta.items() if v.strip()}
        for key in ("serverAddress", "query", "threshold"):
            if key not in values:
                raise fail(None, f'missing required parameter "{key}" in [triggerMetadata]')
        threshold = _float(values["threshold"], "threshold", fail)
        activation = _float(values.get("activationThreshold", "0"), "activationThreshold", fail)
        ignore = values.get("ignoreNullValues", "true")
        if ignore not in _GO_TRUE + _GO_FALSE:
            raise fail(
                "ignoreNullValues",
                f'unable to set param "ignoreNullValues" value "{ignore}": unable to parse '
                f'boolean value "{ignore}": strconv.ParseBool: parsing "{ignore}": invalid syntax',
            )
        return PrometheusTrigger(
            index=index,
            name=self.string(t, "name"),
            server_address=values["serverAddress"],
            query=values["query"],
            threshold=threshold,
            activation_threshold=activation,
            ignore_null_values=ignore in _GO_TRUE,
            metric_type=metric_type,
            use_cached_metrics=t.boolean("useCachedMetrics"),
        )


def _json_type(node: yaml.Node) -> str:
    """The JSON type the API server reports for a value that is not a string."""
    if isinstance(node, yaml.MappingNode):
        return "object"
    if isinstance(node, yaml.SequenceNode):
        return "array"
    return {
        _INT_TAG: "integer",
        "tag:yaml.org,2002:float": "number",
        "tag:yaml.org,2002:bool": "boolean",
        "tag:yaml.org,2002:null": "null",
    }.get(node.tag, "string")


def _float(text: str, key: str, fail: Callable[[str | None, str], ConfigError]) -> float:
    """A float64 as KEDA's typed config reads one (``json.Unmarshal`` of the text)."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(
            key,
            f'unable to set param "{key}" value "{text}": unable to unmarshal to field type '
            f"float64: invalid value {text!r}",
        )
    return float(value)


def _webhook(loaded: LoadedScaledObject, meta: Fields) -> None:
    """KEDA's admission webhook and the CRD's cross-field rule."""
    so = loaded.scaled_object
    if so.min_replica_count is not None and so.min_replica_count > so.hpa_max_replicas:
        raise loaded.error(
            "spec.minReplicaCount", "minReplicaCount must be less than or equal to maxReplicaCount"
        )
    min_replicas = so.hpa_min_replicas if so.min_replica_count is not None else 0
    if so.idle_replica_count is not None and so.idle_replica_count >= min_replicas:
        raise loaded.error(
            "spec.idleReplicaCount",
            f"IdleReplicaCount={so.idle_replica_count} must be less than "
            f"MinReplicaCount={min_replicas}",
        )
    names: set[str] = set()
    for i, t in enumerate(so.triggers):
        if t.name and t.name in names:
            raise loaded.error(
                f"spec.triggers[{i}].name",
                f'triggerName "{t.name}" is defined multiple times in the ScaledObject/ScaledJob, '
                "but it must be unique",
            )
        names.add(t.name)
    if len(so.name) > MAX_LABEL_VALUE_LENGTH:
        raise meta.fail(
            "name",
            f'scaledobject name "{so.name}" is {len(so.name)} characters long; must be no more '
            f'than {MAX_LABEL_VALUE_LENGTH} characters because it is used as the "{OWNER_LABEL}" '
            "label value",
        )
    hpa = so.generated_hpa_name
    if len(hpa) > MAX_LABEL_VALUE_LENGTH:
        raise loaded.error(
            "spec.advanced.horizontalPodAutoscalerConfig.name" if so.hpa_name else "metadata.name",
            f'HPA name "{hpa}" derived from scaledobject is {len(hpa)} characters long; must be '
            f"no more than {MAX_LABEL_VALUE_LENGTH} characters; set "
            "spec.advanced.horizontalPodAutoscalerConfig.name to a shorter name or shorten the "
            "scaledobject name",
        )


def load_scaled_objects_text(text: str, source: str) -> list[LoadedScaledObject]:
    """Every ScaledObject of a manifest text; raises :class:`ConfigError` at the field."""
    return [_Reader(source).document(node) for node in compose_all(text, source)]


def load_scaled_object_node(node: yaml.Node, source: str) -> LoadedScaledObject:
    """One ScaledObject from a YAML node (written inline in another file)."""
    return _Reader(source).document(node)


def load_scaled_objects_file(path: str | Path) -> list[LoadedScaledObject]:
    """As :func:`load_scaled_objects_text` for a file; OSError when it cannot be read."""
    return load_scaled_objects_text(Path(path).read_text(encoding="utf-8"), str(path))


def kind_of(node: yaml.Node) -> str:
    """The ``kind`` a manifest document declares ("" when it has none)."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if (
                isinstance(k, yaml.ScalarNode)
                and k.value == "kind"
                and isinstance(v, yaml.ScalarNode)
            ):
                return str(v.value)
    return ""


_EMPTY = yaml.MappingNode("tag:yaml.org,2002:map", [])


def load_autoscalers_text(
    text: str, source: str, gates: FeatureGates | None = None
) -> list[LoadedHPA | LoadedScaledObject]:
    """Every HorizontalPodAutoscaler and ScaledObject of a manifest text, in file order, each
    read and checked as its own kind; raises :class:`ConfigError` at the offending field."""
    out: list[LoadedHPA | LoadedScaledObject] = []
    for node in compose_all(text, source):
        if kind_of(node) == KIND:
            out.append(_Reader(source).document(node))
        else:
            out.append(check(ManifestReader(source).document(node), gates or FeatureGates()))
    return out


def load_autoscalers_file(
    path: str | Path, gates: FeatureGates | None = None
) -> list[LoadedHPA | LoadedScaledObject]:
    """As :func:`load_autoscalers_text` for a file; OSError when it cannot be read."""
    return load_autoscalers_text(Path(path).read_text(encoding="utf-8"), str(path), gates)
