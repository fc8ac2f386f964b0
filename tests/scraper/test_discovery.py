"""Discovery: static groups, the file_sd format, and reloading files under a VirtualClock."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from kubeprom.clock import VirtualClock
from kubeprom.config.scrape import FileSDConfig, StaticConfig
from kubeprom.errors import ConfigError
from kubeprom.scraper.discovery import (
    FileDiscovery,
    TargetGroup,
    read_target_groups,
    static_groups,
)


async def _let_tasks_park() -> None:
    """Give freshly created tasks a few loop turns to reach their first ``await``."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_static_groups_are_numbered_in_order() -> None:
    groups = static_groups([StaticConfig(("a:1", "b:2"), {"env": "prod"}), StaticConfig(("c:3",))])
    assert groups == [
        TargetGroup("0", [{"__address__": "a:1"}, {"__address__": "b:2"}], {"env": "prod"}),
        TargetGroup("1", [{"__address__": "c:3"}], {}),
    ]


YAML = """\
- targets: ["a:9100", "b:9100"]
  labels:
    env: prod
- targets: [c:9100]
"""
JSON = '[{"targets": ["a:9100"], "labels": {"env": "prod"}}, {"targets": []}]'


def test_read_yaml_file() -> None:
    assert read_target_groups("/sd/nodes.yml", YAML) == [
        TargetGroup(
            "/sd/nodes.yml:0",
            [{"__address__": "a:9100"}, {"__address__": "b:9100"}],
            {"env": "prod", "__meta_filepath": "/sd/nodes.yml"},
        ),
        TargetGroup(
            "/sd/nodes.yml:1", [{"__address__": "c:9100"}], {"__meta_filepath": "/sd/nodes.yml"}
        ),
    ]


def test_read_json_file() -> None:
    assert read_target_groups("/sd/x.JSON", JSON) == [
        TargetGroup(
            "/sd/x.JSON:0",
            [{"__address__": "a:9100"}],
            {"env": "prod", "__meta_filepath": "/sd/x.JSON"},
        ),
        TargetGroup("/sd/x.JSON:1", [], {"__meta_filepath": "/sd/x.JSON"}),
    ]


def test_empty_files_have_no_groups() -> None:
    assert read_target_groups("a.yaml", "") == []
    assert read_target_groups("a.json", "null") == []


BAD_FILES = {
    "unknown-field": (
        "f.yml",
        "- targets: [a:1]\n  lables: {}\n",
        "f.yml:2:3: [0].lables: field lables not found in type targetgroup.Group",
    ),
    "bad-label-name": (
        "f.yml",
        "- targets: [a:1]\n  labels:\n    a-b: c\n",
        "f.yml:3:5: [0].labels: 'a-b' is not a valid label name",
    ),
    "nil-group": ("f.yml", "- targets: [a:1]\n-\n", "f.yml:2:2: [1]: nil target group item found"),
    "not-a-list": ("f.yml", "targets: [a:1]\n", "f.yml:1:1: expected a list of target groups"),
    "yaml-syntax": (
        "f.yml",
        "- targets: [a:1\n",
        "f.yml:2:1: invalid YAML: expected ',' or ']', but got '<stream end>'",
    ),
    "json-syntax": ("f.json", '[{"targets": ]', "f.json:1:14: invalid JSON: Expecting value"),
    "json-unknown-field": (
        "f.json",
        '[{"targets": [], "x": 1}]',
        'f.json: [0]: json: unknown field "x"',
    ),
    "json-bad-label": (
        "f.json",
        '[{"labels": {"a.b": "c"}}]',
        "f.json: [0].labels: 'a.b' is not a valid label name",
    ),
    "json-targets-type": (
        "f.json",
        '[{"targets": "a:1"}]',
        "f.json: [0].targets: targets must be a list of strings",
    ),
    "extension": ("f.txt", "", "f.txt: unknown file_sd file extension '.txt'"),
}


@pytest.mark.parametrize(("name", "text", "message"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_files(name: str, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        read_target_groups(name, text)
    assert str(info.value) == message


def write(path: Path, text: str) -> None:
    path.write_text(text)
    # Make every write visible to the mtime check even on a coarse-grained filesystem clock.
    stamp = os.stat(path).st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


def addresses(groups: list[TargetGroup]) -> list[str]:
    return [t["__address__"] for g in groups for t in g.targets]


def test_read_globs_and_keeps_groups_of_a_bad_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path / "a.yml", "- targets: [a:1]\n")
    write(tmp_path / "b.yml", "- targets: [b:1]\n")
    write(tmp_path / "other.txt", "not read")
    disc = FileDiscovery(FileSDConfig((str(tmp_path / "*.yml"),)))
    assert addresses(disc.read()) == ["a:1", "b:1"]

    write(tmp_path / "b.yml", "- targets: [b:1\n")
    with caplog.at_level(logging.ERROR, logger="kubeprom.scraper.discovery.file"):
        assert addresses(disc.read()) == ["a:1", "b:1"]
    bad = str(tmp_path / "b.yml")
    assert [r.getMessage() for r in caplog.records] == [
        f"cannot read file_sd file path={bad} err={bad}:2:1: invalid YAML: "
        "expected ',' or ']', but got '<stream end>'"
    ]

    (tmp_path / "a.yml").unlink()
    assert addresses(disc.read()) == ["b:1"]  # a deleted file's groups go


def test_a_new_bad_file_has_no_groups(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path / "a.json", "[")
    disc = FileDiscovery(FileSDConfig((str(tmp_path / "*.json"),)))
    with caplog.at_level(logging.ERROR):
        assert disc.read() == []
    assert "a.json" in caplog.text


async def test_run_reloads_changed_files_under_a_virtual_clock(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = VirtualClock(1_700_000_000_000)
    write(tmp_path / "a.yml", "- targets: [a:1]\n")
    disc = FileDiscovery(FileSDConfig((str(tmp_path / "*.yml"),), 300_000), watch_interval_s=5)
    updates: list[list[str]] = []
    task = asyncio.create_task(disc.run(clock, lambda groups: updates.append(addresses(groups))))
    try:
        await _let_tasks_park()
        assert updates == [["a:1"]]

        write(tmp_path / "a.yml", "- targets: [a:1, a:2]\n")
        await clock.advance_ms(4_000)
        assert updates == [["a:1"]]  # not looked at yet
        await clock.advance_ms(1_000)
        assert updates == [["a:1"], ["a:1", "a:2"]]

        write(tmp_path / "b.yml", "- targets: [b:1]\n")
        await clock.advance_ms(5_000)
        assert updates[-1] == ["a:1", "a:2", "b:1"]

        # A broken file keeps its previous groups: nothing changes for the consumer.
        with caplog.at_level(logging.ERROR):
            write(tmp_path / "b.yml", "- targets: [b:1\n")
            await clock.advance_ms(5_000)
        assert len(updates) == 3
        assert "b.yml" in caplog.text

        (tmp_path / "a.yml").unlink()
        await clock.advance_ms(5_000)
        assert updates[-1] == ["b:1"]
        assert len(updates) == 4

        # Nothing changed: the periodic refresh re-reads but does not report.
        await clock.advance_ms(600_000)
        assert len(updates) == 4
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_refresh_interval_rereads_even_without_a_visible_change(tmp_path: Path) -> None:
    clock = VirtualClock(0)
    path = tmp_path / "a.yml"
    write(path, "- targets: [a:1]\n")
    disc = FileDiscovery(FileSDConfig((str(path),), 60_000), watch_interval_s=5)
    updates: list[list[str]] = []
    task = asyncio.create_task(disc.run(clock, lambda groups: updates.append(addresses(groups))))
    try:
        await _let_tasks_park()
        # Same size and the same mtime: only the full refresh can see this edit.
        before = os.stat(path)
        path.write_text("- targets: [b:1]\n")
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        await clock.advance_ms(55_000)
        assert updates == [["a:1"]]
        await clock.advance_ms(5_000)
        assert updates == [["a:1"], ["b:1"]]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
