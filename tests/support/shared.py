"""Where the shared material lives (conformance corpora, the bench harness).

It sits beside the clone as ``../shared`` unless ``KUBEPROM_SHARED=DIR`` points elsewhere.
A plain clone has none: tests that need it skip with a reason naming the directory and the
setting; under ``CI=true`` they fail instead, so CI never passes by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENV = "KUBEPROM_SHARED"


def shared_root() -> Path:
    """The shared directory, whether or not it exists."""
    configured = os.environ.get(ENV)
    return Path(configured).resolve() if configured else REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """``shared_root() / parts``; skips the calling test (fails under ``CI=true``) if absent."""
    path = shared_root().joinpath(*parts)
    if not path.exists():
        reason = f"{path} is missing (set {ENV}=DIR to the shared directory)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path
