"""A naive, obviously-correct model of the store to check the real one against."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from kubeprom.model.labels import Labels
from kubeprom.model.matchers import Matcher


def _bits(v: float) -> int:
    bits: int = struct.unpack("<Q", struct.pack("<d", v))[0]
    return bits


@dataclass
class ReferenceStore:
    """Per series, a list of (t, value bits); the same acceptance rules as the store."""

    series: dict[Labels, list[tuple[int, int]]] = field(default_factory=dict)
    min_valid_t: int = -(2**63)

    def append(self, t: int, labels: list[Labels], values: list[float]) -> tuple[int, int, int]:
        """Returns (appended, out_of_order, duplicate)."""
        appended = ooo = dup = 0
        seen: set[Labels] = set()
        for lab, v in zip(labels, values, strict=True):
            samples = self.series.setdefault(lab, [])
            if lab in seen:
                dup += 1
                continue
            seen.add(lab)
            if t < self.min_valid_t:
                continue
            if samples and t < samples[-1][0]:
                ooo += 1
            elif samples and t == samples[-1][0]:
                dup += samples[-1][1] != _bits(v)
            else:
                samples.append((t, _bits(v)))
                appended += 1
        return appended, ooo, dup

    def select(
        self, matchers: list[Matcher], mint: int, maxt: int
    ) -> dict[Labels, list[tuple[int, int]]]:
        out = {}
        for lab, samples in self.series.items():
            if all(m.matches(lab.get(m.name)) for m in matchers):
                kept = [s for s in samples if mint <= s[0] <= maxt]
                if kept:
                    out[lab] = kept
        return out
