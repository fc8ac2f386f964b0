"""KEDA ScaledObjects: bad files fail where the API server, KEDA's webhook or the Prometheus
scaler would refuse them (and where kubeprom cannot honour a field), at the field's place;
good ones load with KEDA's defaults and give the HPA KEDA creates."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeprom.config.hpa_spec import LoadedHPA
from kubeprom.config.keda import load_autoscalers_text, load_scaled_objects_file
from kubeprom.errors import ConfigError
from kubeprom.hpa.keda import check_generated_hpa
from kubeprom.model.quantity import milli_text

TESTDATA = Path(__file__).parent / "testdata" / "keda"

# (file, the error after "<path>:")
BAD = {
    "authentication": "8:26: spec.triggers[0].authenticationRef: authenticationRef is not "
    "supported by kubeprom",
    "behavior": "10:42: "
    "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleUp.policies[0].value: the "
    "HPA KEDA creates is invalid: spec.behavior.scaleUp.policies[0].value: Invalid "
    "value: 0: must be greater than zero",
    "cpu_trigger": "7:13: spec.triggers[0].type: trigger type 'cpu' is not supported: "
    "kubeprom runs prometheus triggers",
    "custom_headers": "12:24: spec.triggers[0].metadata.customHeaders: error parsing "
    "prometheus metadata: customHeaders: request headers is not supported by kubeprom",
    "duplicate_trigger_name": '11:13: spec.triggers[1].name: triggerName "rps" is defined '
    "multiple times in the ScaledObject/ScaledJob, but it must be unique",
    "fallback_behavior": '6:58: spec.fallback.behavior: Unsupported value: "sometimes": '
    'supported values: "static", "currentReplicas", "currentReplicasIfHigher", '
    '"currentReplicasIfLower", "scalingModifiers"',
    "fallback_replicas": "6:13: spec.fallback.replicas: Required value",
    "idle_not_below_min": "6:21: spec.idleReplicaCount: IdleReplicaCount=1 must be less than "
    "MinReplicaCount=1",
    "ignore_null": "8:97: spec.triggers[0].metadata.ignoreNullValues: error parsing "
    'prometheus metadata: unable to set param "ignoreNullValues" value "maybe": unable '
    'to parse boolean value "maybe": strconv.ParseBool: parsing "maybe": invalid syntax',
    "min_above_max": "6:20: spec.minReplicaCount: minReplicaCount must be less than or equal "
    "to maxReplicaCount",
    "missing_query": "9:9: spec.triggers[0].metadata: error parsing prometheus metadata: "
    'missing required parameter "query" in [triggerMetadata]',
    "polling_zero": "6:20: spec.pollingInterval: Invalid value: 0: spec.pollingInterval in "
    "body should be greater than or equal to 1",
    "scaling_modifiers": "7:23: spec.advanced.scalingModifiers: scalingModifiers is not "
    "supported by kubeprom",
    "threshold_integer": "11:20: spec.triggers[0].metadata.threshold: Invalid value: "
    '"integer": spec.triggers[0].metadata.threshold in body must be of type string: '
    '"integer"',
    "threshold_text": "11:20: spec.triggers[0].metadata.threshold: error parsing prometheus "
    'metadata: unable to set param "threshold" value "lots": unable to unmarshal to '
    "field type float64: invalid value 'lots'",
    "threshold_zero": "11:20: spec.triggers[0].metadata.threshold: the HPA KEDA creates is "
    'invalid: spec.metrics[0].external.target.averageValue: Invalid value: "0.000": must '
    "be positive",
    "unknown_field": "6:3: spec.replicas: field replicas not found in type "
    "v1alpha1.ScaledObjectSpec",
    "utilization": "8:19: spec.triggers[0].metricType: error getting scaler metric type: "
    "'Utilization' metric type is unsupported for external metrics, allowed values are "
    "'Value' or 'AverageValue'",
    "wrong_kind": "2:7: kind: expected apiVersion 'keda.sh/v1alpha1' and kind "
    "'ScaledObject', got 'keda.sh/v1alpha1' and 'ScaledJob'",
}


def test_every_fixture_is_listed() -> None:
    names = {p.name.split(".")[0] for p in TESTDATA.glob("*.yml")}
    assert names == set(BAD) | {"full", "minimal"}


def _load_and_check(path: Path) -> None:
    for loaded in load_scaled_objects_file(path):
        check_generated_hpa(loaded)


@pytest.mark.parametrize(("name", "message"), BAD.items(), ids=BAD.keys())
def test_bad(name: str, message: str) -> None:
    path = TESTDATA / f"{name}.bad.yml"
    with pytest.raises(ConfigError) as err:
        _load_and_check(path)
    assert str(err.value) == f"{path}:{message}"


def test_the_hpa_keda_creates() -> None:
    [loaded] = load_scaled_objects_file(TESTDATA / "full.good.yml")
    so = loaded.scaled_object
    assert (so.polling_interval_ms, so.cooldown_period_ms, so.initial_cooldown_period_ms) == (
        15_000,
        120_000,
        30_000,
    )
    assert so.fallback is not None
    assert (so.fallback.failure_threshold, so.fallback.replicas) == (3, 6)
    assert so.target_kind_string == "apps/v1.Deployment"
    hpa = check_generated_hpa(loaded)
    assert (hpa.name, hpa.namespace, hpa.spec.min_replicas, hpa.spec.max_replicas) == (
        "web-hpa",
        "shop",
        1,
        20,
    )
    targets = []
    for m in hpa.spec.metrics:
        assert m.external is not None
        t = m.external.target
        q = t.average_value if t.average_value is not None else t.value
        assert q is not None
        assert m.external.metric.selector is not None
        targets.append(
            (
                m.external.metric.name,
                t.type,
                milli_text(q.milli_value()),
                m.external.metric.selector.match_labels,
            )
        )
    owner = (("scaledobject.keda.sh/name", "web"),)
    assert targets == [
        ("s0-prometheus", "AverageValue", "100500m", owner),
        ("s1-prometheus", "Value", "1k", owner),
    ]
    behavior = hpa.spec.behavior
    assert behavior is not None
    assert behavior.scale_down is not None
    assert behavior.scale_down.stabilization_window_seconds == 60
    assert behavior.scale_up is not None  # the API server's defaults fill the other direction
    assert behavior.scale_up.select_policy == "Max"


def test_keda_defaults() -> None:
    [loaded] = load_scaled_objects_file(TESTDATA / "minimal.good.yml")
    so = loaded.scaled_object
    assert (so.namespace, so.polling_interval_ms, so.cooldown_period_ms) == (
        "default",
        30_000,
        300_000,
    )
    assert (so.min_replica_count, so.hpa_min_replicas, so.hpa_max_replicas) == (None, 1, 100)
    trigger = so.triggers[0]
    assert (trigger.metric_type, trigger.ignore_null_values, trigger.activation_threshold) == (
        "AverageValue",
        True,
        0.0,
    )
    hpa = check_generated_hpa(loaded)
    assert hpa.name == "keda-hpa-worker"
    assert hpa.spec.behavior is None  # no behavior: the legacy algorithm


def test_hpas_and_scaled_objects_in_one_file() -> None:
    text = (
        (TESTDATA / "minimal.good.yml").read_text()
        + "---\n"
        + (
            "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web}\n"
            "spec:\n  scaleTargetRef: {kind: Deployment, name: web}\n  maxReplicas: 0\n"
        )
    )
    with pytest.raises(ConfigError, match=r"^x\.yml:18:16: spec\.maxReplicas: Invalid value: 0"):
        load_autoscalers_text(text, "x.yml")
    objects = load_autoscalers_text(text.replace("maxReplicas: 0", "maxReplicas: 4"), "x.yml")
    assert [type(o).__name__ for o in objects] == ["LoadedScaledObject", "LoadedHPA"]
    assert isinstance(objects[1], LoadedHPA)
    assert objects[1].hpa.spec.max_replicas == 4
