"""The rule manager (``rules/manager.go``): rule files to running groups, and reloads.

:meth:`RuleManager.update` loads every file; when any has errors the running groups stay as
they are and the first error is raised (all are logged). Otherwise each group that is
unchanged keeps running untouched, a changed group takes over its predecessor's state
(active alerts, series to mark stale), and a removed group is stopped and its series are
marked stale two intervals later (unless the manager is stopping). ``for`` state is restored
for groups of the first load only (after a restart).
"""

from __future__ import annotations

import asyncio
import glob
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from kubeprom.clock import Clock
from kubeprom.errors import RuleFileError
from kubeprom.rules.alerting import AlertingRule, annotation_set
from kubeprom.rules.batching import why_step_by_step
from kubeprom.rules.group import Executor, Group, GroupOptions, inline
from kubeprom.rules.recording import RecordingRule
from kubeprom.rules.rule import Rule
from kubeprom.rules.rulefmt import GroupSpec, RuleKind, RuleSpec, load_rule_file, rule_labels

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RuleSettings:
    """What a configuration (re)load gives the rules. Durations in ms."""

    files: tuple[str, ...] = ()
    evaluation_interval_ms: int = 60_000
    query_offset_ms: int = 0
    external_labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    external_url: str = ""


def expand_globs(patterns: Iterable[str]) -> list[str]:
    """The files the config's ``rule_files`` globs match, in order, each once."""
    out: list[str] = []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)) if "*" in pattern else [pattern]:
            if path not in out:
                out.append(path)
    return out


def build_rule(
    group: GroupSpec,
    spec: RuleSpec,
    settings: RuleSettings,
    *,
    restored: bool,
) -> Rule:
    """The rule a parsed spec describes; ``restored`` False holds back ALERTS series until
    the group restored the ``for`` state."""
    if spec.kind is RuleKind.ALERTING:
        return build_alerting(group, spec, settings, restored=restored)
    return build_recording(group, spec)


def build_recording(group: GroupSpec, spec: RuleSpec) -> RecordingRule:
    return RecordingRule(spec.record, spec.expr, rule_labels(group, spec))


def build_alerting(
    group: GroupSpec, spec: RuleSpec, settings: RuleSettings, *, restored: bool
) -> AlertingRule:
    return AlertingRule(
        spec.alert,
        spec.expr,
        for_ms=spec.for_ms,
        keep_firing_for_ms=spec.keep_firing_for_ms,
        labels=rule_labels(group, spec),
        annotations=annotation_set(spec.annotations.items()),
        external_labels=settings.external_labels,
        external_url=settings.external_url,
        restored=restored,
    )


def load_groups(
    settings: RuleSettings, options: GroupOptions, *, should_restore: bool
) -> dict[str, Group]:
    """Groups of every rule file, keyed by ``file;name``; raises the first
    :class:`RuleFileError` after logging them all."""
    groups: dict[str, Group] = {}
    errors: list[RuleFileError] = []
    for path in settings.files:
        rule_file, errs = load_rule_file(path)
        errors += errs
        for spec in rule_file.groups:
            rules = [build_rule(spec, r, settings, restored=not should_restore) for r in spec.rules]
            g = Group(
                spec.name,
                path,
                rules,
                options,
                interval_ms=spec.interval_ms,
                query_offset_ms=spec.query_offset_ms,
                limit=spec.limit,
                should_restore=should_restore,
            )
            groups[g.key] = g
    for err in errors:
        log.error("loading rule groups failed err=%s", err)
    if errors:
        raise errors[0]
    return groups


class RuleManager:
    """Runs rule groups on a clock. ``executor`` runs each evaluation (default: inline)."""

    def __init__(self, options: GroupOptions, clock: Clock, executor: Executor = inline) -> None:
        self.options = options
        self.clock = clock
        self.executor = executor
        self._groups: dict[str, Group] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._restored = False
        self._stopping = asyncio.Event()

    async def update(self, settings: RuleSettings) -> None:
        """Apply a configuration: load, then swap groups. Raises RuleFileError (and keeps
        the running groups) when a file is invalid."""
        options = replace(
            self.options,
            default_interval_ms=settings.evaluation_interval_ms,
            default_query_offset_ms=settings.query_offset_ms,
        )
        new = load_groups(settings, options, should_restore=not self._restored)
        self._restored = True
        self.options = options
        old = self._groups
        for key, g in new.items():
            prev = old.pop(key, None)
            if prev is not None and prev.equals(g):
                new[key] = prev
                continue
            if prev is not None:
                await self._stop_group(prev)
                g.copy_state(prev)
            self._start(g)
        for g in old.values():
            await self._stop_group(g)
            self._stale_later(g)
        self._groups = new
        self._choose_batched()

    def _choose_batched(self) -> None:
        """Which groups evaluate chunks of their times at once (virtual time only)."""
        batching = self.options.batching
        groups = list(self._groups.values())
        for g in groups:
            if batching is None:
                g.batched = False
                continue
            others = [o.rules for o in groups if o is not g]
            why = why_step_by_step(g.rules, others, batching)
            g.batched = not why
            if why:
                log.debug("rule group evaluated step by step group=%s reason=%s", g.name, why)

    def flush(self) -> None:
        """Evaluate what batched groups have put off, so the store holds every evaluation
        up to now (before anything reads the outputs: the end of a simulation)."""
        for g in self._groups.values():
            g.flush()

    def _start(self, g: Group) -> None:
        self._tasks[g.key] = asyncio.create_task(
            g.run(self.clock, self.executor), name=f"rules {g.key}"
        )

    async def _stop_group(self, g: Group) -> None:
        g.stop()
        task = self._tasks.pop(g.key, None)
        if task is not None:
            await task

    def _stale_later(self, g: Group) -> None:
        """Mark a removed group's series stale after two intervals (``markStale``)."""
        stopped_ms = self.clock.now_ms()

        async def later() -> None:
            sleeper = asyncio.ensure_future(self.clock.sleep_ms(2 * g.interval_ms))
            stopper = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
            sleeper.cancel()
            stopper.cancel()
            if not self._stopping.is_set():
                await self.executor(lambda: g.mark_all_stale(stopped_ms))

        task = asyncio.create_task(later(), name=f"rules stale {g.key}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        """Stop every group after its current evaluation."""
        self._stopping.set()
        for g in list(self._groups.values()):
            await self._stop_group(g)
        for task in list(self._background):
            await task

    # ---- views (web, tests) ------------------------------------------------------------------
    def groups(self) -> list[Group]:
        """Groups sorted by file, then name."""
        return sorted(self._groups.values(), key=lambda g: (g.file, g.name))

    def rules(self) -> list[Rule]:
        return [r for g in self.groups() for r in g.rules]

    def alerting_rules(self) -> list[AlertingRule]:
        return [r for r in self.rules() if isinstance(r, AlertingRule)]

    def group(self, file: str, name: str) -> Group | None:
        return self._groups.get(f"{file};{name}")


def settings_from(
    files: Sequence[str],
    *,
    evaluation_interval_ms: int,
    query_offset_ms: int = 0,
    external_labels: Mapping[str, str] | None = None,
    external_url: str = "",
) -> RuleSettings:
    return RuleSettings(
        tuple(expand_globs(files)),
        evaluation_interval_ms,
        query_offset_ms,
        MappingProxyType(dict(external_labels or {})),
        external_url,
    )
