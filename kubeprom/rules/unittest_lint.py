"""Lint warnings for rule unit tests, which promtool does not give.

- ``after-last-sample``: a test's ``eval_time`` is after the last sample of every input
  series its rule (or expression) reads, so the result rests on the lookback window or on
  nothing (prometheus#14500). Series read only inside ``absent()`` do not count: there the
  end of the data is the point.
- ``unread-series``: an input series whose metric name no rule of the rule files and no
  tested expression selects (a misspelt name, or a leftover). Series of a read metric that
  label matchers leave out are not reported: tests add them on purpose.
- ``for-too-long``: a test expects an alert to fire before its rule's ``for`` allows,
  counted from the first step the rule's input exists.

Reads go through recording rules: an alert on a recorded series reads that rule's inputs.
Each warning names the test file, line and column of the entry it is about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubeprom.model.labels import Labels
from kubeprom.model.timeutil import format_duration_ms
from kubeprom.rules.alerting import AlertingRule
from kubeprom.rules.exprinfo import by_metric_name, reads, selected
from kubeprom.rules.group import Group
from kubeprom.rules.recording import RecordingRule
from kubeprom.rules.unittest_file import Place, UnitTestFile, UnitTestGroup

AFTER_LAST_SAMPLE = "after-last-sample"
UNREAD_SERIES = "unread-series"
FOR_TOO_LONG = "for-too-long"


@dataclass(frozen=True, slots=True)
class LintWarning:
    kind: str
    place: Place
    message: str

    def __str__(self) -> str:
        return f"{self.place}: warning: {self.message} ({self.kind})"


class _Reads:
    """Which input series an expression reads, through recording rules."""

    def __init__(self, tg: UnitTestGroup, groups: Sequence[Group]) -> None:
        self.inputs = by_metric_name(s.labels for s in tg.input_series)
        self.recording = [r for g in groups for r in g.rules if isinstance(r, RecordingRule)]
        self._memo: dict[tuple[str, bool], tuple[set[Labels], bool]] = {}

    def of(self, expr: str, *, count_absent: bool) -> tuple[set[Labels], bool]:
        """The input series ``expr`` reads, and whether it reads some series only through
        ``absent()``."""
        key = (expr, count_absent)
        found = self._memo.get(key)
        if found is not None:
            return found
        self._memo[key] = (set(), False)  # a rule reading itself adds nothing
        info = reads(expr)
        out = selected(info, self.inputs, count_absent=count_absent)
        absent = any(s.in_absent for s in info.selectors)
        for rule in self.recording:
            if any(
                s.may_select_name(rule.name)
                for s in info.selectors
                if count_absent or not s.in_absent
            ):
                more, more_absent = self.of(rule.expr, count_absent=count_absent)
                out |= more
                absent = absent or more_absent
        self._memo[key] = (out, absent)
        return out, absent


def lint_group(tf: UnitTestFile, tg: UnitTestGroup, groups: Sequence[Group]) -> list[LintWarning]:
    """The lint warnings of one test group, in file order."""
    out: list[LintWarning] = []
    times: dict[Labels, tuple[int, int]] = {}
    for s in tg.input_series:
        pos = [i for i, v in enumerate(s.items) if v is not None]
        if pos:
            times[s.labels] = (pos[0] * tg.interval_ms, pos[-1] * tg.interval_ms)
    r = _Reads(tg, groups)
    alerts: dict[str, list[AlertingRule]] = {}
    for g in groups:
        for rule in g.rules:
            if isinstance(rule, AlertingRule):
                alerts.setdefault(rule.name, []).append(rule)

    def after_last(place: Place, eval_ms: int, what: str, read: set[Labels]) -> None:
        ends = [times[lab][1] for lab in read if lab in times]
        if ends and eval_ms > max(ends):
            out.append(
                LintWarning(
                    AFTER_LAST_SAMPLE,
                    place,
                    f"eval_time {format_duration_ms(eval_ms)} is after the last sample "
                    f"({format_duration_ms(max(ends))}) of every input series {what} reads",
                )
            )

    ei = tf.evaluation_interval_ms
    for t in tg.alert_tests:
        rules = alerts.get(t.alertname, [])
        read: set[Labels] = set()
        for rule in rules:
            read |= r.of(rule.expr, count_absent=False)[0]
        after_last(t.place, t.eval_ms, t.alertname, read)
        if not t.exp_alerts:
            continue
        earliest = None
        for rule in rules:
            fires = _earliest_fire_ms(rule, r, times, ei)
            earliest = fires if earliest is None else min(earliest, fires)
        if earliest is not None and t.eval_ms // ei * ei < earliest:
            rule = rules[0]
            out.append(
                LintWarning(
                    FOR_TOO_LONG,
                    t.place,
                    f"expects {t.alertname} firing at {format_duration_ms(t.eval_ms)}, but "
                    f"its rule's for of {format_duration_ms(rule.for_ms)} lets it fire at "
                    f"{format_duration_ms(earliest)} at the earliest",
                )
            )
    for e in tg.expr_tests:
        after_last(e.place, e.eval_ms, "the expression", r.of(e.expr, count_absent=False)[0])
    exprs = [rule.expr for g in groups for rule in g.rules] + [e.expr for e in tg.expr_tests]
    for s in tg.input_series:
        name = s.labels.name
        if not any(reads(expr).may_read_output(name) for expr in exprs):
            out.append(
                LintWarning(
                    UNREAD_SERIES,
                    s.place,
                    f"no rule and no tested expression reads metric {name!r} "
                    f"(input series {s.series})",
                )
            )
    return sorted(out, key=lambda w: (w.place.line, w.place.col))


def _earliest_fire_ms(
    rule: AlertingRule, r: _Reads, times: dict[Labels, tuple[int, int]], ei: int
) -> int:
    """The first step (relative) at which ``rule`` could be firing: its input's first
    sample (the start when it reads nothing, or reads through ``absent()``), rounded up to
    a step, plus ``for``, rounded up to a step."""
    read, absent = r.of(rule.expr, count_absent=False)
    firsts = [times[lab][0] for lab in read if lab in times]
    begin = 0 if absent or not firsts else min(firsts)
    active = -(-begin // ei) * ei
    return -(-(active + rule.for_ms) // ei) * ei
