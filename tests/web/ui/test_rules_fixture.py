"""The Rules and Alerts pages' fixture is what a real Prometheus answers: a live capture from
Debian's prometheus has the same JSON shape, and the fixture covers every state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.web.ui.prom_rules import FIXTURE, capture, shape


def test_the_fixture_covers_every_state_and_health() -> None:
    data = json.loads(FIXTURE.read_text())
    rules = [r for g in data["rules"]["data"]["groups"] for r in g["rules"]]
    assert {r.get("state") for r in rules} == {"firing", "pending", "inactive", None}
    assert {r["health"] for r in rules} == {"ok", "err"}
    assert {r["type"] for r in rules} == {"alerting", "recording"}
    assert sorted(a["state"] for a in data["alerts"]["data"]["alerts"]) == ["firing", "pending"]


@pytest.mark.slow
def test_a_live_prometheus_answers_the_fixtures_shape(tmp_path: Path) -> None:
    live = capture(tmp_path)
    fixture = json.loads(FIXTURE.read_text())
    for key in ("rules", "alert_rules", "alerts"):
        assert shape(live[key]) == shape(fixture[key]), key
