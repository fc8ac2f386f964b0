"""``kubeprom run``'s store: the full DB, or the agent's WAL-only store (``--agent``).

The rest of the server sees the store through :class:`Storage`: who appends, the counters
remote write follows, the WAL it reads, the metrics, and the periodic upkeep (compaction
for the full store, WAL truncation for the agent).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client.registry import Collector

from kubeprom.config.load import MainConfig
from kubeprom.errors import KubepromError
from kubeprom.tsdb.agent import DEFAULT_TRUNCATE_INTERVAL_S, AgentDB
from kubeprom.tsdb.api import Appender, MetricMetadata
from kubeprom.tsdb.db import DB, Options
from kubeprom.tsdb.metrics import AgentCollector, TSDBCollector
from kubeprom.tsdb.wal import WAL

COMPACTION_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class Storage:
    """The store as the rest of the server sees it."""

    appender: Callable[[], Appender]
    samples_in: Callable[[], int]
    highest_in_ms: Callable[[], int]
    metadata: Callable[[], dict[str, MetricMetadata]]
    wal: WAL | None
    collector: Collector
    maintain: Callable[[], object]  # compaction (full) or WAL truncation (agent)
    maintain_interval_s: float
    close: Callable[[], None]
    db: DB | None  # None in agent mode: nothing can be queried

    def metadata_entries(self) -> list[tuple[str, str, str, str]]:
        """(metric, type, help, unit) of every metric, for remote write's metadata."""
        return [(n, m.type.value, m.help, m.unit) for n, m in sorted(self.metadata().items())]


def open_storage(args: argparse.Namespace, retention_ms: int) -> Storage:
    if args.agent:
        agent = AgentDB.open(args.data)
        return Storage(
            appender=agent.appender,
            samples_in=lambda: agent.stats.appended,
            highest_in_ms=lambda: agent.maxt,
            metadata=lambda: agent.metadata,
            wal=agent.wal,
            collector=AgentCollector(agent),
            maintain=agent.truncate,
            maintain_interval_s=DEFAULT_TRUNCATE_INTERVAL_S,
            close=agent.close,
            db=None,
        )
    db = DB.open(args.data, Options(retention_ms=retention_ms, retention_bytes=args.retention_size))
    return Storage(
        appender=db.appender,
        samples_in=lambda: db.stats.appended,
        highest_in_ms=lambda: db.head.maxt,
        metadata=lambda: db.head.metadata,
        wal=db.wal,
        collector=TSDBCollector(db),
        maintain=db.compact,
        maintain_interval_s=COMPACTION_INTERVAL_S,
        close=db.close,
        db=db,
    )


def check_agent_config(config: MainConfig) -> None:
    """Prometheus' agent-mode checks (``config.LoadFile`` with ``agentMode``)."""
    where = f"parsing YAML file {config.source}"
    if config.alerting.alertmanagers or config.alerting.alert_relabel_configs:
        raise KubepromError(f"{where}: field alerting is not allowed in agent mode")
    if config.rule_files:
        raise KubepromError(f"{where}: field rule_files is not allowed in agent mode")
