"""The alerting state machine over a whole grid of evaluations at once.

:class:`~kubeprom.rules.alerting.AlertingRule` steps one evaluation at a time; given, for
every alert (label set), the grid steps at which its expression returned it, this module
computes what that step-by-step machine does, for all alerts and steps with numpy:

- an alert becomes active (pending) at the first step of a run of steps it is returned at,
  and fires at the first step at least ``for`` after that (if it is still returned);
- a pending alert that is not returned is dropped (no resolved notification);
- a firing one is resolved at the first step it is not returned, unless ``keep_firing_for``
  keeps it firing: through the absent steps less than ``keep_firing_for`` after the first of
  them, and if it is returned again meanwhile it goes on firing with its old ``activeAt``.

Episodes are in coordinate form: parallel arrays of the alert (row), the step it became
active, the step it fired (-1: never), the last step it was pending or firing, and the step
it ended (-1: still active at the end of the grid). Times are grid step indices.
``tests/rules/test_alertstates.py`` checks every field against ``AlertingRule`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kubeprom.model.samples import I64Array


@dataclass(frozen=True, slots=True)
class Episodes:
    """Alert episodes (see the module docstring), sorted by row, then active step."""

    rows: I64Array
    active: I64Array
    fired: I64Array
    last: I64Array
    ended: I64Array

    def __len__(self) -> int:
        return len(self.rows)

    def pending_ranges(self) -> tuple[I64Array, I64Array, I64Array]:
        """(row, first step, step count) of each pending stretch."""
        stop = np.where(self.fired >= 0, self.fired - 1, self.last)
        keep = stop >= self.active
        return self.rows[keep], self.active[keep], (stop - self.active + 1)[keep]

    def firing_ranges(self) -> tuple[I64Array, I64Array, I64Array]:
        """(row, first step, step count) of each firing stretch."""
        keep = self.fired >= 0
        return self.rows[keep], self.fired[keep], (self.last - self.fired + 1)[keep]

    def active_counts(self, n: int) -> I64Array:
        """How many alerts are pending or firing at each of the ``n`` steps."""
        delta = np.zeros(n + 1, dtype=np.int64)
        np.add.at(delta, self.active, 1)
        np.add.at(delta, self.last + 1, -1)
        return np.cumsum(delta[:n])


def _runs(rows: I64Array, steps: I64Array) -> tuple[I64Array, I64Array, I64Array]:
    """Maximal runs of consecutive steps per row: (row, first step, last step)."""
    order = np.lexsort((steps, rows))
    r, s = rows[order], steps[order]
    if not len(r):
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    new = np.ones(len(r), dtype=bool)
    new[1:] = (r[1:] != r[:-1]) | (s[1:] != s[:-1] + 1)
    starts = np.nonzero(new)[0]
    ends = np.append(starts[1:] - 1, len(r) - 1)
    return r[starts], s[starts], s[ends]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def episodes(
    rows: I64Array, steps: I64Array, n: int, step_ms: int, for_ms: int, keep_firing_for_ms: int
) -> Episodes:
    """The episodes of alerts returned at ``(rows[i], steps[i])`` (pairs unique; steps in
    ``0..n-1`` of a grid ``step_ms`` apart)."""
    run_row, run_start, run_end = _runs(rows, steps)
    fire = run_start + _ceil_div(for_ms, step_ms)
    if keep_firing_for_ms <= 0:
        fired = np.where(fire <= run_end, fire, -1)
        ended = np.where(run_end + 1 < n, run_end + 1, -1)
        return Episodes(run_row, run_start, fired, run_end, ended)
    return _chained(run_row, run_start, run_end, fire, n, step_ms, keep_firing_for_ms)


def _chained(
    run_row: I64Array,
    run_start: I64Array,
    run_end: I64Array,
    fire: I64Array,
    n: int,
    step_ms: int,
    keep_ms: int,
) -> Episodes:
    """Runs joined where ``keep_firing_for`` carries a firing alert over a gap; one Python
    step per run (not per grid step)."""
    kept = _ceil_div(keep_ms, step_ms)  # absent steps a firing alert stays firing
    out: list[tuple[int, int, int, int, int]] = []
    cur: list[int] | None = None  # row, active, fired, last present

    def close(c: list[int]) -> None:
        row, active, fired, last = c
        if fired < 0:
            out.append((row, active, -1, last, last + 1 if last + 1 < n else -1))
            return
        stop = min(last + kept, n - 1)
        out.append((row, active, fired, stop, last + kept + 1 if last + kept + 1 < n else -1))

    for row, a, b, f in zip(
        run_row.tolist(), run_start.tolist(), run_end.tolist(), fire.tolist(), strict=True
    ):
        if cur is not None and cur[0] == row and cur[2] >= 0 and a - cur[3] - 1 <= kept:
            cur[3] = b
            continue
        if cur is not None:
            close(cur)
        cur = [row, a, f if f <= b else -1, b]
    if cur is not None:
        close(cur)
    arr = np.asarray(out, dtype=np.int64).reshape(-1, 5)
    return Episodes(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4])
