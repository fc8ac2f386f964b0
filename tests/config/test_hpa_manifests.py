"""HPA manifests: bad files fail with the API server's message at the field's place, good
files load with the API server's defaults (autoscaling/v1 converted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeprom.config.hpa import load_hpa_file, load_hpa_text
from kubeprom.config.hpa_parse import go_json_float
from kubeprom.config.hpa_spec import FeatureGates, HPAScalingPolicy
from kubeprom.errors import ConfigError

TESTDATA = Path(__file__).parent / "testdata" / "hpa"
QUANTITY_RE = "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

# (file, the error after "<path>:") -- the message is part of the behaviour.
BAD = {
    "bad_quantity": "11:52: spec.metrics[0].pods.target.averageValue: cannot parse quantity "
    f"'1x': quantities must match the regular expression {QUANTITY_RE}",
    "container_name": "11:20: spec.metrics[0].containerResource.container: Invalid value: "
    '"Web_App": a lowercase RFC 1123 label must consist of lower case alphanumeric characters '
    "or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
    "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    "empty_policies": "9:17: spec.behavior.scaleDown.policies: Required value: must specify at "
    "least one Policy",
    "external_both_targets": "11:38: spec.metrics[0].external.target.value: Forbidden: may not "
    "set both a target value for metric and a per-pod target",
    "max_below_min": "7:16: spec.maxReplicas: Invalid value: 3: must be greater than or equal to "
    "`minReplicas`",
    "min_replicas_zero": "6:16: spec.minReplicas: Invalid value: 0: must be greater than or "
    "equal to 1 (and 1 more)",
    "missing_source": "8:7: spec.metrics[0].pods: Required value: must populate information for "
    "the given metric source",
    "negative_average_value": '11:52: spec.metrics[0].pods.target.averageValue: Invalid value: "-1"'
    ": must be positive",
    "negative_tolerance": '9:18: spec.behavior.scaleDown.tolerance: Invalid value: "-0.1": must '
    "be greater than or equal to 0",
    "no_name": "3:11: metadata.name: Required value: name or generateName is required",
    "period_too_long": "10:49: spec.behavior.scaleDown.policies[0].periodSeconds: Invalid value: "
    "1801: must be less than or equal to 1800",
    "quoted_integer": "6:16: spec.maxReplicas: expected an integer, got '10'",
    "removed_version": "1:13: apiVersion: 'autoscaling/v2beta2' was removed from Kubernetes; use "
    "'autoscaling/v2'",
    "select_policy": '8:29: spec.behavior.scaleUp.selectPolicy: Unsupported value: "Fastest": '
    'supported values: "Disabled", "Max", "Min"',
    "target_name": "5:65: spec.scaleTargetRef.name: Invalid value: \"web/v2\": may not contain '/'",
    "two_sources": "10:13: spec.metrics[0].pods: Forbidden: must populate the given metric source "
    "only",
    "unknown_field": "7:3: spec.replicas: field replicas not found in type "
    "v2.HorizontalPodAutoscalerSpec",
    "unknown_metric_type": '8:13: spec.metrics[0].type: Unsupported value: "CheddarCheese": '
    'supported values: "ContainerResource", "External", "Object", "Pods", "Resource" (and 1 more)',
    "utilization_zero": "9:77: spec.metrics[0].resource.target.averageUtilization: Invalid value: "
    "0: must be greater than 0",
    # autoscaling/v1 is validated after conversion: the v2 path, at the v1 field's place
    "v1_zero_target": "7:35: spec.metrics[0].resource.target.averageUtilization: Invalid value: "
    "0: must be greater than 0",
    "window_too_long": "9:35: spec.behavior.scaleUp.stabilizationWindowSeconds: Invalid value: "
    "3601: must be less than or equal to 3600",
}


def test_every_bad_file_is_in_the_table() -> None:
    assert {p.name.removesuffix(".bad.yml") for p in TESTDATA.glob("*.bad.yml")} == set(BAD)


@pytest.mark.parametrize(("name", "expected"), BAD.items(), ids=BAD.keys())
def test_bad_manifest(name: str, expected: str) -> None:
    path = str(TESTDATA / f"{name}.bad.yml")
    with pytest.raises(ConfigError) as info:
        load_hpa_file(path)
    assert str(info.value) == f"{path}:{expected}"


def test_full_manifest_with_defaults() -> None:
    web, api = (item.hpa for item in load_hpa_file(TESTDATA / "full.good.yml"))
    assert (web.key, web.spec.min_replicas, web.spec.max_replicas) == ("shop/web", 2, 20)
    cpu, memory, pods, obj, ext = web.spec.metrics
    assert cpu.resource is not None
    assert cpu.resource.target.average_utilization == 60
    assert memory.container_resource is not None
    assert memory.container_resource.target.average_value is not None
    assert memory.container_resource.target.average_value.milli_value() == 512 * 2**20 * 1000
    assert pods.pods is not None
    assert pods.pods.target.average_value is not None
    assert pods.pods.target.average_value.milli_value() == 500
    assert pods.pods.metric.selector is not None
    assert pods.pods.metric.selector.match_labels == (("verb", "GET"),)
    assert obj.object is not None
    assert obj.object.target.value is not None
    assert (obj.object.described_object.kind, obj.object.target.value.milli_value()) == (
        "Ingress",
        10_000_000,
    )
    assert ext.external is not None
    assert ext.external.metric.selector is not None
    assert ext.external.metric.selector.match_expressions[0].values == ("orders",)
    behavior = web.spec.behavior
    assert behavior is not None
    assert behavior.scale_up is not None
    assert behavior.scale_down is not None
    up, down = behavior.scale_up, behavior.scale_down
    # a field written replaces its default; the rest are defaulted
    assert (up.stabilization_window_seconds, up.select_policy) == (0, "Max")
    assert up.policies == (HPAScalingPolicy("Pods", 2, 60),)
    assert up.tolerance is not None
    assert up.tolerance.approximate_float() == 0.05
    assert (down.stabilization_window_seconds, down.select_policy, down.tolerance) == (
        600,
        "Min",
        None,
    )
    assert down.policies == (HPAScalingPolicy("Percent", 100, 15),)
    # autoscaling/v1: targetCPUUtilizationPercentage becomes the cpu metric, minReplicas 1
    assert (api.api_version, api.spec.min_replicas, api.spec.behavior) == (
        "autoscaling/v1",
        1,
        None,
    )
    assert api.spec.metrics[0].resource is not None
    assert api.spec.metrics[0].resource.target.average_utilization == 70


def test_minimal_manifest_gets_the_default_metric() -> None:
    (item,) = load_hpa_file(TESTDATA / "minimal.good.yml")
    (metric,) = item.hpa.spec.metrics
    assert metric.resource is not None
    assert (metric.type, metric.resource.name, metric.resource.target.average_utilization) == (
        "Resource",
        "cpu",
        80,
    )
    assert (item.hpa.namespace, item.hpa.spec.min_replicas, item.hpa.spec.behavior) == (
        "default",
        1,
        None,
    )


SCALE_TO_ZERO = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: worker}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: worker}
  minReplicas: 0
  maxReplicas: 5
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleUp: {tolerance: 0.05}
"""


def test_feature_gates() -> None:
    gates = FeatureGates(hpa_scale_to_zero=True)
    with pytest.raises(
        ConfigError,
        match=r"^w.yml:9:5: spec.metrics: Forbidden: must specify at least one Object or External "
        "metric to support scaling to zero replicas$",
    ):
        load_hpa_text(SCALE_TO_ZERO, "w.yml", gates)
    external = SCALE_TO_ZERO.replace(
        "type: Resource\n      resource: {name: cpu, target: {type: Utilization, "
        "averageUtilization: 50}}",
        "type: External\n      external: {metric: {name: q}, target: {type: Value, value: 5}}",
    )
    (item,) = load_hpa_text(external, "w.yml", gates)
    assert item.hpa.spec.min_replicas == 0
    no_tolerance = FeatureGates(hpa_scale_to_zero=True, hpa_configurable_tolerance=False)
    (item,) = load_hpa_text(external, "w.yml", no_tolerance)
    assert item.hpa.spec.behavior is not None
    assert item.hpa.spec.behavior.scale_up is not None
    assert item.hpa.spec.behavior.scale_up.tolerance is None  # dropped, the behavior stays


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.05, "0.05"),
        (1e-7, "1e-7"),
        (1.5e-8, "1.5e-8"),
        (1e21, "1e+21"),
        (100.0, "100"),
        (0.0, "0"),
    ],
)
def test_yaml_floats_read_as_go_writes_them_in_json(value: float, text: str) -> None:
    assert go_json_float(value) == text


def test_v1_conversion_annotations_are_refused() -> None:
    text = (
        (TESTDATA / "minimal.good.yml")
        .read_text()
        .replace(
            "metadata: {name: minimal}",
            "metadata:\n  name: minimal\n  annotations:\n"
            "    {autoscaling.alpha.kubernetes.io/metrics: '[]'}",
        )
    )
    with pytest.raises(
        ConfigError,
        match=r"annotation 'autoscaling\.alpha\.kubernetes\.io/metrics' is not supported",
    ):
        load_hpa_text(text, "a.yml")


def test_yaml_syntax_error_has_its_position() -> None:
    with pytest.raises(ConfigError, match=r"^s.yml:2:5: invalid YAML"):
        load_hpa_text("a: b\nc: d: e\n", "s.yml")
