"""Prometheus' own promqltest files, run through ``kubeprom test promql``'s runner.

CI fails below 95% of the non-skipped evals passing; the summary line is printed so the
log shows where the engine stands, and every skip reason is counted in it.
"""

from __future__ import annotations

import pytest

from kubeprom.promql import promqltest
from tests.support.shared import shared_path

FLOOR = 0.95


@pytest.mark.timeout(600)
def test_upstream_promqltest_files_pass(capsys: pytest.CaptureFixture[str]) -> None:
    testdata = shared_path("conformance", "promql", "testdata")
    files = promqltest.collect([testdata])
    assert len(files) == 21, f"expected the 21 upstream files in {testdata}"
    reports = [promqltest.run_file(f) for f in files]
    with capsys.disabled():
        for line in promqltest.render(reports, verbose=True):
            print(line)
    summary = promqltest.summarize(reports)
    assert summary.malformed == 0
    assert summary.passed > 1000
    assert summary.pass_ratio >= FLOOR, summary.line
    # Skips are for what kubeprom leaves out, never for evals that merely fail.
    allowed = ("native histogram", "feature flag", "start timestamps")
    assert all(any(a in reason for a in allowed) for reason in summary.skip_reasons)
