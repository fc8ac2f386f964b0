"""Reshaping :class:`~kubeprom.promql.types.InstantSteps` rows: the helpers every node uses.

They live beside the value types, not in the engine, so the evaluation modules in
``promql/eval`` and the query API can use them without importing the evaluator. Each
returns a new value (or the input when nothing changes) and never modifies its argument.
"""

from __future__ import annotations

import numpy as np

from kubeprom.errors import EvalError
from kubeprom.model.labels import Labels
from kubeprom.promql.types import InstantSteps

METADATA_LABELS = ("__name__", "__type__", "__unit__")

_DUPLICATE = "vector cannot contain metrics with the same labelset"


def drop_metadata(labels: Labels) -> Labels:
    """``labels`` without the name and the type/unit metadata labels (Prometheus'
    ``DropReserved(schema.IsMetadataLabel)``)."""
    flat = labels.flat
    if not any(n in flat[0::2] for n in METADATA_LABELS):
        return labels
    return labels.without(*METADATA_LABELS)


def cleanup(m: InstantSteps) -> InstantSteps:
    """Apply the delayed ``__name__`` removal and refuse duplicate label sets (the end of
    every query, Prometheus' ``cleanupMetricLabels``). Raises EvalError on duplicates."""
    if not m.drop_name.any():
        labels = m.labels
    else:
        labels = [
            drop_metadata(lab) if d else lab
            for lab, d in zip(m.labels, m.drop_name.tolist(), strict=True)
        ]
    if len(set(labels)) != len(labels):
        raise EvalError(_DUPLICATE)
    return InstantSteps(labels, m.values, m.present, np.zeros(len(labels), dtype=bool))


def cleanup_labels(m: InstantSteps) -> InstantSteps:
    """The delayed name removal alone, without the duplicate check (callers merge)."""
    labels = [
        drop_metadata(lab) if d else lab
        for lab, d in zip(m.labels, m.drop_name.tolist(), strict=True)
    ]
    return InstantSteps(labels, m.values, m.present, np.zeros(len(labels), dtype=bool))


def merge_same_labels(m: InstantSteps) -> InstantSteps:
    """Fold rows with equal label sets into one row; they must not overlap in time.

    Prometheus builds a node's output series by label hash, step by step, so rows that a
    node produces with the same labels at different steps are one series, and two at the
    same step are an error (EvalError).
    """
    index: dict[Labels, int] = {}
    target = np.empty(len(m.labels), dtype=np.int64)
    for i, lab in enumerate(m.labels):
        target[i] = index.setdefault(lab, len(index))
    if len(index) == len(m.labels):
        return m
    counts = np.zeros((len(index), m.values.shape[1]), dtype=np.int64)
    np.add.at(counts, target, m.present.astype(np.int64))
    if (counts > 1).any():
        raise EvalError(_DUPLICATE)
    values = np.full((len(index), m.values.shape[1]), np.nan)
    present = np.zeros_like(counts, dtype=bool)
    rows, cols = np.nonzero(m.present)
    values[target[rows], cols] = m.values[rows, cols]
    present[target[rows], cols] = True
    drop = np.zeros(len(index), dtype=bool)
    np.logical_or.at(drop, target, m.drop_name)
    return InstantSteps(list(index), values, present, drop)


def compact(m: InstantSteps) -> InstantSteps:
    """Drop rows that have no point at any step."""
    keep = m.present.any(axis=1)
    if keep.all():
        return m
    idx = np.nonzero(keep)[0]
    return InstantSteps([m.labels[i] for i in idx], m.values[idx], m.present[idx], m.drop_name[idx])
