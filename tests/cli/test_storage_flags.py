"""`kubeprom run`'s storage flags reach the store's options (level compaction's longest block)."""

from __future__ import annotations

import pytest

from kubeprom.cli.main import build_parser
from kubeprom.cli.run_cmd import settings_of
from kubeprom.errors import KubepromError
from kubeprom.tsdb.compact import block_ranges

HOUR = 3_600_000


@pytest.mark.parametrize(
    ("flags", "want_ms", "ranges_h"),
    [
        ([], None, [2, 6, 18]),  # 10 % of the default 15d retention: 36 h
        (["--retention-time=90d"], None, [2, 6, 18, 54, 162]),  # 9 d
        (["--storage.tsdb.max-block-duration=2h"], 2 * HOUR, [2]),  # merging off
        (["--storage.tsdb.max-block-duration=1d"], 24 * HOUR, [2, 6, 18]),
        (["--storage.tsdb.max-block-duration=0s"], None, [2, 6, 18]),  # 0: the default
    ],
    ids=["default", "retention", "off", "one-day", "zero"],
)
def test_max_block_duration(flags: list[str], want_ms: int | None, ranges_h: list[int]) -> None:
    settings = settings_of(build_parser().parse_args(["run", *flags]))
    store = settings.store
    assert store.max_block_duration_ms == want_ms
    got = block_ranges(store.block_range_ms, store.retention_ms, store.max_block_duration_ms)
    assert got == [h * HOUR for h in ranges_h]


def test_a_bad_max_block_duration_is_refused() -> None:
    args = build_parser().parse_args(["run", "--storage.tsdb.max-block-duration=2x"])
    with pytest.raises(KubepromError, match=r"^--storage\.tsdb\.max-block-duration: "):
        settings_of(args)
