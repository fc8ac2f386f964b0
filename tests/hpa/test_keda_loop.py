"""KEDA's scale loop as a step on explicit times: each ScaledObject on its own polling
interval, the replica count written to the target, events on the ScaledObject, one failing
object leaving the others alone."""

from __future__ import annotations

from collections.abc import Sequence

from kubeprom.config.hpa_spec import CrossVersionObjectReference
from kubeprom.config.keda import LoadedScaledObject, load_scaled_objects_text
from kubeprom.hpa.controller import Scale, ScaleFailure
from kubeprom.hpa.keda import KedaOperator
from kubeprom.hpa.keda_loop import KedaLoop
from kubeprom.hpa.manager import Autoscaler
from kubeprom.hpa.pods import Pod, PodList
from kubeprom.model.events import EventLog
from kubeprom.promql.api import LocalQueryAPI
from tests.hpa.test_keda import T0, store_with


class Targets:
    """Scale subresources by name; ``broken`` ones raise when read."""

    def __init__(self, replicas: dict[str, int], broken: Sequence[str] = ()) -> None:
        self.replicas = replicas
        self.broken = set(broken)
        self.synced: list[int] = []

    def sync(self, now_ms: int) -> None:
        self.synced.append(now_ms)

    def scale(self, namespace: str, ref: CrossVersionObjectReference) -> Scale | ScaleFailure:
        if ref.name in self.broken:
            raise RuntimeError(f"the cluster broke reading {ref.name}")
        return Scale(self.replicas[ref.name], self.replicas[ref.name], f"app={ref.name}")

    def pods(self, namespace: str, selector: str) -> PodList:
        name = selector.split("=", 1)[1]
        return PodList.of([Pod(f"{name}-{i}") for i in range(self.replicas[name])])

    def write_scale(
        self, namespace: str, ref: CrossVersionObjectReference, replicas: int
    ) -> str | None:
        self.replicas[ref.name] = replicas
        return None

    def observe(self, autoscalers: Sequence[Autoscaler]) -> None:
        pass


def _named(name: str, interval_s: int) -> LoadedScaledObject:
    text = f"""
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {{name: {name}}}
spec:
  scaleTargetRef: {{name: {name}}}
  pollingInterval: {interval_s}
  minReplicaCount: 0
  triggers:
    - type: prometheus
      metadata: {{serverAddress: x, query: max(queue_depth), threshold: "10",
                  activationThreshold: "5"}}
"""
    return load_scaled_objects_text(text, "so.yml")[0]


def _loop(targets: Targets, intervals: dict[str, int]) -> tuple[KedaLoop, EventLog]:
    store = store_with([(0, 0.0), (60, 20.0)], 600)  # queue_depth 0, then 20 from 60 s
    loaded = [_named(name, s) for name, s in intervals.items()]
    events = EventLog()
    keda = KedaOperator(loaded, LocalQueryAPI(lambda: store), T0)
    return KedaLoop(keda, targets, events), events


def test_each_scaled_object_on_its_interval_activates_its_target() -> None:
    targets = Targets({"a": 0, "b": 0})
    loop, events = _loop(targets, {"a": 30, "b": 45})
    assert loop.next_poll_ms(T0) == T0  # never polled: due now
    times = []
    t = T0
    while t <= T0 + 120_000:
        loop.poll_due(t)
        times.append(t)
        t = loop.next_poll_ms(t + 1)
    # a every 30 s, b every 45 s: the union of their grids.
    assert [x - T0 for x in times] == [0, 30_000, 45_000, 60_000, 90_000, 120_000]
    assert targets.synced == times
    # queue_depth is 20 (> 5) from 60 s: a activates at its poll at 60 s, b at 90 s.
    activated = {
        e.involved.name: (e.first_ms - T0, e.message, e.source)
        for e in events.events(kind="ScaledObject")
        if e.reason == "KEDAScaleTargetActivated"
    }
    assert activated == {
        "a": (
            60_000,
            "Scaled apps/v1.Deployment default/a from 0 to 1, triggered by s0-prometheus",
            "keda-operator",
        ),
        "b": (
            90_000,
            "Scaled apps/v1.Deployment default/b from 0 to 1, triggered by s0-prometheus",
            "keda-operator",
        ),
    }
    assert targets.replicas == {"a": 1, "b": 1}


def test_a_scaled_object_whose_target_breaks_leaves_the_others_alone() -> None:
    targets = Targets({"a": 0, "b": 0}, broken=["a"])
    loop, _events = _loop(targets, {"a": 30, "b": 30})
    for k in range(5):
        loop.poll_due(T0 + k * 30_000)
    assert targets.replicas == {"a": 0, "b": 1}
