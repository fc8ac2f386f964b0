"""KEDA with prometheus triggers: its 0 <-> 1 loop beside the HPA's 1 <-> N, fallback, and the
Prometheus scaler's handling of odd results, over stored series in virtual time.

Timelines are worked out by hand from KEDA's ``RequestScale`` (activation strictly above
``activationThreshold``, cooldown strictly after ``lastActiveTime + cooldownPeriod``) and the
HPA's algorithm (legacy normalization: at most ``max(2 x current, 4)`` up, five minutes of
downscale stabilization).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from kubeprom.config.hpa_spec import LabelSelector
from kubeprom.config.keda import LoadedScaledObject, PrometheusTrigger, load_scaled_objects_text
from kubeprom.hpa.controller import HPAState, Scale, SyncInputs, reconcile
from kubeprom.hpa.keda import KedaOperator, quantity_of, run_trigger
from kubeprom.hpa.metrics import MetricsBackends
from kubeprom.hpa.pods import Pod, PodList
from kubeprom.hpa.source import MetricFailure
from kubeprom.model.labels import Labels
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.tsdb.memstore import MemStore

T0 = 1_800_000_000_000
STEP = 15_000
LOST = "prometheus metrics 'prometheus' target may be lost, "
RPC = (
    "unable to fetch metrics from external metrics API: rpc error: code = Unknown desc = error "
    "when getting metric values "
)


def scaled_object(
    spec: str, query: str = "max(queue_depth)", extra: str = ""
) -> LoadedScaledObject:
    text = f"""
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {{name: worker, namespace: default}}
spec:
  scaleTargetRef: {{name: worker}}
{spec}
  triggers:
    - type: prometheus
      metadata:
        serverAddress: http://prometheus:9090
        query: '{query}'
        threshold: "10"
        activationThreshold: "5"
{extra}
"""
    return load_scaled_objects_text(text, "so.yml")[0]


def store_with(segments: list[tuple[int, float]], end_s: int, *, series: int = 1) -> MemStore:
    """``queue_depth`` every 15 s: value ``v`` from each ``(from_s, v)`` on."""
    ts = np.arange(T0, T0 + end_s * 1000 + 1, STEP, dtype=np.int64)
    values = np.zeros(ts.size)
    for from_s, v in segments:
        values[ts >= T0 + from_s * 1000] = v
    store = MemStore()
    for i in range(series):
        labels = Labels.from_dict({"__name__": "queue_depth", "shard": str(i)})
        store.load({labels: (ts, values.copy())})
    return store


def ready_pods(n: int) -> PodList:
    return PodList.of([Pod(f"worker-{i}") for i in range(n)])


def run_timeline(
    loaded: LoadedScaledObject, store: MemStore, end_s: int, replicas: int
) -> list[tuple[int, str, int]]:
    """KEDA's loop every pollingInterval and the HPA every 15 s, both applied to the target;
    returns ``(seconds, who, replicas)`` for every change."""
    api = LocalQueryAPI(lambda: store)
    backends = MetricsBackends(api, scaled_objects=[loaded], created_ms=T0)
    keda = backends.keda
    assert keda is not None
    [hpa] = keda.hpas()
    key = loaded.scaled_object.key
    state = HPAState()
    last_poll: int | None = None
    changes = []
    for t in range(T0, T0 + end_s * 1000 + 1, STEP):
        if keda.due(key, last_poll, t):
            last_poll = t
            poll = keda.poll(key, t, replicas, ready_pods(replicas))
            if poll.scale_to is not None and poll.scale_to != replicas:
                replicas = poll.scale_to
                changes.append(((t - T0) // 1000, "keda", replicas))
        pods = ready_pods(replicas)
        source = backends.source(pods, t, spec_replicas=replicas)
        inputs = SyncInputs(Scale(replicas, replicas, "app=worker"), pods, source)
        result = reconcile(hpa, state, inputs, t)
        state = result.state
        if result.scaled_to is not None and result.scaled_to != replicas:
            replicas = result.scaled_to
            changes.append(((t - T0) // 1000, "hpa", replicas))
    return changes


def test_activation_scale_out_cooldown_and_back_to_zero() -> None:
    loaded = scaled_object("  minReplicaCount: 0\n  maxReplicaCount: 10\n  cooldownPeriod: 60")
    store = store_with([(0, 0.0), (120, 40.0), (300, 0.0)], 900)
    changes = run_timeline(loaded, store, 900, replicas=0)
    # 120 s: the poll sees 40 > 5 and KEDA activates 0 -> 1; the HPA's sync at the same time
    # wants 40/10 = 4 pods and may go to max(2 x 1, 4) = 4 at once. 300 s: the value drops;
    # the HPA keeps 4 for its five minutes of stabilization, while KEDA's last active poll was
    # at 270 s: 270 + 60 < t first holds at the 360 s poll, which scales to 0 (the HPA is then
    # disabled at 0).
    assert changes == [(120, "keda", 1), (120, "hpa", 4), (360, "keda", 0)]


def test_idle_replica_count() -> None:
    loaded = scaled_object(
        "  idleReplicaCount: 0\n  minReplicaCount: 2\n  maxReplicaCount: 10\n  cooldownPeriod: 30"
    )
    store = store_with([(0, 0.0), (150, 12.0)], 300)
    changes = run_timeline(loaded, store, 300, replicas=2)
    # 0 s: never active and created now: the initial cooldown (0 s) has not passed (strictly);
    # 30 s: 2 > idle 0, inactive: to idle. 150 s: active with 0 < min: to min 2 (not 1); the
    # HPA wants ceil(12 / 10) = 2 and leaves it.
    assert changes == [(30, "keda", 0), (150, "keda", 2)]


def test_fallback_after_the_failure_threshold() -> None:
    spec = "  fallback: {failureThreshold: 2, replicas: 5}"
    loaded = scaled_object(spec, query="queue_depth")  # two series: an error every time
    store = store_with([(0, 3.0)], 60, series=2)
    keda = KedaOperator([loaded], LocalQueryAPI(lambda: store), T0)
    selector = LabelSelector(match_labels=(("scaledobject.keda.sh/name", "worker"),))
    got = [
        keda.external("default", "s0-prometheus", selector, T0, spec_replicas=2) for _ in range(4)
    ]
    error = MetricFailure(f"{RPC}metric:s0-prometheus encountered error")
    # failures 1 and 2 are reported; from the third on, threshold 10 x 5 replicas
    assert got == [error, error, [50_000], [50_000]]
    status = keda.status("default/worker")
    assert status.health_of("s0-prometheus").failures == 4
    fallback = status.condition("Fallback")
    assert fallback is not None
    assert (fallback.status, fallback.reason) == ("True", "FallbackExists")
    assert keda.notes("default/worker") == [
        "s0-prometheus: fallback to 5 replicas after 4 failures",
    ]


def test_fallback_of_a_value_metric_divides_by_ready_pods() -> None:
    spec = "  fallback: {failureThreshold: 0, replicas: 5, behavior: currentReplicasIfHigher}"
    loaded = scaled_object(spec, query="queue_depth", extra="      metricType: Value")
    store = store_with([(0, 3.0)], 60, series=2)
    keda = KedaOperator([loaded], LocalQueryAPI(lambda: store), T0)
    selector = LabelSelector(match_labels=(("scaledobject.keda.sh/name", "worker"),))
    # current 7 is higher than 5: 7 replicas over 2 ready pods at 10 each
    value = keda.external(
        "default", "s0-prometheus", selector, T0, spec_replicas=7, pods=ready_pods(2)
    )
    assert value == [35_000]
    none_ready = keda.external(
        "default", "s0-prometheus", selector, T0, spec_replicas=7, pods=ready_pods(0)
    )
    assert none_ready == MetricFailure(f"{RPC}metric:s0-prometheus encountered error")


def test_a_success_resets_the_health() -> None:
    spec = "  fallback: {failureThreshold: 1, replicas: 5}"
    loaded = scaled_object(spec)
    store = store_with([(0, 8.0)], 60)
    keda = KedaOperator([loaded], LocalQueryAPI(lambda: store), T0)
    selector = LabelSelector(match_labels=(("scaledobject.keda.sh/name", "worker"),))
    assert keda.external("default", "s0-prometheus", selector, T0) == [8_000]
    health = keda.status("default/worker").health_of("s0-prometheus")
    assert (health.failures, health.failing) == (0, False)
    fallback = keda.status("default/worker").condition("Fallback")
    assert fallback is not None
    assert (fallback.status, fallback.reason) == ("False", "NoFallbackFound")


@pytest.mark.parametrize(
    ("query", "ignore", "want"),
    [
        ("max(queue_depth)", True, (8.0, 8000, True)),
        ("max(queue_depth) - 3", True, (5.0, 5000, False)),  # activation is strictly above
        ("max(queue_depth) / 640", True, (0.0125, 13, False)),  # %.3f rounds; int64() gives 12
        ("max(queue_depth) - 11", True, (-3.0, 0, False)),  # negatives become 0
        ("max(nothing_here)", True, (0.0, 0, False)),
        ("max(queue_depth) / 0", True, (0.0, 0, False)),
        ("queue_depth[1m]", True, (0.0, 0, False)),
        ("max(nothing_here)", False, f"{LOST}the result is empty"),
        ("queue_depth[1m]", False, f"{LOST}the value list is empty"),
        ("max(queue_depth) / 0", False, "prometheus query returns +Inf"),
        ("max(queue_depth) - max(queue_depth) / 0", False, "prometheus query returns -Inf"),
        ("max(queue_depth) * 0 / 0", False, "prometheus query returns NaN"),
        ("scalar(max(queue_depth))", True,
         "json: cannot unmarshal number into Go struct field promQueryResult.data.result of type "
         'struct { Metric struct {} "json:\\"metric\\""; Value []interface {} '
         '"json:\\"value\\"" }'),
        ("queue_pair", True, "prometheus query queue_pair returned multiple elements"),
        ("max(queue_depth", True, "prometheus query api returned error. status: 400"),
    ],
)  # fmt: skip
def test_the_prometheus_scaler(query: str, ignore: bool, want: object) -> None:
    store = store_with([(0, 8.0)], 60)
    ts = np.arange(T0, T0 + 60_001, STEP, dtype=np.int64)
    for shard in ("a", "b"):
        pair = Labels.from_dict({"__name__": "queue_pair", "shard": shard})
        store.load({pair: (ts, np.ones(ts.size))})
    trigger = PrometheusTrigger(0, "", "http://p", query, 10.0, 5.0, ignore)
    got = run_trigger(LocalQueryAPI(lambda: store), trigger, T0 + 60_000)
    if isinstance(want, str):
        assert got.error == want
    else:
        assert (got.value, got.milli, got.active) == want


def test_quantities_round_as_keda_does() -> None:
    assert quantity_of(0.0126).milli_value() == 13
    assert quantity_of(1.0005).milli_value() == 1000  # 1.000499999... in binary
    assert quantity_of(2.0005).milli_value() == 2001  # 2.000500000...2
    assert quantity_of(math.nan).milli_value() == 0
    assert quantity_of(-1.0).milli_value() == 0


def test_the_metrics_server_errors_the_hpa_sees() -> None:
    store = store_with([(0, 8.0)], 60)
    keda = KedaOperator([scaled_object("")], LocalQueryAPI(lambda: store), T0)
    owner = LabelSelector(match_labels=(("scaledobject.keda.sh/name", "worker"),))
    assert keda.external("default", "s0-prometheus", None, T0) == MetricFailure(
        "unable to fetch metrics from external metrics API: scaledObject name is not specified"
    )
    other = LabelSelector(match_labels=(("scaledobject.keda.sh/name", "other"),))
    assert keda.external("default", "s0-prometheus", other, T0) == MetricFailure(
        f'{RPC}error getting scalers scaledobjects.keda.sh "other" not found'
    )
    assert keda.external("default", "s1-prometheus", owner, T0) == MetricFailure(
        f"{RPC}no matching metrics found for s1-prometheus"
    )


def test_cached_metrics_come_from_the_last_poll() -> None:
    loaded = scaled_object("", extra="      useCachedMetrics: true")
    store = store_with([(0, 8.0), (30, 20.0)], 60)
    keda = KedaOperator([loaded], LocalQueryAPI(lambda: store), T0)
    owner = LabelSelector(match_labels=(("scaledobject.keda.sh/name", "worker"),))
    keda.poll("default/worker", T0, 1)
    # at 45 s the series says 20, but the HPA gets what the poll at 0 s read
    assert keda.external("default", "s0-prometheus", owner, T0 + 45_000) == [8_000]
