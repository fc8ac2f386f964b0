"""Group evaluation at explicit times over a real store: order, staleness, offset, limit,
failures, the alert state machine, ALERTS series and for-state restore."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from kubeprom.clock import VirtualClock
from kubeprom.model.samples import is_stale
from kubeprom.rules.alerting import AlertingRule, AlertState
from kubeprom.rules.group import Group, GroupOptions
from kubeprom.rules.manager import RuleSettings, load_groups
from kubeprom.rules.rule import RuleHealth
from tests.rules.helpers import Store

M = 60_000


def group_from(tmp_path: Path, text: str, options: GroupOptions, *, restore: bool = False) -> Group:
    path = tmp_path / "rules.yml"
    path.write_text(text)
    settings = RuleSettings(files=(str(path),), evaluation_interval_ms=M)
    (g,) = load_groups(settings, options, should_restore=restore).values()
    return g


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "data")


def test_rules_see_what_earlier_rules_wrote_and_series_go_stale(
    tmp_path: Path, store: Store
) -> None:
    g = group_from(
        tmp_path,
        """
groups:
  - name: g
    rules:
      - record: job:x:sum
        expr: sum by (job) (x)
        labels: {kind: rec}
      - record: job:x:double
        expr: job:x:sum * 2
""",
        store.options(),
    )
    store.add(0, {'x{job="a",i="1"}': 1, 'x{job="a",i="2"}': 2, 'x{job="b",i="1"}': 5})
    g.evaluate(0)
    assert store.raw("job:x:sum") == {
        'job:x:sum{job="a", kind="rec"}': [(0, 3.0)],
        'job:x:sum{job="b", kind="rec"}': [(0, 5.0)],
    }
    assert store.raw("job:x:double") == {
        'job:x:double{job="a", kind="rec"}': [(0, 6.0)],
        'job:x:double{job="b", kind="rec"}': [(0, 10.0)],
    }
    # job="b" leaves the input: its recorded series end with a staleness marker.
    store.add(M, {'x{job="a",i="1"}': 4})
    store.add(M, {'x{job="b",i="1"}': math.nan})  # a real NaN still is a value
    g.evaluate(M)
    raw = store.raw("job:x:sum")
    assert raw['job:x:sum{job="a", kind="rec"}'] == [(0, 3.0), (M, 6.0)]
    b = raw['job:x:sum{job="b", kind="rec"}']
    assert b[0] == (0, 5.0)
    assert b[1][0] == M
    assert math.isnan(b[1][1])
    assert not is_stale(b[1][1])
    store.stale(2 * M, 'x{job="b",i="1"}')
    g.evaluate(2 * M)
    b = store.raw("job:x:sum")['job:x:sum{job="b", kind="rec"}']
    assert b[-1][0] == 2 * M
    assert is_stale(b[-1][1])
    assert [(r.name, r.health) for r in g.rules] == [
        ("job:x:sum", RuleHealth.OK),
        ("job:x:double", RuleHealth.OK),
    ]
    assert (g.stats.iterations_total, g.stats.evaluations_total, g.stats.last_samples) == (
        3,
        6,
        2,
    )


def test_a_failing_rule_sets_its_health_and_others_still_run(tmp_path: Path, store: Store) -> None:
    g = group_from(
        tmp_path,
        """
groups:
  - name: g
    rules:
      - record: same
        expr: '{__name__=~"a|b"}'
      - record: ok
        expr: a + 1
""",
        store.options(),
    )
    store.add(0, {"a": 1, "b": 2})
    g.evaluate(0)
    bad, good = g.rules
    assert (bad.health, bad.last_error) == (
        RuleHealth.ERR,
        "vector contains metrics with the same labelset after applying rule labels",
    )
    assert (good.health, good.last_error) == (RuleHealth.OK, "")
    assert store.raw("ok") == {"ok": [(0, 2.0)]}
    assert (g.stats.evaluations_total, g.stats.evaluation_failures_total) == (2, 1)


def test_query_offset_and_limit(tmp_path: Path, store: Store) -> None:
    g = group_from(
        tmp_path,
        """
groups:
  - name: g
    query_offset: 1m
    limit: 1
    rules:
      - record: one
        expr: sum(x)
      - record: many
        expr: x
""",
        store.options(),
    )
    store.add(0, {'x{i="1"}': 1, 'x{i="2"}': 2})
    store.add(M, {'x{i="1"}': 10, 'x{i="2"}': 20})
    g.evaluate(M)
    assert store.raw("one") == {"one": [(0, 3.0)]}  # queried and stored at t - 1m
    assert g.rules[1].last_error == "exceeded limit of 1 with 2 series"
    assert store.raw("many") == {}


ALERT = """
groups:
  - name: g
    rules:
      - alert: High
        expr: x > 1
        for: 2m
        keep_firing_for: %s
        labels: {severity: page}
        annotations: {summary: high}
"""


def _alerts(store: Store, t_ms: int) -> dict[str, float]:
    return store.instant("ALERTS", t_ms)


def test_alert_goes_pending_firing_resolved_with_alerts_series(
    tmp_path: Path, store: Store
) -> None:
    g = group_from(tmp_path, ALERT % "0s", store.options())
    rule = g.rules[0]
    assert isinstance(rule, AlertingRule)
    for i, v in enumerate([0, 5, 5, 5, 0, 0]):
        store.add(i * M, {'x{i="1"}': v})
    states = []
    for i in range(6):
        g.evaluate(i * M)
        states.append((rule.state(), [(a.state, a.active_at_ms) for a in rule.active.values()]))
    assert states == [
        (AlertState.INACTIVE, []),
        (AlertState.PENDING, [(AlertState.PENDING, M)]),
        (AlertState.PENDING, [(AlertState.PENDING, M)]),
        (AlertState.FIRING, [(AlertState.FIRING, M)]),
        (AlertState.INACTIVE, [(AlertState.INACTIVE, M)]),  # resolved, kept for 15m
        (AlertState.INACTIVE, [(AlertState.INACTIVE, M)]),
    ]
    assert rule.active_alerts() == []
    raw = store.raw("ALERTS")
    pending = 'ALERTS{alertname="High", alertstate="pending", i="1", severity="page"}'
    firing = 'ALERTS{alertname="High", alertstate="firing", i="1", severity="page"}'
    assert raw[pending][:2] == [(M, 1.0), (2 * M, 1.0)]
    assert raw[pending][2][0] == 3 * M
    assert is_stale(raw[pending][2][1])
    assert raw[firing][0] == (3 * M, 1.0)
    assert is_stale(raw[firing][1][1])
    for_state = store.raw("ALERTS_FOR_STATE")
    assert for_state['ALERTS_FOR_STATE{alertname="High", i="1", severity="page"}'][:3] == [
        (M, 60.0),
        (2 * M, 60.0),
        (3 * M, 60.0),
    ]


def test_keep_firing_for_holds_a_firing_alert(tmp_path: Path, store: Store) -> None:
    g = group_from(tmp_path, ALERT % "2m", store.options())
    rule = g.rules[0]
    assert isinstance(rule, AlertingRule)
    for i, v in enumerate([5, 5, 5, 0, 0, 0]):
        store.add(i * M, {'x{i="1"}': v})
    seen = []
    for i in range(6):
        g.evaluate(i * M)
        (a,) = rule.active.values()
        seen.append((a.state, a.keep_firing_since_ms))
    assert seen == [
        (AlertState.PENDING, None),
        (AlertState.PENDING, None),
        (AlertState.FIRING, None),
        (AlertState.FIRING, 3 * M),
        (AlertState.FIRING, 3 * M),
        (AlertState.INACTIVE, 3 * M),
    ]


def test_alerts_to_send_resend_and_ends_at(tmp_path: Path, store: Store) -> None:
    sent: list[tuple[str, list[tuple[AlertState, int | None, int | None]]]] = []
    opts = store.options(
        notify=lambda expr, alerts: sent.append(
            (expr, [(a.state, a.fired_at_ms, a.valid_until_ms) for a in alerts])
        )
    )
    g = group_from(tmp_path, ALERT.replace("for: 2m", "for: 0s") % "0s", opts)
    values = [5, 5, 5, 5, 0, 0, 0, 0]
    for i, v in enumerate(values):
        store.add(i * 30_000, {'x{i="1"}': v})
        g.evaluate(i * 30_000)
    # Sent when it fires, again once more than the 1m resend delay has passed, at once when
    # it resolves, and the resolved alert again after the resend delay; valid for 4 intervals.
    assert sent == [
        ("x > 1", [(AlertState.FIRING, 0, 4 * M)]),
        ("x > 1", [(AlertState.FIRING, 0, 90_000 + 4 * M)]),
        ("x > 1", [(AlertState.INACTIVE, 0, 120_000 + 4 * M)]),
        ("x > 1", [(AlertState.INACTIVE, 0, 210_000 + 4 * M)]),
    ]


def test_for_state_is_restored_after_a_restart(tmp_path: Path, store: Store) -> None:
    text = ALERT.replace("for: 2m", "for: 30m") % "0s"
    g = group_from(tmp_path, text, store.options())
    for i in range(12):
        store.add(i * M, {'x{i="1"}': 5})
        g.evaluate(i * M)
    rule = g.rules[0]
    assert isinstance(rule, AlertingRule)
    assert [a.active_at_ms for a in rule.active.values()] == [0]
    # Down from 11m to 20m; a new process restores: activeAt moves by the downtime (9m).
    g2 = group_from(tmp_path, text, store.options(), restore=True)
    store.add(20 * M, {'x{i="1"}': 5})
    store.add(21 * M, {'x{i="1"}': 5})
    g2.evaluate(20 * M)
    g2.evaluate(21 * M)
    assert store.raw("ALERTS_FOR_STATE")[
        'ALERTS_FOR_STATE{alertname="High", i="1", severity="page"}'
    ][-1] == (11 * M, 0.0)  # nothing written before the restore
    g2.restore_for_state(21 * M)
    rule2 = g2.rules[0]
    assert isinstance(rule2, AlertingRule)
    assert [a.active_at_ms for a in rule2.active.values()] == [(21 - 11) * M]
    assert rule2.restored


@pytest.mark.parametrize("slow", [False, True], ids=["on-time", "overrun"])
async def test_run_evaluates_at_slots_and_counts_missed_iterations(
    tmp_path: Path, store: Store, slow: bool
) -> None:
    g = group_from(
        tmp_path, "groups: [{name: g, rules: [{record: r, expr: vector(1)}]}]", store.options()
    )
    clock = VirtualClock(1_000_000_000)
    slots: list[int] = []
    first = g.eval_timestamp(clock.now_ms()) + M

    async def executor(fn: object) -> None:
        assert callable(fn)
        fn()
        slots.append(g.stats.last_eval_ms or 0)
        if slow and len(slots) == 2:
            await clock.sleep_ms(round(2.5 * M))  # this evaluation overruns two slots

    import asyncio

    task = asyncio.create_task(g.run(clock, executor))
    await clock.set_ms(first + 6 * M + 1)
    g.stop()
    await task
    if slow:
        # As Prometheus' ticker: the late tick evaluates the latest slot that has begun
        # (3m, already past), then the schedule goes on; one slot (2m) is missed.
        assert slots == [first + k * M for k in (0, 1, 3, 4, 5, 6)]
        assert (g.stats.iterations_missed_total, g.stats.iterations_total) == (1, 7)
    else:
        assert slots == [first + k * M for k in range(7)]
        assert (g.stats.iterations_missed_total, g.stats.iterations_total) == (0, 7)
    assert 0 <= first - g.offset_ns() // 1_000_000 - (first // M - 1) * M < M + 1
