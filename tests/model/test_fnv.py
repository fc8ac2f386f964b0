"""FNV-1a against Go's ``hash/fnv`` golden values (``fnv_test.go``: golden32a, golden64a)."""

from __future__ import annotations

import pytest

from kubeprom.model.fnv import fnv1a_32, fnv1a_64


@pytest.mark.parametrize(
    ("text", "want32", "want64"),
    [
        (b"", 0x811C9DC5, 0xCBF29CE484222325),
        (b"a", 0xE40C292C, 0xAF63DC4C8601EC8C),
        (b"ab", 0x4D2505CA, 0x089C4407B545986A),
        (b"abc", 0x1A47E90B, 0xE71FA2190541574B),
    ],
    ids=repr,
)
def test_go_golden_values(text: bytes, want32: int, want64: int) -> None:
    assert fnv1a_32(text) == want32
    assert fnv1a_64(text) == want64
