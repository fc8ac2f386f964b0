"""Unit tests of real-world style rule files beyond the kubernetes-mixin: node, Prometheus,
Alertmanager and etcd alerts (``testdata/unittest/realworld``, written for these tests in the
style of the upstream mixins), checked against Debian's promtool.

Under 3.x semantics every assertion passes. With the engine's 2.x-windows switch every
assertion gets promtool 2.42's verdict, and every failure its text byte for byte: the one
assertion whose outcome depends on the window change (the etcd leader-change count over a
``[15m:1m]`` subquery, 7.5 under 3.x and 8 under 2.x) fails in both with the same words.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeprom.promql.options import Compat, EngineOptions
from kubeprom.rules.unittest import Runner, RunOptions, Verdict
from tests.support import promtool
from tests.support.procs import require_binary

REALWORLD = Path(__file__).parent / "testdata" / "unittest" / "realworld"
FILES = sorted(REALWORLD.glob("*_test.yml"))
V2 = EngineOptions(compat=frozenset({Compat.V2_WINDOWS}))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_passes_under_3x(path: Path) -> None:
    result = Runner().run_file(str(path))
    assert result.errors == ()
    verdicts = [a.verdict for g in result.groups for a in g.assertions]
    assert len(verdicts) >= 7
    assert [(g.name, a.message) for g in result.groups for a in g.assertions if a.message] == []
    assert set(verdicts) == {Verdict.PASSED}


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_same_verdicts_and_texts_as_promtool_with_2x_windows(path: Path, tmp_path: Path) -> None:
    binary = require_binary("promtool")
    ours, theirs = promtool.both_verdicts(binary, path, tmp_path, Runner(RunOptions(engine=V2)))
    assert {k: v[0] for k, v in ours.items()} == {k: v[0] for k, v in theirs.items()}
    for key, (ok, text) in theirs.items():
        if not ok:
            assert ours[key][1] == text, key
    failing = sorted(k for k, v in theirs.items() if not v[0])
    assert failing == ([(2, "alert_rule_test", 0)] if path.name == "etcd_test.yml" else [])
