"""``file_sd_configs``: target groups read from YAML or JSON files, reloaded when they change.

The file format is Prometheus' (``discovery/file``): a list of ``{targets: [...], labels:
{...}}`` groups; ``.json`` files are JSON, ``.yml``/``.yaml`` YAML; unknown fields and
invalid label names are errors. Each group gets ``__meta_filepath`` and the source
``<path>:<index>``.

Prometheus watches the files with inotify and re-reads everything every
``refresh_interval``. Here :meth:`FileDiscovery.run` polls the files' modification times and
sizes every ``watch_interval_s`` (a few ``stat`` calls) and re-reads on a change, and
re-reads everything every ``refresh_interval`` anyway. A file that fails to read or parse is
logged with its name and keeps the groups it had before.
"""

from __future__ import annotations

import glob
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from kubeprom.clock import Clock
from kubeprom.config.nodes import Fields, compose, error, is_null, scalar_str
from kubeprom.config.scrape import FileSDConfig
from kubeprom.errors import ConfigError
from kubeprom.model.labels import is_label_name
from kubeprom.scraper.discovery.group import TargetGroup
from kubeprom.scraper.discovery.static import ADDRESS_LABEL

log = logging.getLogger(__name__)

FILEPATH_LABEL = "__meta_filepath"
# How often run() looks for changed files: Prometheus reacts to inotify at once, and a stat
# per file every few seconds is the portable stand-in.
WATCH_INTERVAL_S = 5.0

OnUpdate = Callable[[list[TargetGroup]], None]
_Stamp = tuple[int, int]  # (mtime_ns, size)


class FileDiscovery:
    """Target groups from the files one ``file_sd_configs`` entry names.

    :meth:`read` re-reads every matching file now and returns all current groups (files in
    path order, groups in file order). :meth:`run` keeps them current. Not thread-safe; use
    from one task.
    """

    def __init__(self, config: FileSDConfig, *, watch_interval_s: float = WATCH_INTERVAL_S) -> None:
        self.patterns = config.files
        self.refresh_interval_s = config.refresh_interval_ms / 1000
        self.watch_interval_s = min(watch_interval_s, self.refresh_interval_s)
        self._groups: dict[str, list[TargetGroup]] = {}  # path -> its last good groups
        self._stamps: dict[str, _Stamp | None] = {}  # path -> stamp when last read

    def list_files(self) -> list[str]:
        """The files the patterns match now, sorted, each once."""
        found: set[str] = set()
        for pattern in self.patterns:
            found.update(glob.glob(pattern))
        return sorted(found)

    def groups(self) -> list[TargetGroup]:
        """The groups as of the last read."""
        return [g for path in sorted(self._groups) for g in self._groups[path]]

    def read(self) -> list[TargetGroup]:
        """Re-read every matching file; a bad file keeps its previous groups (and is logged)."""
        groups: dict[str, list[TargetGroup]] = {}
        stamps: dict[str, _Stamp | None] = {}
        for path in self.list_files():
            stamps[path] = _stamp(path)
            try:
                groups[path] = read_target_groups(path)
            except (ConfigError, OSError, UnicodeDecodeError) as err:
                log.error("cannot read file_sd file path=%s err=%s", path, err)
                groups[path] = self._groups.get(path, [])
        self._groups, self._stamps = groups, stamps
        return self.groups()

    def changed(self) -> bool:
        """Whether a file appeared, disappeared or was modified since the last read."""
        files = self.list_files()
        if files != sorted(self._stamps):
            return True
        return any(_stamp(path) != self._stamps[path] for path in files)

    async def run(self, clock: Clock, on_update: OnUpdate) -> None:
        """Read now, then keep reading on changes; ``on_update`` gets every new full list.

        Runs until cancelled. Waits are bounded by ``watch_interval_s`` of ``clock`` time.
        """
        current = self.read()
        on_update(current)
        watch_ms = round(self.watch_interval_s * 1000)
        refresh_ms = round(self.refresh_interval_s * 1000)
        last_read_ms = clock.now_ms()
        while True:
            await clock.sleep_ms(watch_ms)
            due = clock.now_ms() - last_read_ms >= refresh_ms
            if not (due or self.changed()):
                continue
            groups = self.read()
            last_read_ms = clock.now_ms()
            if groups != current:
                current = groups
                on_update(groups)


def _stamp(path: str) -> _Stamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def read_target_groups(path: str, text: str | None = None) -> list[TargetGroup]:
    """Parse a file_sd file (``text`` defaults to its content); the format follows the suffix.

    Raises :class:`ConfigError` naming the file (and line and column where known), or
    OSError when it cannot be read.
    """
    if text is None:
        text = Path(path).read_text(encoding="utf-8")
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        raw = _read_json(path, text)
    elif suffix in (".yml", ".yaml"):
        raw = _read_yaml(path, text)
    else:
        raise ConfigError(f"unknown file_sd file extension {suffix!r}", file=path)
    groups = []
    for i, (targets, labels) in enumerate(raw):
        labels = {**labels, FILEPATH_LABEL: path}
        groups.append(TargetGroup(f"{path}:{i}", [{ADDRESS_LABEL: t} for t in targets], labels))
    return groups


_Raw = list[tuple[list[str], dict[str, str]]]


def _read_yaml(path: str, text: str) -> _Raw:
    root = compose(text, path)
    if root is None or is_null(root):
        return []
    if not isinstance(root, yaml.SequenceNode):
        raise error(root, path, None, "expected a list of target groups")
    out: _Raw = []
    for i, node in enumerate(root.value):
        where = f"[{i}]"
        if is_null(node):
            raise error(node, path, where, "nil target group item found")
        f = Fields(node, path, where, "targetgroup.Group", {"targets", "labels"})
        labels = {}
        for name, key_node, value_node in f.pairs("labels"):
            if not is_label_name(name):
                raise error(key_node, path, f.sub("labels"), f"{name!r} is not a valid label name")
            labels[name] = scalar_str(value_node, path, f"{f.sub('labels')}.{name}")
        out.append((list(f.str_list("targets")), labels))
    return out


def _read_json(path: str, text: str) -> _Raw:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"invalid JSON: {err.msg}", file=path, line=err.lineno, col=err.colno
        ) from err
    if data is None:
        return []
    if not isinstance(data, list):
        raise ConfigError("expected a list of target groups", file=path)
    out: _Raw = []
    for i, item in enumerate(data):
        where = f"[{i}]"
        if item is None:
            raise ConfigError("nil target group item found", file=path, field=where)
        if not isinstance(item, dict):
            raise ConfigError("expected a target group object", file=path, field=where)
        for key in item:
            if key not in ("targets", "labels"):
                raise ConfigError(f'json: unknown field "{key}"', file=path, field=where)
        targets = item.get("targets") or []
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise ConfigError(
                "targets must be a list of strings", file=path, field=f"{where}.targets"
            )
        labels = item.get("labels") or {}
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise ConfigError(
                "labels must map names to strings", file=path, field=f"{where}.labels"
            )
        for name in labels:
            if not is_label_name(name):
                raise ConfigError(
                    f"{name!r} is not a valid label name", file=path, field=f"{where}.labels"
                )
        out.append((targets, labels))
    return out
