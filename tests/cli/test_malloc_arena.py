"""``kubeprom run`` asks glibc for one malloc arena and a fixed mmap threshold before its
threads start, and hands the parser tables' build garbage back."""

from __future__ import annotations

import platform

import pytest

from kubeprom.cli.run_cmd import release_free_memory, tune_malloc


def test_glibc_takes_the_settings() -> None:
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt(M_ARENA_MAX, M_MMAP_THRESHOLD) is glibc's")
    assert tune_malloc() is True


def test_glibc_trims_freed_memory() -> None:
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc_trim is glibc's")
    garbage = [bytearray(4096) for _ in range(4096)]  # 16 MiB of small blocks, then freed
    del garbage
    assert release_free_memory() is True
