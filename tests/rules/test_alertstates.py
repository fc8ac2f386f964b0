"""The vectorised state machine (``rules/alertstates.py``) against ``AlertingRule`` itself:
for random presence patterns, ``for`` and ``keep_firing_for``, every alert's state at every
step and its ``activeAt`` must be what stepping the rule gives."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom.model.labels import Labels
from kubeprom.promql.api import QueryResult, ResultType
from kubeprom.rules.alerting import AlertingRule, AlertState
from kubeprom.rules.alertstates import episodes

STEP_MS = 60_000


class Vectors:
    """A query API answering each step with the alerts present there."""

    def __init__(self, present: dict[int, list[int]]) -> None:
        self.present = present

    def instant(self, expr: str, t_ms: int) -> QueryResult:
        rows = self.present.get(t_ms // STEP_MS, [])
        labels = [Labels([("a", str(r))]) for r in rows]
        return QueryResult(
            ResultType.VECTOR,
            labels,
            np.full(len(rows), t_ms, dtype=np.int64),
            np.ones(len(rows)),
            np.arange(len(rows) + 1, dtype=np.int64),
        )

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        raise AssertionError("not used")


def stepped(
    present: dict[int, list[int]], n: int, for_ms: int, keep_ms: int
) -> dict[tuple[int, int], tuple[str, int]]:
    """(row, step) -> (state, activeAt step) from the rule itself, pending/firing only."""
    rule = AlertingRule(
        "A",
        "x",
        for_ms=for_ms,
        keep_firing_for_ms=keep_ms,
        labels=Labels(),
        annotations=Labels(),
        external_labels={},
    )
    api = Vectors(present)
    out = {}
    for k in range(n):
        rule.evaluate(k * STEP_MS, 0, api, 0)
        for a in rule.active.values():
            if a.state in (AlertState.PENDING, AlertState.FIRING):
                out[(int(a.labels.get("a")), k)] = (a.state.value, a.active_at_ms // STEP_MS)
    return out


def vectorised(
    present: dict[int, list[int]], n: int, for_ms: int, keep_ms: int
) -> dict[tuple[int, int], tuple[str, int]]:
    pairs = [(r, k) for k, rows in present.items() for r in rows]
    rows = np.array([p[0] for p in pairs], dtype=np.int64)
    steps = np.array([p[1] for p in pairs], dtype=np.int64)
    ep = episodes(rows, steps, n, STEP_MS, for_ms, keep_ms)
    out = {}
    for row, active, fired, last, ended in zip(
        ep.rows.tolist(),
        ep.active.tolist(),
        ep.fired.tolist(),
        ep.last.tolist(),
        ep.ended.tolist(),
        strict=True,
    ):
        for k in range(active, last + 1):
            state = "firing" if fired >= 0 and k >= fired else "pending"
            out[(row, k)] = (state, active)
        assert ended == (last + 1 if last + 1 < n else -1)
    return out


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 30),
    rows=st.integers(1, 3),
    density=st.floats(0.2, 0.95),
    seed=st.integers(0, 2**32 - 1),
    for_steps=st.sampled_from([0, 1, 2, 3, 5]),
    for_extra_ms=st.sampled_from([0, 1, 30_000]),
    keep_ms=st.sampled_from([0, 1, 60_000, 90_000, 120_000, 300_000]),
)
def test_same_states_as_the_rule(
    n: int, rows: int, density: float, seed: int, for_steps: int, for_extra_ms: int, keep_ms: int
) -> None:
    rng = np.random.default_rng(seed)
    mask = rng.random((rows, n)) < density
    present = {k: [r for r in range(rows) if mask[r, k]] for k in range(n)}
    for_ms = for_steps * STEP_MS + for_extra_ms
    assert vectorised(present, n, for_ms, keep_ms) == stepped(present, n, for_ms, keep_ms)


def test_an_example_by_hand() -> None:
    # returned at steps 0-3 and 5-6; for 2m: pending 0-1, firing 2-3, resolved at 4;
    # active again at 5 (new activeAt), dropped at 7 while still pending.
    ep = episodes(np.zeros(6, np.int64), np.array([0, 1, 2, 3, 5, 6]), 10, STEP_MS, 120_000, 0)
    assert ep.active.tolist() == [0, 5]
    assert ep.fired.tolist() == [2, -1]
    assert ep.last.tolist() == [3, 6]
    assert ep.ended.tolist() == [4, 7]
    # keep_firing_for 2m carries the first over the gap at 4: one episode, firing to 6
    ep = episodes(
        np.zeros(6, np.int64), np.array([0, 1, 2, 3, 5, 6]), 10, STEP_MS, 120_000, 120_000
    )
    assert ep.active.tolist() == [0]
    assert ep.fired.tolist() == [2]
    assert ep.last.tolist() == [8]
    assert ep.ended.tolist() == [9]
