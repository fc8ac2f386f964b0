"""promtool's decisions on the corners of the format (``testdata/unittest/edge``).

``edge_test.yml`` runs on Debian's promtool 2.42 too: a recorded series read by an alert
in a group evaluated before the recording one (``group_eval_order``), templates with
``$externalURL``, ``$externalLabels``, a templated label and an annotation that is empty,
an ``eval_time`` between steps, a negative offset (promtool loads input lazily, so a rule
sees no sample after its step, and nothing after the last step is ever loaded),
``keep_firing_for``, ``_`` and ``stale`` in the input, exact float comparison and NaN (never
equal), PromQL keywords in upper case. Its verdicts and failure texts are promtool's (with 2.x
windows, as everywhere).

``edge3_test.yml`` uses what promtool 2.42 does not know (``fuzzy_compare``,
``start_timestamp``, ``query_offset``, ``now``): its expected outcomes follow promtool 3.x's
``unittest.go``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeprom.promql.options import Compat, EngineOptions
from kubeprom.rules.unittest import Runner, RunOptions, Verdict
from tests.support import promtool
from tests.support.procs import require_binary

EDGE = Path(__file__).parent / "testdata" / "unittest" / "edge"
V2 = EngineOptions(compat=frozenset({Compat.V2_WINDOWS}))


def failing(path: Path, options: RunOptions | None = None) -> dict[tuple[str, int], str]:
    result = Runner(options or RunOptions()).run_file(str(path))
    assert result.errors == ()
    return {
        (g.name, a.index): a.message
        for g in result.groups
        for a in g.assertions
        if a.verdict is not Verdict.PASSED
    }


def test_edge_cases_fail_where_promtool_fails() -> None:
    got = failing(EDGE / "edge_test.yml")
    assert set(got) == {
        ("recorded series read by an alert, eval order, templates", 5),
        ("nan never equals", 0),
    }
    assert got[("nan never equals", 0)] == (
        '    expr: "x", time: 0s,\n        exp: {__name__="x"} NaN\n        got: {__name__="x"} NaN'
    )


@pytest.mark.slow
def test_edge_cases_get_promtools_verdicts_and_texts(tmp_path: Path) -> None:
    binary = require_binary("promtool")
    runner = Runner(RunOptions(engine=V2))
    ours, theirs = promtool.both_verdicts(binary, EDGE / "edge_test.yml", tmp_path, runner)
    assert ours == theirs
    assert len(ours) == 19


def test_3x_only_fields() -> None:
    got = failing(EDGE / "edge3_test.yml")
    assert list(got) == [("fuzzy compare takes the next float either way", 2)]
    assert got[("fuzzy compare takes the next float either way", 2)].endswith(
        "exp: {} 3.0000000000000016E-01\n        got: {} 3.0000000000000004E-01"
    )
