"""shared_path / shared_files: skip with a reason outside CI, fail under CI=true."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.shared import shared_files, shared_path


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "shared"
    (root / "corpus" / "sub").mkdir(parents=True)
    (root / "corpus" / "b.yaml").write_text("b")
    (root / "corpus" / "sub" / "a.yaml").write_text("a")
    (root / "corpus" / "notes.md").write_text("n")
    monkeypatch.setenv("KUBEPROM_SHARED", str(root))
    monkeypatch.delenv("CI", raising=False)
    return root


def test_present_paths_resolve(shared: Path) -> None:
    assert shared_path("corpus", "b.yaml") == shared / "corpus" / "b.yaml"


def test_a_missing_path_skips_naming_it_and_the_setting(shared: Path) -> None:
    with pytest.raises(pytest.skip.Exception, match=r"shared/nope is missing \(set KUBEPROM_"):
        shared_path("nope")


def test_a_missing_path_fails_in_ci(shared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"shared/nope is missing"):
        shared_path("nope")


def test_files_are_parametrized_by_their_relative_path(shared: Path) -> None:
    params = shared_files("corpus", pattern="**/*.yaml")
    assert [p.id for p in params] == ["b.yaml", "sub/a.yaml"]
    assert [p.values for p in params] == [
        (("corpus", "b.yaml"),),
        (("corpus", "sub", "a.yaml"),),
    ]
    assert shared_path(*params[1].values[0]).read_text() == "a"


def test_a_missing_corpus_is_one_value_that_skips(shared: Path) -> None:
    params = shared_files("gone", pattern="*.yaml")
    assert [(p.id, p.values) for p in params] == [("missing", (("gone",),))]
    with pytest.raises(pytest.skip.Exception, match=r"shared/gone is missing"):
        shared_path(*params[0].values[0])
