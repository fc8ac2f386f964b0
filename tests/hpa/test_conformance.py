"""The shared HPA conformance cases all pass, and the runner reports failures by id and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeprom.cli.main import main
from kubeprom.errors import ConfigError
from kubeprom.hpa import conformance
from kubeprom.hpa.cases import run_case
from tests.support.shared import shared_path

CASES = ("conformance", "hpa", "cases.yaml")


def test_every_shared_case_passes() -> None:
    path = shared_path(*CASES)
    report = conformance.run_file(path)
    failures = conformance.render([report])
    assert failures[-1] == f"{report.passed} passed, 0 failed", "\n".join(failures)
    assert report.passed >= 167


def test_cli_summary_line(capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_path(*CASES)
    assert main(["test", "hpa", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "167 passed, 0 failed"


def test_a_wrong_expectation_fails_with_its_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = shared_path(*CASES).read_text(encoding="utf-8")
    original = "expect: {replicas: 5, utilization: 50, usage_m: 1000}"
    assert text.count(original) == 1
    broken = tmp_path / "cases.yaml"
    broken.write_text(text.replace(original, original.replace("5,", "6,")), encoding="utf-8")
    line = text[: text.index("- id: rc-resource-scale-up\n")].count("\n") + 1
    assert main(["test", "hpa", str(broken)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"FAIL rc-resource-scale-up ({broken}:{line}) [replica_calc]",
        "  replicas: expected 6, got 5",
        "166 passed, 1 failed",
    ]


def test_conditions_are_compared_exactly() -> None:
    expect = {"conditions": {"AbleToScale": {"status": "True", "reason": "SucceededRescale"}}}
    got = {
        "conditions": {
            "AbleToScale": {"status": "True", "reason": "SucceededRescale"},
            "ScalingActive": {"status": "True", "reason": "ValidMetricFound"},
        }
    }
    assert conformance.compare(expect, got) == [
        "conditions.ScalingActive: expected 'absent', got "
        "{'status': 'True', 'reason': 'ValidMetricFound'}"
    ]


@pytest.mark.parametrize(
    ("want", "got", "ok"),
    [
        ("Missing Request For", "failed: missing request for cpu", True),
        ("missing request", None, False),
        (True, "some error", True),
        (True, None, False),
        (False, None, True),
    ],
)
def test_error_matching(want: object, got: object, ok: bool) -> None:
    assert (conformance.compare({"error": want}, {"error": got}) == []) is ok


def test_unknown_kind_is_not_implemented() -> None:
    with pytest.raises(NotImplementedError, match="case kind 'explode'"):
        run_case("explode", {}, {})


def test_malformed_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("cases:\n- kind: normalize\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:2: a case needs an 'id' and a 'kind'"):
        conformance.load_cases(bad)
