"""Stabilization, rate limits and scale events at their boundaries."""

from __future__ import annotations

from kubeprom.config.hpa_spec import (
    SCALE_DOWN_DEFAULTS,
    SCALE_UP_DEFAULTS,
    HPAScalingPolicy,
    HPAScalingRules,
)
from kubeprom.hpa.behavior import (
    History,
    Recommendations,
    ScaleEvents,
    normalize_legacy,
    normalize_with_behavior,
    store_scale_event,
)

NOW = 1_000_000_000


def recs(*entries: tuple[int, int]) -> Recommendations:
    """(replicas, age in seconds)."""
    return Recommendations.of([(r, NOW - age * 1000) for r, age in entries])


def test_legacy_window_excludes_an_entry_exactly_its_age() -> None:
    n = normalize_legacy(recs((9, 300), (6, 299)), 8, 3, 1, 10, NOW, window_s=300)
    assert (n.trace.stabilized, n.recommendations.replicas.tolist()) == (6, [3, 6])
    assert n.trace.able_to_scale[0] == "ScaleDownStabilized"


def test_legacy_scale_up_cap_and_reason() -> None:
    n = normalize_legacy(Recommendations(), 3, 50, 1, 100, NOW, window_s=300)
    assert (n.desired, n.trace.limited, n.trace.limited_reason[0]) == (6, True, "ScaleUpLimit")
    n = normalize_legacy(Recommendations(), 3, 50, 1, 5, NOW, window_s=300)
    assert (n.desired, n.trace.limited_reason[0]) == (5, "TooManyReplicas")


def down(policies: tuple[HPAScalingPolicy, ...], select: str = "Max") -> HPAScalingRules:
    return HPAScalingRules(0, select, policies)


def test_percent_scale_down_truncates() -> None:
    rules = down((HPAScalingPolicy("Percent", 15, 60),))
    n = normalize_with_behavior(
        History(Recommendations()),
        10,
        1,
        1,
        100,
        SCALE_UP_DEFAULTS,
        rules,
        NOW,
        default_down_window_s=300,
    )
    # int32(10 * (1 - 0.15)) = int32(8.5) = 8
    assert (n.desired, n.trace.limited_reason[0]) == (8, "ScaleDownLimit")
    assert [(p.period_start, p.allowed) for p in n.trace.policies] == [(10, 8)]


def test_select_min_on_the_way_down_takes_the_gentler_policy() -> None:
    rules = down((HPAScalingPolicy("Pods", 1, 60), HPAScalingPolicy("Percent", 50, 60)), "Min")
    n = normalize_with_behavior(
        History(Recommendations()),
        10,
        1,
        1,
        100,
        SCALE_UP_DEFAULTS,
        rules,
        NOW,
        default_down_window_s=300,
    )
    assert n.desired == 9


def test_disabled_scale_down_holds_the_count() -> None:
    rules = down((HPAScalingPolicy("Pods", 5, 60),), "Disabled")
    n = normalize_with_behavior(
        History(Recommendations()),
        10,
        1,
        1,
        100,
        SCALE_UP_DEFAULTS,
        rules,
        NOW,
        default_down_window_s=300,
    )
    assert (n.desired, n.trace.limited, n.trace.limited_reason[0]) == (10, True, "ScaleDownLimit")


def test_an_event_exactly_one_period_old_no_longer_limits() -> None:
    rules = HPAScalingRules(0, "Max", (HPAScalingPolicy("Pods", 2, 60),))
    events = ScaleEvents.of([(2, NOW - 60_000)])
    history = History(Recommendations(), scale_up=events)
    n = normalize_with_behavior(
        history, 10, 20, 1, 100, rules, SCALE_DOWN_DEFAULTS, NOW, default_down_window_s=300
    )
    assert n.desired == 12  # the period starts at 10, not 8
    events = ScaleEvents.of([(2, NOW - 59_999)])
    n = normalize_with_behavior(
        History(Recommendations(), scale_up=events),
        10,
        20,
        1,
        100,
        rules,
        SCALE_DOWN_DEFAULTS,
        NOW,
        default_down_window_s=300,
    )
    assert n.desired == 10


def test_behavior_window_bounds_and_slot_reuse() -> None:
    up = HPAScalingRules(120, "Max", SCALE_UP_DEFAULTS.policies)
    dn = HPAScalingRules(None, "Max", SCALE_DOWN_DEFAULTS.policies)
    history = History(recs((7, 600), (4, 60), (9, 200), (2, 400)))
    n = normalize_with_behavior(history, 5, 8, 1, 100, up, dn, NOW, default_down_window_s=300)
    # up window (120 s) holds 4; down window (300 s, the default) holds 4 and 9
    assert (n.trace.up_bound, n.trace.down_bound, n.trace.stabilized) == (4, 9, 5)
    assert n.trace.able_to_scale[0] == "ScaleUpStabilized"
    assert n.recommendations.replicas.tolist() == [7, 4, 9, 8]  # the last old slot is reused


def test_store_marks_old_events_and_reuses_the_last_outdated_slot() -> None:
    rules = HPAScalingRules(0, "Max", (HPAScalingPolicy("Pods", 4, 30),))
    events = ScaleEvents.of([(1, NOW - 40_000), (2, NOW - 10_000), (3, NOW - 31_000)])
    after = store_scale_event(History(None, events), rules, SCALE_DOWN_DEFAULTS, 5, 9, NOW)
    up = after.scale_up
    assert (up.change.tolist(), up.outdated.tolist()) == ([1, 2, 4], [True, False, False])
    assert len(after.scale_down) == 0


def test_no_behavior_stores_nothing() -> None:
    history = History(None, ScaleEvents.of([(1, NOW)]))
    assert store_scale_event(history, None, None, 1, 5, NOW) is history
