"""``kubeprom run`` asks glibc for one malloc arena and a fixed mmap threshold before its
threads start, hands the parser tables' build garbage back, and freezes what start-up
built out of the cyclic collector's sight."""

from __future__ import annotations

import gc
import platform

import pytest

from kubeprom.cli.run_cmd import GC_THRESHOLDS, release_free_memory, tune_gc, tune_malloc


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


def test_the_collector_is_tuned_and_start_up_frozen() -> None:
    before = gc.get_threshold()
    keep = [[i] for i in range(1000)]  # containers alive at start-up
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() >= len(keep)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
