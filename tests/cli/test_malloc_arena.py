"""``kubeprom run`` asks glibc for one malloc arena and a fixed mmap threshold before its
threads start."""

from __future__ import annotations

import platform

import pytest

from kubeprom.cli.run_cmd import tune_malloc


def test_glibc_takes_the_settings() -> None:
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt(M_ARENA_MAX, M_MMAP_THRESHOLD) is glibc's")
    assert tune_malloc() is True
