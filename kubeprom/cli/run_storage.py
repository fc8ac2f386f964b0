"""``kubeprom run``'s store: the full DB, or the agent's WAL-only store (``--agent``).

The rest of the server sees the store through :class:`Storage`: who appends, the counters
remote write follows, the WAL it reads, the metrics, and the periodic upkeep (compaction
for the full store, WAL truncation for the agent).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client.registry import Collector

from kubeprom.clock import Clock
from kubeprom.config.load import MainConfig
from kubeprom.errors import KubepromError
from kubeprom.tsdb.agent import DEFAULT_TRUNCATE_INTERVAL_S, AgentDB
from kubeprom.tsdb.api import Appender, MetricMetadata
from kubeprom.tsdb.db import DB, Options
from kubeprom.tsdb.metrics import AgentCollector, TSDBCollector
from kubeprom.tsdb.wal import WAL

COMPACTION_INTERVAL_MS = 60_000  # Prometheus' DB.run compacts once a minute
DEFAULT_TRUNCATE_INTERVAL_MS = round(DEFAULT_TRUNCATE_INTERVAL_S * 1000)


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
    maintain_interval_ms: int
    close: Callable[[], None]
    db: DB | None  # None in agent mode: nothing can be queried

    def metadata_entries(self) -> list[tuple[str, str, str, str]]:
        """(metric, type, help, unit) of every metric, for remote write's metadata."""
        return [(n, m.type.value, m.help, m.unit) for n, m in sorted(self.metadata().items())]


def open_storage(path: str, options: Options, *, agent: bool, clock: Clock) -> Storage:
    """Open (replaying its WAL) the full store, or with ``agent`` the agent's WAL store."""
    if agent:
        store = AgentDB.open(path)
        return Storage(
            appender=store.appender,
            samples_in=lambda: store.stats.appended,
            highest_in_ms=lambda: store.maxt,
            metadata=lambda: store.metadata,
            wal=store.wal,
            collector=AgentCollector(store),
            maintain=store.truncate,
            maintain_interval_ms=DEFAULT_TRUNCATE_INTERVAL_MS,
            close=store.close,
            db=None,
        )
    db = DB.open(path, options, clock=clock)
    return Storage(
        appender=db.appender,
        samples_in=lambda: db.stats.appended,
        highest_in_ms=lambda: db.head.maxt,
        metadata=lambda: db.head.metadata,
        wal=db.wal,
        collector=TSDBCollector(db),
        maintain=db.compact,
        maintain_interval_ms=COMPACTION_INTERVAL_MS,
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
    # The HPA API is served beside the query API, and its metrics are queries.
    for name, node in (
        ("horizontal_pod_autoscalers", config.hpa_node),
        ("prometheus_adapter", config.adapter_node),
        ("scaled_objects", config.scaled_objects_node),
    ):
        if node is not None:
            raise KubepromError(f"{where}: field {name} is not allowed in agent mode")
