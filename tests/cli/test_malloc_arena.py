"""``kubeprom run`` asks glibc for one malloc arena before its threads start."""

from __future__ import annotations

import platform

import pytest

from kubeprom.cli.run_cmd import one_malloc_arena


def test_glibc_takes_the_setting() -> None:
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt(M_ARENA_MAX) is glibc's")
    assert one_malloc_arena() is True
