"""Exporter output as columns: what a collector exposes, without a Python step per sample.

A columnar collector describes its families once (:class:`FamilySpec`) and each object it
reports (a cgroup, a container, a pod) as a :class:`Block`: the object's series (family,
sample name, label pairs and an opaque series key each), built when the object first
appears with those labels and reused on every later collection. A collection
(:class:`Columns`) is the blocks of the objects present and one row of values per object
(``matrix``, computed with numpy from the cluster state); each series reads the value in its
block's ``column`` of its object's row.

Two readers share one description, so they cannot drift apart:

* :func:`to_metrics` turns columns into prometheus-client families (family by family, objects
  in order) for the exposition text that ``kubeprom run`` serves;
* in-process scrapes (``kubeprom/sim/inprocess.py``) hand the scraper the keys, values and
  timestamps directly, so the store gets exactly what parsing the text would give it.

Every in-process exporter (cAdvisor, the kubelet's resource metrics, kube-state-metrics,
RabbitMQ) is columnar. A collector that only has ``collect()`` still works everywhere:
:func:`columns_of` reads its families sample by sample (:func:`from_metrics`), the slow but
general way.

What a new exporter provides to take the fast path without special code anywhere else:
register it in :class:`~kubeprom.exporters.targets.ClusterExporters` like the others and give
it ``columns() -> Columns`` (see :class:`ColumnCollector`): a tuple of :class:`FamilySpec` in
exposition order, one :class:`Block` per object reported (built with :class:`BlockBuilder`,
kept in a :class:`BlockCache` under a signature of everything its labels depend on; label
values are ``str``, not enums), one row of values per block; and ``collect()`` as
``to_metrics(self.columns())`` so its text is derived from the same description. For a few
objects described one by one, :class:`ObjectColumns` does the caching and the rows; for
many, build the value matrix with numpy from the cluster's tables (cAdvisor, kubelet).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
LabelPairs = tuple[tuple[str, str], ...]

_SEP = "\xff"  # never in a label name or value of a valid series; keys only tell series apart


@dataclass(frozen=True, slots=True)
class FamilySpec:
    """One metric family as it is exposed. ``name`` is the sample name of its series
    (``..._total`` for counters, as exporters print it); ``stamped`` families carry the
    collection's timestamp (:attr:`Columns.t_s`) on every sample."""

    name: str
    type: str  # "counter" | "gauge" | ... (prometheus-client's type names)
    documentation: str
    label_names: tuple[str, ...] = ()
    unit: str = ""
    stamped: bool = False

    @property
    def family_name(self) -> str:
        """The name in ``# HELP`` / ``# TYPE`` (a counter's without ``_total``)."""
        if self.type == "counter" and self.name.endswith("_total"):
            return self.name[: -len("_total")]
        return self.name


def series_key(name: str, labels: LabelPairs) -> bytes:
    """The in-process scrape cache key of a series: distinct series give distinct keys."""
    return _SEP.join([name, *chain.from_iterable(labels)]).encode()


@dataclass(frozen=True, slots=True)
class Block:
    """The series one object contributes, in family order: for series ``i``, its family
    index, sample name, label pairs (exposition order), key and the column of the object's
    value row it reads. Immutable: collectors cache and share them."""

    family: I64
    column: I64
    names: tuple[str, ...]
    labels: tuple[LabelPairs, ...]
    keys: tuple[bytes, ...]

    def __len__(self) -> int:
        return len(self.keys)


class BlockBuilder:
    """Collects one object's series, then :meth:`build` freezes them into a :class:`Block`."""

    def __init__(self, families: Sequence[FamilySpec]) -> None:
        self._families = families
        self._family: list[int] = []
        self._column: list[int] = []
        self._names: list[str] = []
        self._labels: list[LabelPairs] = []

    def __len__(self) -> int:
        """The series added so far (the next series' position)."""
        return len(self._family)

    def add(self, family: int, column: int, values: Sequence[str]) -> None:
        """Series of family ``family`` with these label values (in the family's label name
        order), reading ``column`` of the object's row."""
        spec = self._families[family]
        self.add_pairs(family, column, tuple(zip(spec.label_names, values, strict=True)))

    def add_pairs(
        self, family: int, column: int, labels: LabelPairs, name: str | None = None
    ) -> None:
        """As :meth:`add`, with the label pairs given (for families whose label names vary
        from series to series, e.g. ``kube_pod_labels``) and optionally the sample name."""
        self._family.append(family)
        self._column.append(column)
        self._names.append(name or self._families[family].name)
        self._labels.append(labels)

    def build(self) -> Block:
        return Block(
            np.array(self._family, dtype=np.int64),
            np.array(self._column, dtype=np.int64),
            tuple(self._names),
            tuple(self._labels),
            tuple(map(series_key, self._names, self._labels)),
        )


@dataclass(frozen=True, slots=True)
class Columns:
    """One collection: the series of ``blocks`` (one per object, in object order) with the
    values ``matrix[i, block.column]`` for the ``i``-th block; samples of stamped families
    carry ``t_s``. Family order and, within a family, object order are the exposition's."""

    families: Sequence[FamilySpec]
    blocks: Sequence[Block]
    matrix: F64
    t_s: float | None = None

    def keys(self) -> list[bytes]:
        return list(chain.from_iterable(b.keys for b in self.blocks))

    def values(self) -> F64:
        """Every series' value, in block order."""
        if not self.blocks:
            return np.zeros(0, dtype=np.float64)
        lengths = np.fromiter(map(len, self.blocks), np.int64, len(self.blocks))
        rows = np.repeat(np.arange(len(self.blocks)), lengths)
        cols = np.concatenate([b.column for b in self.blocks])
        return np.ascontiguousarray(self.matrix[rows, cols], dtype=np.float64)

    def family(self) -> I64:
        """Every series' family index, in block order."""
        if not self.blocks:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([b.family for b in self.blocks])

    def stamped(self) -> NDArray[np.bool_]:
        """Whether each series carries :attr:`t_s`, in block order."""
        flags = np.array([f.stamped for f in self.families], dtype=bool)
        return flags[self.family()] if len(flags) else np.zeros(0, dtype=bool)


@runtime_checkable
class ColumnCollector(Protocol):
    """A collector that can describe a collection as :class:`Columns`."""

    def columns(self) -> Columns: ...


def to_metrics(columns: Columns) -> list[Metric]:
    """prometheus-client families of ``columns`` (for the exposition text), each family's
    samples in object order; families without samples are kept (their HELP and TYPE are
    still written)."""
    metrics = [Metric(f.family_name, f.documentation, f.type, f.unit) for f in columns.families]
    names = list(chain.from_iterable(b.names for b in columns.blocks))
    labels = list(chain.from_iterable(b.labels for b in columns.blocks))
    family = columns.family()
    stamped = columns.stamped()
    values = columns.values().tolist()
    for i in np.argsort(family, kind="stable").tolist():
        stamp = columns.t_s if stamped[i] else None
        metrics[family[i]].samples.append(Sample(names[i], dict(labels[i]), values[i], stamp))
    return metrics


def from_metrics(metrics: Iterable[Metric]) -> Columns:
    """Columns read sample by sample from prometheus-client families, as one block over
    one row of values. Samples with a timestamp must all carry the same one and share their
    family with no unstamped sample (what the simulated exporters do); else ValueError."""
    families: list[FamilySpec] = []
    builder = BlockBuilder(families)
    values: list[float] = []
    t_s: float | None = None
    for index, metric in enumerate(metrics):
        stamps = {s.timestamp for s in metric.samples}
        stamped = bool(stamps) and None not in stamps
        if stamped:
            stamp = stamps.pop()
            if not isinstance(stamp, int | float):
                raise ValueError(f"family {metric.name!r}: a timestamp that is not a number")
            if stamps or (t_s is not None and stamp != t_s):
                raise ValueError(f"family {metric.name!r}: samples stamped at different times")
            t_s = float(stamp)
        elif len(stamps) > 1:
            raise ValueError(f"family {metric.name!r}: stamped and unstamped samples")
        families.append(
            FamilySpec(metric.name, metric.type, metric.documentation, (), metric.unit, stamped)
        )
        for s in metric.samples:
            # Values may be StrEnums; the text writes str().
            labels = tuple((k, str(v)) for k, v in s.labels.items())
            builder.add_pairs(index, len(values), labels, s.name)
            values.append(s.value)
    return Columns(families, [builder.build()], np.array([values], dtype=np.float64), t_s)


def same_objects(a: Sequence[object], b: Sequence[object]) -> bool:
    """Whether two sequences hold the very same objects, in order."""
    return len(a) == len(b) and all(map(operator.is_, a, b))


def concat(parts: Sequence[Columns]) -> Columns:
    """One collection of several parts' families and series, in order (all parts' stamped
    families must carry the same time)."""
    families: list[FamilySpec] = []
    blocks: list[Block] = []
    stamps = {p.t_s for p in parts if p.t_s is not None}
    if len(stamps) > 1:
        raise ValueError(f"parts stamped at different times: {sorted(stamps)!r}")
    width = max((p.matrix.shape[1] for p in parts), default=0)
    matrices = []
    for p in parts:
        offset = len(families)
        families.extend(p.families)
        for b in p.blocks:
            blocks.append(Block(b.family + offset, b.column, b.names, b.labels, b.keys))
        matrix = p.matrix[: len(p.blocks)]
        matrices.append(np.pad(matrix, ((0, 0), (0, width - matrix.shape[1]))))
    stacked = np.concatenate(matrices) if matrices else np.zeros((0, 0))
    return Columns(families, blocks, stacked, stamps.pop() if stamps else None)


@dataclass(slots=True)
class BlockCache:
    """Blocks by an object's signature (everything its series' labels depend on), kept from
    one collection to the next; a signature not seen in the last collection is dropped."""

    _blocks: dict[object, Block] = field(default_factory=dict)
    _seen: dict[object, Block] = field(default_factory=dict)

    def get(self, signature: object) -> Block | None:
        block = self._blocks.get(signature)
        if block is not None:
            self._seen[signature] = block
        return block

    def put(self, signature: object, block: Block) -> Block:
        self._seen[signature] = block
        return block

    def end_collection(self) -> None:
        """Forget the blocks of objects that were not collected since the last call."""
        self._blocks, self._seen = self._seen, {}


class ObjectColumns:
    """Columns of a few objects described one by one, for collectors whose objects are not
    a table (kube-state-metrics' Deployments, nodes, HPAs; a broker's queues).

    Each collection calls :meth:`add` per object in exposition order with a signature
    (everything its series' labels depend on), a function that adds its series to a
    :class:`BlockBuilder` (called only for a signature not in the last collection; the
    ``i``-th series added reads the ``i``-th value) and its values; :meth:`columns` ends
    the collection."""

    def __init__(self, families: Sequence[FamilySpec]) -> None:
        self.families = families
        self._cache = BlockCache()
        self._blocks: list[Block] = []
        self._rows: list[Sequence[float]] = []

    def add(
        self, signature: object, series: Callable[[BlockBuilder], None], values: Sequence[float]
    ) -> None:
        block = self._cache.get(signature)
        if block is None:
            builder = BlockBuilder(self.families)
            series(builder)
            block = self._cache.put(signature, builder.build())
        self._blocks.append(block)
        self._rows.append(values)

    def columns(self) -> Columns:
        width = max(map(len, self._rows), default=0)
        matrix = np.zeros((len(self._rows), width), dtype=np.float64)
        for i, row in enumerate(self._rows):
            matrix[i, : len(row)] = row
        out = Columns(self.families, self._blocks, matrix)
        self._blocks, self._rows = [], []
        self._cache.end_collection()
        return out


def columns_of(collector: Collector) -> Columns:
    """``collector``'s columns: its own when it is a :class:`ColumnCollector`, else read from
    its families."""
    if isinstance(collector, ColumnCollector):
        return collector.columns()
    return from_metrics(collector.collect())
