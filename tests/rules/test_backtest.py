"""Backtests give what ``kubeprom run``'s groups would have done over the same history.

The reference steps the real groups (:meth:`Group.evaluate`) minute by minute over a copy of
the data; the backtest evaluates a range query per rule and the vectorised state machine.
Every alert's state and ``activeAt`` at every step, and the annotations when it fired, must
agree: recording rules feeding alerts, ``for``, ``keep_firing_for``, templated labels (one
depending on ``$value``), a group query offset, gaps and staleness markers in the data, and
range queries cut into chunks (the local engine evaluates every rule a chunk at a time).
Reading raw samples through a query API (``--server``)
gives the same as reading the store (``--data``) when the data has no staleness markers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from kubeprom.model.labels import Labels
from kubeprom.model.samples import STALE_NAN
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.rules.alerting import AlertingRule, AlertState
from kubeprom.rules.backtest import Backtest, BacktestOptions, BacktestResult
from kubeprom.rules.backtest_source import QueryAPIQuerier
from kubeprom.rules.group import GroupOptions
from kubeprom.rules.manager import load_groups, settings_from
from kubeprom.tsdb.memstore import MemStore

STEP = 60_000
N = 180  # three hours

RULES: dict[str, Any] = {
    "groups": [
        {
            "name": "recording",
            "rules": [
                {"record": "job:load:avg", "expr": "avg by (job) (load)"},
                {"record": "job:errors:rate2m", "expr": "sum by (job) (rate(errors_total[2m]))"},
            ],
        },
        {
            "name": "alerts",
            "rules": [
                {
                    "alert": "HighLoad",
                    "expr": "load > 6",
                    "for": "5m",
                    "labels": {"severity": "warning", "where": "{{ $labels.instance }}"},
                    "annotations": {"summary": 'load {{ $value | printf "%.1f" }}'},
                },
                {
                    "alert": "JobLoad",
                    "expr": "job:load:avg > 5",
                    "for": "3m",
                    "keep_firing_for": "4m",
                    "labels": {
                        "severity": "{{ if gt $value 6.0 }}critical{{ else }}warning{{ end }}"
                    },
                    "annotations": {"description": "{{ $labels.job }} at {{ $value }}"},
                },
                {
                    "alert": "Errors",
                    "expr": "job:errors:rate2m > 0.05",
                    "keep_firing_for": "2m",
                    "annotations": {"summary": "{{ $value | humanize }} errors/s"},
                },
                {"alert": "NoData", "expr": 'absent(load{instance="c"})', "for": "10m"},
            ],
        },
        {
            "name": "late",
            "query_offset": "1m",
            "rules": [{"alert": "LateLoad", "expr": "load > 7", "for": "2m"}],
        },
    ]
}


def data(seed: int, *, stale: bool) -> dict[Labels, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = {}
    for inst in ("a", "b", "c"):
        t = np.arange(0, N * STEP, 15_000, dtype=np.int64) + rng.integers(0, 15_000)
        walk = np.clip(5 + np.cumsum(rng.normal(0, 0.4, len(t))), 0, 12)
        keep = rng.random(len(t)) > 0.05
        if inst == "c":
            keep[len(t) // 3 : len(t) // 2] = False  # c goes away for a while
        v = walk.copy()
        if stale:
            v[np.nonzero(np.diff(keep.astype(int)) < 0)[0] + 1] = STALE_NAN
            keep |= np.isnan(v)
        out[Labels([("__name__", "load"), ("job", "node"), ("instance", inst)])] = (
            t[keep],
            v[keep],
        )
        errors = np.cumsum(rng.poisson(rng.choice([0.1, 3.0], len(t), p=[0.8, 0.2])))
        out[Labels([("__name__", "errors_total"), ("job", "node"), ("instance", inst)])] = (
            t,
            errors.astype(float),
        )
    return out


def stepped(series: dict[Labels, tuple[np.ndarray, np.ndarray]], rules: Path) -> dict[Any, Any]:
    """Each alert's (state, activeAt) per step, and its annotations at the step it fired,
    from the real groups."""
    store = MemStore()
    store.load(series)
    options = GroupOptions(query=LocalQueryAPI(lambda: store), appender=store.appender)
    groups = load_groups(
        settings_from([str(rules)], evaluation_interval_ms=STEP), options, should_restore=False
    )
    states: dict[Any, Any] = {}
    fired: dict[Any, Any] = {}
    for k in range(N + 1):
        for g in groups.values():
            g.evaluate(k * STEP)
            for r in g.rules:
                if not isinstance(r, AlertingRule):
                    continue
                for a in r.active.values():
                    if a.state in (AlertState.PENDING, AlertState.FIRING):
                        states[(r.name, a.labels, k)] = (a.state.value, a.active_at_ms)
                    if a.state is AlertState.FIRING and a.fired_at_ms == k * STEP:
                        fired[(r.name, a.labels, k)] = a.annotations
    return {"states": states, "fired": fired}


def unrolled(result: BacktestResult) -> dict[Any, Any]:
    states: dict[Any, Any] = {}
    fired: dict[Any, Any] = {}
    for r in result.alerts:
        assert r.error == "", r.error
        for e in r.episodes:
            last = e.last_ms // STEP
            for k in range(e.active_ms // STEP, last + 1):
                firing = e.fired_ms is not None and k * STEP >= e.fired_ms
                states[(r.name, e.labels, k)] = ("firing" if firing else "pending", e.active_ms)
            if e.fired_ms is not None:
                fired[(r.name, e.labels, e.fired_ms // STEP)] = e.annotations
            assert (e.ended_ms is None) == (last == N)
    return {"states": states, "fired": fired}


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(RULES))
    return path


def run(
    series: Any, rules: Path, *, chunk: int = 1440, remote: bool = False, local: bool = False
) -> BacktestResult:
    store = MemStore()
    store.load(series)
    query = LocalQueryAPI(lambda: store)
    source = QueryAPIQuerier(query) if remote else store
    options = BacktestOptions(0, N * STEP, 0, chunk_steps=chunk)
    return Backtest(query, lambda: source, options, local=local).run([str(rules)])


@pytest.mark.parametrize("local", [False, True], ids=["query-api", "local"])
@pytest.mark.parametrize("seed", range(6))
def test_same_as_stepping_the_groups(seed: int, local: bool, rules: Path) -> None:
    series = data(seed, stale=seed % 2 == 1)
    want = stepped(series, rules)
    got = unrolled(run(series, rules, chunk=37, local=local))
    assert got["states"] == want["states"]
    assert got["fired"] == want["fired"]
    assert len({k[0] for k in want["states"]}) >= 3  # several alerts were active


def test_server_and_data_agree_without_staleness_markers(rules: Path) -> None:
    series = data(3, stale=False)
    assert unrolled(run(series, rules, remote=True)) == unrolled(run(series, rules))


def test_recording_counts_and_errors(rules: Path, tmp_path: Path) -> None:
    result = run(data(0, stale=False), rules)
    recorded = {r.name: r.series for r in result.rules if r.kind == "recording"}
    assert recorded == {"job:load:avg": 1, "job:errors:rate2m": 1}
    bad = tmp_path / "bad.yml"
    bad.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "g",
                        "rules": [
                            {"record": "x", "expr": "load * 0", "labels": {"instance": "same"}}
                        ],
                    }
                ]
            }
        )
    )
    [outcome] = run(data(0, stale=False), bad).rules
    assert outcome.error == "duplicate label sets after applying rule labels"
