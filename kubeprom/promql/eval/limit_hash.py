"""Where a series falls for ``limit_ratio``: Prometheus' ``HashRatioSampler.SampleOffset``.

The offset is the label set's ``Labels.Hash()`` (:meth:`kubeprom.model.labels.Labels.hash`)
over the largest uint64, so a series is kept or dropped exactly as Prometheus decides.
"""

from __future__ import annotations

from kubeprom.model.labels import Labels

_U64_MAX_F = float(2**64 - 1)


def ratio_offset(lab: Labels) -> float:
    """``float64(lab.Hash()) / float64(math.MaxUint64)``: in [0, 1]."""
    return float(lab.hash()) / _U64_MAX_F
