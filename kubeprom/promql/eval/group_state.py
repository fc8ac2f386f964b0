"""Running aggregation state per (group, step), updated one series-rank at a time.

Each ``add`` call takes at most one series per group (the series of one rank), so updates
are plain fancy-indexed array operations. The arithmetic copies Prometheus' order of
operations (Kahan-Neumaier increments, Welford variance, the direct-then-incremental mean).
"""

from __future__ import annotations

import numpy as np

from kubeprom.model.samples import F64Array, I64Array
from kubeprom.promql.functions.kahan import kahan_inc
from kubeprom.promql.types import BoolArray


class GroupState:
    """State of one aggregation (sum, avg, min, max, stddev, stdvar) over groups x steps."""

    def __init__(self, op: str, n_groups: int, n_steps: int, *, v2_stddev: bool = False) -> None:
        """``v2_stddev``: start stddev/stdvar at 0 even from a NaN or infinite first sample,
        as Prometheus 2.x did (3.0 starts at NaN, #14941); differential testing only."""
        shape = (n_groups, n_steps)
        self.op = op
        self.v2_stddev = v2_stddev
        self.seen = np.zeros(shape, dtype=bool)
        self.value = np.zeros(shape)
        self.comp = np.zeros(shape)
        self.mean = np.zeros(shape)
        self.count = np.zeros(shape)
        self.incremental = np.zeros(shape, dtype=bool)

    def add(self, g: I64Array, f: F64Array, p: BoolArray) -> None:
        """Fold one value per group (rows of ``f``, groups ``g`` distinct) where ``p``."""
        seen = self.seen[g]
        first = p & ~seen
        more = p & seen
        value, comp, mean, count = self.value[g], self.comp[g], self.mean[g], self.count[g]
        op = self.op
        with np.errstate(all="ignore"):
            if op == "sum":
                nv, nc = kahan_inc(f, value, comp)
                value = np.where(more, nv, np.where(first, f, value))
                comp = np.where(more, nc, np.where(first, 0.0, comp))
            elif op == "avg":
                incr = self.incremental[g]
                count = np.where(more, count + 1, np.where(first, 1.0, count))
                nv, nc = kahan_inc(f, value, comp)
                direct = more & ~incr & ~np.isinf(nv)
                switch = more & ~incr & np.isinf(nv)
                mean = np.where(switch, value / (count - 1), mean)
                comp = np.where(switch, comp / (count - 1), comp)
                incr = incr | switch
                q = (count - 1) / count
                mn, mc = kahan_inc(f / count, q * mean, q * comp)
                use_incr = more & incr
                value = np.where(direct, nv, np.where(first, f, value))
                comp = np.where(direct, nc, np.where(first, 0.0, comp))
                mean = np.where(use_incr, mn, np.where(first, f, mean))
                comp = np.where(use_incr, mc, comp)
                self.incremental[g] = incr & ~first
            elif op in ("max", "min"):
                better = (value < f) if op == "max" else (value > f)
                take = first | (more & (better | np.isnan(value)))
                value = np.where(take, f, value)
            elif op in ("stddev", "stdvar"):
                start = np.where(np.isnan(f) | np.isinf(f), np.nan, 0.0)
                if self.v2_stddev:
                    start = np.zeros_like(f)
                count = np.where(more, count + 1, np.where(first, 1.0, count))
                delta = f - mean
                new_mean = mean + delta / count
                value = np.where(
                    more, value + delta * (f - new_mean), np.where(first, start, value)
                )
                mean = np.where(more, new_mean, np.where(first, f, mean))
            else:
                raise ValueError(f"unknown aggregation {op!r}")
        self.value[g], self.comp[g], self.mean[g], self.count[g] = value, comp, mean, count
        self.seen[g] = seen | p

    def result(self) -> F64Array:
        op = self.op
        with np.errstate(all="ignore"):
            if op == "sum":
                return self.value + self.comp
            if op == "avg":
                direct = self.value / self.count + self.comp / self.count
                return np.where(self.incremental, self.mean + self.comp, direct)
            if op == "stdvar":
                return self.value / self.count
            if op == "stddev":
                return np.sqrt(self.value / self.count)
        return self.value
