"""What the generator may refer to: the dataset's metrics, their label sets and time range.

Built from the series list any Prometheus-compatible API returns (``/api/v1/series``), so
the generator needs no knowledge of how the data was made. Counters are told from gauges
by name (``_total``, ``_count``, ``_sum``, ``_bucket``), as Prometheus' own lint does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    series: tuple[tuple[tuple[str, str], ...], ...]  # label sets without __name__, sorted

    @property
    def counter(self) -> bool:
        return self.name.endswith(COUNTER_SUFFIXES)

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(sorted({k for s in self.series for k, _ in s}))

    def values(self, label: str) -> tuple[str, ...]:
        return tuple(sorted({v for s in self.series for k, v in s if k == label}))


@dataclass(frozen=True, slots=True)
class Schema:
    metrics: tuple[Metric, ...]
    start_ms: int  # first sample time, ms
    end_ms: int  # last sample time, ms

    @staticmethod
    def from_series(series: list[dict[str, str]], start_ms: int, end_ms: int) -> Schema:
        by_name: dict[str, set[tuple[tuple[str, str], ...]]] = {}
        for s in series:
            name = s["__name__"]
            rest = tuple(sorted((k, v) for k, v in s.items() if k != "__name__"))
            by_name.setdefault(name, set()).add(rest)
        metrics = tuple(Metric(n, tuple(sorted(v))) for n, v in sorted(by_name.items()))
        return Schema(metrics, start_ms, end_ms)

    def to_json(self) -> str:
        return json.dumps(
            {
                "start_ms": self.start_ms,
                "end_ms": self.end_ms,
                "metrics": {m.name: [dict(s) for s in m.series] for m in self.metrics},
            }
        )

    @staticmethod
    def load(path: Path) -> Schema:
        d = json.loads(path.read_text())
        series = [dict(s, __name__=n) for n, ss in d["metrics"].items() for s in ss]
        return Schema.from_series(series, d["start_ms"], d["end_ms"])

    @property
    def counters(self) -> tuple[Metric, ...]:
        return tuple(m for m in self.metrics if m.counter)

    @property
    def gauges(self) -> tuple[Metric, ...]:
        return tuple(m for m in self.metrics if not m.counter)
