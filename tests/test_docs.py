"""The README and docs/ link only files of this repository, and the paths they name exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# A path inside backquotes, from one of the repository's top-level directories.
PATH = re.compile(r"`((?:kubeprom|tests|docs|benchmarks|config|\.ci)/[^`\s]*)`")
# Named in the docs but absent from a clean clone, with the reason.
NOT_IN_A_CLONE = {
    ".ci/venv": "made by .ci/run",
    "kubeprom/remote/": "planned, and described as planned",
}


def links(text: str) -> list[str]:
    return LINK.findall(text)


def paths(text: str) -> list[str]:
    return PATH.findall(text)


@pytest.mark.parametrize("doc", DOCS, ids=[d.relative_to(REPO).as_posix() for d in DOCS])
def test_links_stay_inside_the_repository(doc: Path) -> None:
    bad = []
    for target in links(doc.read_text(encoding="utf-8")):
        path = target.split("#", 1)[0]
        resolved = (doc.parent / path).resolve()
        if ":" in target or not resolved.is_relative_to(REPO) or not resolved.exists():
            bad.append(target)
    assert bad == []


@pytest.mark.parametrize("doc", DOCS, ids=[d.relative_to(REPO).as_posix() for d in DOCS])
def test_named_paths_exist(doc: Path) -> None:
    named = [p.rstrip(".,:;") for p in paths(doc.read_text(encoding="utf-8"))]
    assert [p for p in named if p not in NOT_IN_A_CLONE and not (REPO / p).exists()] == []


def test_the_docs_are_found() -> None:
    assert {d.relative_to(REPO).as_posix() for d in DOCS} >= {
        "README.md",
        "docs/architecture.md",
        "docs/tsdb-format.md",
    }


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("see [the map](docs/architecture.md).", ["docs/architecture.md"]),
        (
            "[a](../shared/DESIGN.md) and [b](https://prometheus.io)",
            ["../shared/DESIGN.md", "https://prometheus.io"],
        ),
    ],
    ids=["relative", "outside"],
)
def test_links_are_extracted(text: str, want: list[str]) -> None:
    assert links(text) == want


def test_paths_are_extracted() -> None:
    text = "in `kubeprom/tsdb/api.py`, `tests/x.py:12`, not `promql.api` or `web/app.py`"
    assert paths(text) == ["kubeprom/tsdb/api.py", "tests/x.py:12"]
