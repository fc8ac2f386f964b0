"""Where the shared material lives (conformance corpora, the bench harness).

It sits beside the clone as ``../shared`` unless ``KUBEPROM_SHARED=DIR`` points elsewhere.
A plain clone has none: tests that need it skip with a reason naming the directory and the
setting; under ``CI=true`` they fail instead, so CI never passes by skipping.

Nothing here resolves at import time in a way that raises: collection works without it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ENV = "KUBEPROM_SHARED"


def shared_root() -> Path:
    """The shared directory, whether or not it exists."""
    configured = os.environ.get(ENV)
    return Path(configured).resolve() if configured else REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """``shared_root() / parts``; skips the calling test (fails under ``CI=true``) if absent."""
    __tracebackhide__ = True  # reports (``-ra``) name the calling test's line, not this one
    path = shared_root().joinpath(*parts)
    if not path.exists():
        reason = f"{path} is missing (set {ENV}=DIR to the shared directory)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def shared_files(*parts: str, pattern: str) -> list[Any]:
    """``parametrize`` values for the files matching ``pattern`` under ``shared_root() / parts``.

    Each value is a tuple of path parts for :func:`shared_path`, which the test calls, and its
    id is the file's path under the directory. If the directory is missing there is one value,
    id ``missing``: the directory's own parts, so ``shared_path`` skips (or fails in CI) there
    rather than the collection failing or the test silently disappearing.
    """
    directory = shared_root().joinpath(*parts)
    if not directory.is_dir():
        return [pytest.param(parts, id="missing")]
    files = sorted(p for p in directory.glob(pattern) if p.is_file())
    return [
        pytest.param(
            (*parts, *f.relative_to(directory).parts), id=f.relative_to(directory).as_posix()
        )
        for f in files
    ]
