"""``kubeprom test rules`` on the kubernetes-mixin unit tests of ../shared/conformance/rules.

- master (``tests/*.yaml``, written for promtool 3.x): all 198 assertions pass.
- Per assertion, the same verdict as Debian's promtool 2.42 (``results-promtool-2.42.json``)
  except where the outcome depends on the 2.x-vs-3.x window change; with the engine's
  diagnostic 2.x-windows switch every verdict is promtool 2.42's, and so is the text of
  every failure. That shows the differences are that change and nothing else.
- prom2-era (written for promtool 2.x): every assertion passes with 2.x windows; under 3.x
  exactly the window-dependent assertions listed below fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubeprom.promql.options import Compat, EngineOptions
from kubeprom.rules.unittest import FileResult, Runner, RunOptions, Verdict
from tests.support.shared import shared_files, shared_path

MIXIN = ("conformance", "rules", "kubernetes-mixin")
V2 = EngineOptions(compat=frozenset({Compat.V2_WINDOWS}))

# promtool 2.42's verdict differs from 3.x semantics on these (file, test group, assertion id),
# all from 3.0's left-open windows (SOURCE.txt lists why for each).
_ABSENT = "tests/absent_alert-test.yaml"
_TESTS = "tests/tests.yaml"
MASTER_WINDOW_DEPENDENT = {
    (_ABSENT, "KubeAPIDown fires when kube-apiserver target is absent", "alert KubeAPIDown @25m"),
    (
        _ABSENT,
        "KubeSchedulerDown fires when kube-scheduler target is absent",
        "alert KubeSchedulerDown @25m",
    ),
    (
        _ABSENT,
        "KubeControllerManagerDown fires when kube-controller-manager target is absent",
        "alert KubeControllerManagerDown @25m",
    ),
    (_ABSENT, "KubeProxyDown fires when kube-proxy target is absent", "alert KubeProxyDown @25m"),
    (_TESTS, "#25", "alert KubeNodeReadinessFlapping @18m"),
    (
        _TESTS,
        "Current unequal desired and not progressing",
        "alert KubeDaemonSetRolloutStuck @32m",
    ),
    (_TESTS, "Misscheduled is non zero", "alert KubeDaemonSetRolloutStuck @32m"),
    (_TESTS, "Updated number unequal desired", "alert KubeDaemonSetRolloutStuck @32m"),
    (_TESTS, "Number available unequal desired", "alert KubeDaemonSetRolloutStuck @34m"),
    (_TESTS, "#48", "alert KubePodCrashLooping @20m"),
}
PROM2_WINDOW_DEPENDENT = {
    ("tests.yaml", "#22", "alert KubeNodeReadinessFlapping @18m"),
    ("tests.yaml", "#32", "alert KubeDaemonSetRolloutStuck @32m"),
    ("tests.yaml", "#34", "alert KubeDaemonSetRolloutStuck @32m"),
    ("tests.yaml", "#35", "alert KubeDaemonSetRolloutStuck @32m"),
    ("tests.yaml", "#36", "alert KubeDaemonSetRolloutStuck @34m"),
    ("tests.yaml", "#45", "alert KubePodCrashLooping @20m"),
}


@pytest.mark.parametrize("parts", shared_files(*MIXIN, "tests", pattern="*.yaml"))
def test_master_passes_under_3x(parts: tuple[str, ...]) -> None:
    result = Runner().run_file(str(shared_path(*parts)))
    assert result.errors == ()
    failed = [
        (g.name, a.kind, a.index, a.message)
        for g in result.groups
        for a in g.assertions
        if a.verdict is not Verdict.PASSED
    ]
    assert failed == []
    assert result.groups, "no test groups ran"


def _verdicts(base: Path, engine: EngineOptions) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """Our and promtool's (verdict, failure text) per (file, group name, assertion id)."""
    recorded = json.loads((base / "results-promtool-2.42.json").read_text())
    runner = Runner(RunOptions(engine=engine))
    ours: dict[Any, Any] = {}
    theirs: dict[Any, Any] = {}
    for f in recorded["files"]:
        result: FileResult = runner.run_file(str(base / f["file"]))
        assert result.errors == ()
        assert len(result.groups) == len(f["groups"])
        for g, gr in zip(f["groups"], result.groups, strict=True):
            assert gr.index == g["index"]
            mine = {(a.kind, a.index): a for a in gr.assertions}
            assert len(mine) == len(g["asserts"])
            for a in g["asserts"]:
                key = (f["file"], g["name"], a["id"])
                got = mine[(a["kind"], a["index"])]
                ours[key] = (got.verdict is Verdict.PASSED, got.message)
                output = a["output"] or ""
                theirs[key] = (a["ok"], output.removeprefix("  FAILED:\n"))
    return ours, theirs


@pytest.mark.parametrize(
    ("where", "window_dependent"),
    [((), MASTER_WINDOW_DEPENDENT), (("prom2-era",), PROM2_WINDOW_DEPENDENT)],
    ids=["master", "prom2-era"],
)
def test_same_verdicts_as_promtool_242_but_for_windows(
    where: tuple[str, ...], window_dependent: set[tuple[str, str, str]]
) -> None:
    base = shared_path(*MIXIN, *where)
    ours, theirs = _verdicts(base, EngineOptions())
    differ = {k for k in ours if ours[k][0] != theirs[k][0]}
    assert differ == window_dependent
    assert len(ours) == (198 if not where else 106)


@pytest.mark.parametrize("where", [(), ("prom2-era",)], ids=["master", "prom2-era"])
def test_with_2x_windows_every_verdict_and_failure_text_is_promtool_242s(
    where: tuple[str, ...],
) -> None:
    ours, theirs = _verdicts(shared_path(*MIXIN, *where), V2)
    assert {k: v[0] for k, v in ours.items()} == {k: v[0] for k, v in theirs.items()}
    failed = {k for k, v in theirs.items() if not v[0]}
    assert len(failed) == (10 if not where else 0)
    for k in failed:
        assert ours[k][1] == theirs[k][1], k


def test_prom2_era_under_3x_fails_only_the_window_dependent() -> None:
    base = shared_path(*MIXIN, "prom2-era")
    result = Runner().run_file(str(base / "tests.yaml"))
    failed = {
        (g.name, f"alert {a.subject} @{a.eval_ms // 60_000}m")
        for g in result.groups
        for a in g.assertions
        if a.verdict is not Verdict.PASSED
    }
    assert failed == {(f"unnamed{g}", i) for _, g, i in PROM2_WINDOW_DEPENDENT}
