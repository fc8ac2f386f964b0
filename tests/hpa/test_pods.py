"""Pod grouping and requests: the vectorised code against a pod-by-pod transcription of
upstream's groupPods, and the request rules (sidecars, pod-level requests, errors)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom.hpa.pods import (
    Container,
    Phase,
    Pod,
    PodList,
    PodSamples,
    PodTemplate,
    Ready,
    group_pods,
    pod_requests,
    ready_running_count,
)

NOW = 10_000_000
INIT, DELAY = 120_000, 10_000


def reference_group(
    pods: list[Pod], samples: dict[str, tuple[int, int, int]], resource: str
) -> tuple[set[str], set[str], set[str], set[str]]:
    """upstream's groupPods, pod by pod, as replica_calculator.go writes it."""
    ready, unready, missing, ignored = set(), set(), set(), set()
    for pod in pods:
        if pod.deleting or pod.phase == Phase.FAILED:
            ignored.add(pod.name)
            continue
        if pod.phase == Phase.PENDING:
            unready.add(pod.name)
            continue
        if pod.name not in samples:
            missing.add(pod.name)
            continue
        if resource == "cpu":
            _, ts, window = samples[pod.name]
            transition = (
                pod.ready_transition_ms if pod.ready_transition_ms is not None else pod.start_ms
            )
            if pod.ready == Ready.ABSENT or pod.start_ms is None:
                is_unready = True
            elif pod.start_ms + INIT > NOW:
                assert transition is not None
                is_unready = pod.ready == Ready.FALSE or ts < transition + window
            else:
                assert transition is not None
                is_unready = pod.ready == Ready.FALSE and pod.start_ms + DELAY > transition
            if is_unready:
                unready.add(pod.name)
                continue
        ready.add(pod.name)
    return ready, unready, missing, ignored


# Ages around every boundary the rules compare against (windows, periods, delays).
AGES = [0, 1, 9_999, 10_000, 10_001, 30_000, 60_000, 110_000, 119_999, 120_000, 120_001, 400_000]
times = st.one_of(
    st.none(), st.sampled_from([NOW - a for a in AGES]), st.integers(NOW - 400_000, NOW)
)


@st.composite
def pod_sets(draw: st.DrawFn) -> tuple[list[Pod], dict[str, tuple[int, int, int]]]:
    n = draw(st.integers(0, 12))
    pods = [
        Pod(
            name=f"p{i}",
            phase=draw(st.sampled_from(list(Phase))),
            deleting=draw(st.booleans()),
            ready=draw(st.sampled_from(list(Ready))),
            start_ms=draw(times),
            ready_transition_ms=draw(times),
        )
        for i in range(n)
    ]
    names = [f"p{i}" for i in range(n + 3)]  # a few samples of pods not in the list
    chosen = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
    samples = {
        name: (
            1,
            draw(
                st.one_of(st.sampled_from([NOW - a for a in AGES]), st.integers(NOW - 200_000, NOW))
            ),
            draw(st.sampled_from([30_000, 60_000])),
        )
        for name in chosen
    }
    return pods, samples


@settings(max_examples=300, deadline=None)
@given(pod_sets(), st.sampled_from(["cpu", "memory", ""]))
def test_grouping_matches_upstream(
    case: tuple[list[Pod], dict[str, tuple[int, int, int]]], resource: str
) -> None:
    pods, samples = case
    plist = PodList.of(pods)
    g = group_pods(plist, PodSamples.of(samples), resource, NOW, INIT, DELAY)
    got = tuple(
        {str(n) for n in plist.names[mask]} for mask in (g.ready, g.unready, g.missing, g.ignored)
    )
    assert got == reference_group(pods, samples, resource)
    superfluous = {
        str(n) for n, p in zip(PodSamples.of(samples).names, g.sample_pod, strict=True) if p < 0
    }
    assert superfluous == set(samples) - {p.name for p in pods}


SIDE = PodTemplate(
    (
        Container("app", (("cpu", 200), ("memory", 1000))),
        Container("proxy", (("cpu", 50),), sidecar=True),
    )
)


def test_requests_count_sidecars_and_pick_one_container() -> None:
    pods = PodList.of([Pod("a", SIDE), Pod("b", SIDE)])
    assert pod_requests(pods, "cpu").tolist() == [250, 250]  # type: ignore[union-attr]
    assert pod_requests(pods, "cpu", "proxy").tolist() == [50, 50]  # type: ignore[union-attr]
    assert pod_requests(pods, "memory") == "missing request for memory in container proxy of Pod a"
    assert pod_requests(pods, "cpu", "db") == "container db not found in Pod a"


def test_the_first_pod_in_list_order_names_the_missing_request() -> None:
    bare = PodTemplate((Container("app"),))
    pods = PodList.of([Pod("a", SIDE), Pod("b", bare), Pod("c", bare)])
    assert pod_requests(pods, "cpu") == "missing request for cpu in container app of Pod b"


def test_pod_level_requests_replace_the_container_sum() -> None:
    template = PodTemplate(SIDE.containers, pod_requests=(("cpu", 1000),))
    pods = PodList.of([Pod("a", template)])
    assert pod_requests(pods, "cpu").tolist() == [1000]  # type: ignore[union-attr]
    assert pod_requests(pods, "cpu", pod_level=False).tolist() == [250]  # type: ignore[union-attr]
    assert pod_requests(pods, "cpu", "app").tolist() == [200]  # type: ignore[union-attr]
    assert pod_requests(pods, "memory") == "missing pod-level request for memory in Pod a"


def test_ready_running_count_ignores_deletion() -> None:
    pods = PodList.of(
        [
            Pod("a"),
            Pod("b", deleting=True),
            Pod("c", ready=Ready.FALSE),
            Pod("d", phase=Phase.PENDING),
            Pod("e", phase=Phase.SUCCEEDED),
        ]
    )
    assert ready_running_count(pods) == 2


@pytest.mark.parametrize(
    ("pod", "sample", "ready"),
    [
        # started exactly one initialization period ago: out of it, and ready
        (Pod("p", start_ms=NOW - INIT), (1, NOW - 100_000, 60_000), True),
        # inside the period, one full window since the transition: fresh, ready
        (Pod("p", start_ms=NOW - 60_000), (1, NOW, 60_000), True),
        # inside the period, the window reaches back before the transition
        (Pod("p", start_ms=NOW - 60_000), (1, NOW - 1, 60_000), False),
        # unready since exactly the readiness delay after start: it had been ready
        (
            Pod("p", ready=Ready.FALSE, start_ms=NOW - 400_000, ready_transition_ms=NOW - 390_000),
            (1, NOW, 60_000),
            True,
        ),
        # unready within the delay: never was ready
        (
            Pod("p", ready=Ready.FALSE, start_ms=NOW - 400_000, ready_transition_ms=NOW - 390_001),
            (1, NOW, 60_000),
            False,
        ),
        # Ready=Unknown is not False: after the period it counts
        (Pod("p", ready=Ready.UNKNOWN, start_ms=NOW - 400_000), (1, NOW, 60_000), True),
    ],
    ids=[
        "init-boundary",
        "fresh-window",
        "stale-window",
        "delay-boundary",
        "never-ready",
        "unknown",
    ],
)
def test_cpu_readiness_boundaries(pod: Pod, sample: tuple[int, int, int], ready: bool) -> None:
    g = group_pods(PodList.of([pod]), PodSamples.of({"p": sample}), "cpu", NOW, INIT, DELAY)
    assert (bool(g.ready[0]), bool(g.unready[0])) == (ready, not ready)
    assert reference_group([pod], {"p": sample}, "cpu")[0] == ({"p"} if ready else set())
