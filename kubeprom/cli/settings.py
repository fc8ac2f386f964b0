"""What the command line of ``kubeprom run`` decides, as one value the parts are built from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kubeprom.config.hpa_spec import FeatureGates
from kubeprom.hpa import ControllerConfig
from kubeprom.hpa.adapter import RELIST_INTERVAL_MS
from kubeprom.promql.options import DEFAULT_MAX_SAMPLES
from kubeprom.rules.batching import DEFAULT_STEPS
from kubeprom.rules.notifier import DEFAULT_QUEUE_CAPACITY
from kubeprom.tsdb.db import Options
from kubeprom.web import HTTPLimits, WebConfig


@dataclass(frozen=True, slots=True)
class RuleFlags:
    """The ``--rules.alert.*``, ``--alertmanager.*`` and ``--web.external-url`` flags (ms)."""

    external_url: str = ""
    for_outage_tolerance_ms: int = 3_600_000
    for_grace_period_ms: int = 600_000
    resend_delay_ms: int = 60_000
    notification_queue_capacity: int = DEFAULT_QUEUE_CAPACITY


@dataclass(frozen=True, slots=True)
class RemoteFlags:
    """``--agent``, ``--web.enable-remote-write-receiver`` and ``--storage.remote.*`` (ms)."""

    agent: bool = False
    write_receiver: bool = False
    read_sample_limit: int = 50_000_000
    read_concurrency: int = 10
    flush_deadline_ms: int = 60_000


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What the command line decides (the configuration file is read by the server)."""

    config_path: str | None
    data: str
    host: str = "127.0.0.1"
    port: int = 9090
    store: Options = field(default_factory=Options)
    web_config: WebConfig = field(default_factory=WebConfig)
    limits: HTTPLimits = field(default_factory=HTTPLimits)
    admin_api: bool = False
    query_max_concurrency: int = 20
    query_max_queued: int = 100
    query_timeout_s: float = 120.0
    query_max_samples: int = DEFAULT_MAX_SAMPLES
    # What the queries in flight may hold together (--query.max-samples-total), and how long
    # one waits for it (--query.samples-wait).
    query_max_samples_total: int = 2 * DEFAULT_MAX_SAMPLES
    query_samples_wait_s: float = 5.0
    rules: RuleFlags = field(default_factory=RuleFlags)
    hpa: ControllerConfig = field(default_factory=ControllerConfig)
    feature_gates: FeatureGates = field(default_factory=FeatureGates)
    adapter_relist_interval_ms: int = RELIST_INTERVAL_MS  # --metrics-relist-interval
    remote: RemoteFlags = field(default_factory=RemoteFlags)
    flags: Mapping[str, str] = field(default_factory=dict)
    storage_retention: str = ""
    # Virtual time only: evaluations per chunk of a rule group nothing else reads (1: each
    # evaluation at its instant; kubeprom.rules.batching).
    rule_batch_steps: int = DEFAULT_STEPS
