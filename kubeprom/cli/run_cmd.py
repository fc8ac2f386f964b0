"""``kubeprom run``: the server, from the command line to a running :class:`Server`.

This module reads the flags and waits for signals; :mod:`kubeprom.cli.server` assembles
the parts (store, compaction, exporters, notifier, scrape, rules, web) and states their
start and stop order. SIGINT/SIGTERM stop the server; SIGHUP and ``POST /-/reload`` reload the
configuration file into the parts that reload.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import logging
import signal
import sys
from typing import Any

from kubeprom.cli.server import Server
from kubeprom.cli.settings import RemoteFlags, RuleFlags, ServerSettings
from kubeprom.clock import RealClock
from kubeprom.config.hpa_spec import FeatureGates
from kubeprom.errors import KubepromError
from kubeprom.hpa import ControllerConfig
from kubeprom.hpa.adapter import RELIST_INTERVAL_MS
from kubeprom.model.timeutil import format_duration_ms, parse_duration_ms
from kubeprom.promql import syntax
from kubeprom.promql.options import DEFAULT_MAX_SAMPLES
from kubeprom.rules.notifier import DEFAULT_QUEUE_CAPACITY
from kubeprom.tsdb.db import Options
from kubeprom.web import HTTPLimits, WebConfig, load_web_config

log = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run the server: simulated cluster, scraping, store, HTTP API")
    p.add_argument(
        "--config",
        default=None,
        help="configuration file (default: the embedded config/kubeprom.yml)",
    )
    p.add_argument(
        "--listen",
        "--web.listen-address",
        dest="listen",
        default="127.0.0.1:9090",
        help="address to listen on (default: 127.0.0.1:9090)",
    )
    p.add_argument("--data", default="data", help="data directory (default: ./data)")
    p.add_argument("--retention-time", default="15d", help="how long to keep blocks")
    p.add_argument(
        "--retention-size", type=int, default=None, help="maximum bytes of blocks + WAL to keep"
    )
    p.add_argument(
        "--storage.tsdb.max-block-duration",
        dest="max_block_duration",
        default=None,
        help="longest block level compaction makes (default: 10%% of the retention time, at "
        "most 31d; 2h turns merging off)",
    )
    p.add_argument(
        "--web.config.file",
        dest="web_config_file",
        default=None,
        help="web configuration (Prometheus format): TLS and basic auth",
    )
    p.add_argument(
        "--enable-admin-api",
        "--web.enable-admin-api",
        dest="enable_admin_api",
        action="store_true",
        help="serve /api/v1/admin/tsdb/* (snapshot, delete_series, clean_tombstones)",
    )
    p.add_argument(
        "--query.max-concurrency",
        dest="query_max_concurrency",
        type=_positive,
        default=20,
        help="queries evaluated at once (default: 20)",
    )
    p.add_argument(
        "--query.max-queued",
        dest="query_max_queued",
        type=_non_negative,
        default=100,
        help="queries waiting for a slot before more get 503 (default: 100)",
    )
    p.add_argument(
        "--query.max-samples",
        dest="query_max_samples",
        type=_positive,
        default=DEFAULT_MAX_SAMPLES,
        help="most samples a query may hold in memory at once (default: 50000000)",
    )
    p.add_argument(
        "--query.max-samples-total",
        dest="query_max_samples_total",
        type=_non_negative,
        default=0,
        help="most samples the queries in flight may hold together; a query that would "
        "exceed it waits for others, then gets 503 (default 0: twice --query.max-samples)",
    )
    p.add_argument(
        "--query.samples-wait",
        dest="query_samples_wait",
        default="5s",
        help="how long a query waits for --query.max-samples-total before 503 "
        "(default: 5s; never past --query.timeout)",
    )
    p.add_argument(
        "--query.timeout",
        dest="query_timeout",
        default="2m",
        help="maximum time a query may take (default: 2m)",
    )
    p.add_argument(
        "--web.max-request-bytes",
        dest="max_request_bytes",
        type=_positive,
        default=HTTPLimits().max_body_bytes,
        help="largest request body accepted, larger gets 413 (default: 10 MiB)",
    )
    p.add_argument(
        "--web.external-url",
        dest="external_url",
        default="",
        help="the URL under which kubeprom is reached (alert generator URLs, templates)",
    )
    p.add_argument(
        "--rules.alert.for-outage-tolerance",
        dest="for_outage_tolerance",
        default="1h",
        help="max time to tolerate an outage when restoring the 'for' state of alerts",
    )
    p.add_argument(
        "--rules.alert.for-grace-period",
        dest="for_grace_period",
        default="10m",
        help="minimum time between an alert's restored 'for' state and it firing",
    )
    p.add_argument(
        "--rules.alert.resend-delay",
        dest="resend_delay",
        default="1m",
        help="minimum time to wait before resending an alert to Alertmanager",
    )
    p.add_argument(
        "--alertmanager.notification-queue-capacity",
        dest="notification_queue_capacity",
        type=_positive,
        default=DEFAULT_QUEUE_CAPACITY,
        help="alerts queued per Alertmanager; the oldest are dropped beyond it (default: 10000)",
    )
    _add_hpa_flags(p)
    p.add_argument(
        "--agent",
        "--enable-feature=agent",
        dest="agent",
        action="store_true",
        help="agent mode: scrape, WAL and remote write only; nothing can be queried",
    )
    p.add_argument(
        "--web.enable-remote-write-receiver",
        dest="remote_write_receiver",
        action="store_true",
        help="accept remote write requests on /api/v1/write",
    )
    p.add_argument(
        "--storage.remote.read-sample-limit",
        dest="remote_read_sample_limit",
        type=_non_negative,
        default=50_000_000,
        help="most samples one remote read query may return, 0 for no limit (default: 5e7)",
    )
    p.add_argument(
        "--storage.remote.read-concurrent-limit",
        dest="remote_read_concurrency",
        type=_positive,
        default=10,
        help="remote read queries served at once (default: 10)",
    )
    p.add_argument(
        "--storage.remote.flush-deadline",
        dest="remote_flush_deadline",
        default="1m",
        help="how long to wait flushing remote-write queues on shutdown or reload (default: 1m)",
    )
    # Also accepted before the command (kubeprom --log-level=debug run); this one wins.
    p.add_argument(
        "--log-level",
        default=argparse.SUPPRESS,
        choices=["debug", "info", "warn", "error"],
        help="logging verbosity",
    )
    p.set_defaults(func=run)


def _add_hpa_flags(p: Any) -> None:
    """kube-controller-manager's HPA flags, with its names and defaults."""
    g = p.add_argument_group("HPA controller (kube-controller-manager's flags)")
    d = ControllerConfig()
    for flag, default, text in (
        ("sync-period", d.sync_period_ms, "how often every HPA is synced"),
        (
            "downscale-stabilization",
            d.downscale_stabilization_window_ms,
            "how far back the controller looks for the highest recommendation to scale down to",
        ),
        (
            "cpu-initialization-period",
            d.cpu_initialization_period_ms,
            "after a pod starts, how long its CPU samples may be skipped",
        ),
        (
            "initial-readiness-delay",
            d.initial_readiness_delay_ms,
            "after a pod starts, how long readiness changes count as its first readiness",
        ),
    ):
        g.add_argument(
            f"--horizontal-pod-autoscaler-{flag}",
            dest=f"hpa_{flag.replace('-', '_')}",
            default=format_duration_ms(default),
            metavar="DURATION",
            help=f"{text} (default: {format_duration_ms(default)})",
        )
    g.add_argument(
        "--horizontal-pod-autoscaler-tolerance",
        dest="hpa_tolerance",
        type=_tolerance,
        default=d.tolerance,
        help=f"the minimum change from 1.0 of the desired-to-actual metric ratio for the "
        f"controller to scale (default: {d.tolerance})",
    )
    g.add_argument(
        "--metrics-relist-interval",
        dest="metrics_relist_interval",
        default=format_duration_ms(RELIST_INTERVAL_MS),
        metavar="DURATION",
        help="prometheus-adapter's: how often it lists the series of its rules' seriesQuery "
        f"(default: {format_duration_ms(RELIST_INTERVAL_MS)})",
    )
    g.add_argument(
        "--feature-gates",
        dest="feature_gates",
        default="",
        metavar="GATE=BOOL,...",
        help="HPAConfigurableTolerance (default true), HPAScaleToZero (false), "
        "PodLevelResources (true)",
    )


_GATES = ("HPAConfigurableTolerance", "HPAScaleToZero", "PodLevelResources")


def feature_gates(text: str) -> dict[str, bool]:
    """``--feature-gates``: ``Name=true,Other=false``; raises KubepromError for an unknown
    gate or a value that is not a boolean, as kube-controller-manager refuses them."""
    out: dict[str, bool] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if name not in _GATES:
            raise KubepromError(f"--feature-gates: unrecognized feature gate: {name}")
        if not sep or value.lower() not in ("true", "false"):
            raise KubepromError(
                f"--feature-gates: invalid value of {name}={value}, err: strconv.ParseBool: "
                f'parsing "{value}": invalid syntax'
            )
        out[name] = value.lower() == "true"
    return out


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def hpa_settings(args: argparse.Namespace) -> tuple[ControllerConfig, FeatureGates]:
    """The controller's settings and the API server's feature gates the flags give."""
    gates = feature_gates(args.feature_gates)
    sync = _duration_ms(args.hpa_sync_period, "--horizontal-pod-autoscaler-sync-period")
    if sync <= 0:
        raise KubepromError("--horizontal-pod-autoscaler-sync-period: must be positive")
    config = ControllerConfig(
        tolerance=args.hpa_tolerance,
        cpu_initialization_period_ms=_duration_ms(
            args.hpa_cpu_initialization_period,
            "--horizontal-pod-autoscaler-cpu-initialization-period",
        ),
        initial_readiness_delay_ms=_duration_ms(
            args.hpa_initial_readiness_delay,
            "--horizontal-pod-autoscaler-initial-readiness-delay",
        ),
        downscale_stabilization_window_ms=_duration_ms(
            args.hpa_downscale_stabilization,
            "--horizontal-pod-autoscaler-downscale-stabilization",
        ),
        sync_period_ms=sync,
        configurable_tolerance=gates.get("HPAConfigurableTolerance", True),
        pod_level_resources=gates.get("PodLevelResources", True),
    )
    api_gates = FeatureGates(
        hpa_scale_to_zero=gates.get("HPAScaleToZero", False),
        hpa_configurable_tolerance=gates.get("HPAConfigurableTolerance", True),
    )
    return config, api_gates


def _relist_ms(args: argparse.Namespace) -> int:
    relist = _duration_ms(args.metrics_relist_interval, "--metrics-relist-interval")
    if relist <= 0:
        raise KubepromError("--metrics-relist-interval: must be positive")
    return relist


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


# Flag names as /api/v1/status/flags reports them, by argparse dest.
_FLAG_NAMES = {
    "config": "config.file",
    "listen": "web.listen-address",
    "data": "storage.tsdb.path",
    "retention_time": "storage.tsdb.retention.time",
    "retention_size": "storage.tsdb.retention.size",
    "max_block_duration": "storage.tsdb.max-block-duration",
    "web_config_file": "web.config.file",
    "enable_admin_api": "web.enable-admin-api",
    "query_max_concurrency": "query.max-concurrency",
    "query_max_queued": "query.max-queued",
    "query_max_samples": "query.max-samples",
    "query_max_samples_total": "query.max-samples-total",
    "query_samples_wait": "query.samples-wait",
    "query_timeout": "query.timeout",
    "max_request_bytes": "web.max-request-bytes",
    "external_url": "web.external-url",
    "for_outage_tolerance": "rules.alert.for-outage-tolerance",
    "for_grace_period": "rules.alert.for-grace-period",
    "resend_delay": "rules.alert.resend-delay",
    "notification_queue_capacity": "alertmanager.notification-queue-capacity",
    "hpa_sync_period": "horizontal-pod-autoscaler-sync-period",
    "hpa_tolerance": "horizontal-pod-autoscaler-tolerance",
    "hpa_downscale_stabilization": "horizontal-pod-autoscaler-downscale-stabilization",
    "hpa_cpu_initialization_period": "horizontal-pod-autoscaler-cpu-initialization-period",
    "hpa_initial_readiness_delay": "horizontal-pod-autoscaler-initial-readiness-delay",
    "metrics_relist_interval": "metrics-relist-interval",
    "feature_gates": "feature-gates",
    "agent": "agent",
    "remote_write_receiver": "web.enable-remote-write-receiver",
    "remote_read_sample_limit": "storage.remote.read-sample-limit",
    "remote_read_concurrency": "storage.remote.read-concurrent-limit",
    "remote_flush_deadline": "storage.remote.flush-deadline",
}


def _flags(args: argparse.Namespace) -> dict[str, str]:
    out = {}
    for dest, name in _FLAG_NAMES.items():
        value = getattr(args, dest, None)
        out[name] = (
            "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        )
    return out


def _listen(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise KubepromError(f"--listen: expected HOST:PORT, got {addr!r}")
    return host or "127.0.0.1", int(port)


def _duration_ms(text: str, flag: str) -> int:
    try:
        return parse_duration_ms(text)
    except ValueError as err:
        raise KubepromError(f"{flag}: {err}") from err


def settings_of(args: argparse.Namespace) -> ServerSettings:
    """The server settings the flags give; raises KubepromError for a bad flag value."""
    retention_ms = _duration_ms(args.retention_time, "--retention-time")
    # 0 (or no flag) is Prometheus' "derive it from the retention time".
    max_block_ms = (
        _duration_ms(args.max_block_duration, "--storage.tsdb.max-block-duration")
        if args.max_block_duration is not None
        else None
    ) or None
    host, port = _listen(args.listen)
    hpa, gates = hpa_settings(args)
    return ServerSettings(
        config_path=args.config,
        data=args.data,
        host=host,
        port=port,
        store=Options(
            retention_ms=retention_ms,
            retention_bytes=args.retention_size,
            max_block_duration_ms=max_block_ms,
        ),
        web_config=load_web_config(args.web_config_file) if args.web_config_file else WebConfig(),
        limits=HTTPLimits(max_body_bytes=args.max_request_bytes),
        admin_api=args.enable_admin_api,
        query_max_concurrency=args.query_max_concurrency,
        query_max_queued=args.query_max_queued,
        query_max_samples=args.query_max_samples,
        query_max_samples_total=args.query_max_samples_total or 2 * args.query_max_samples,
        query_samples_wait_s=_duration_ms(args.query_samples_wait, "--query.samples-wait") / 1000,
        query_timeout_s=_duration_ms(args.query_timeout, "--query.timeout") / 1000,
        rules=RuleFlags(
            external_url=args.external_url.rstrip("/"),
            for_outage_tolerance_ms=_duration_ms(
                args.for_outage_tolerance, "--rules.alert.for-outage-tolerance"
            ),
            for_grace_period_ms=_duration_ms(
                args.for_grace_period, "--rules.alert.for-grace-period"
            ),
            resend_delay_ms=_duration_ms(args.resend_delay, "--rules.alert.resend-delay"),
            notification_queue_capacity=args.notification_queue_capacity,
        ),
        hpa=hpa,
        feature_gates=gates,
        adapter_relist_interval_ms=_relist_ms(args),
        remote=RemoteFlags(
            agent=args.agent,
            write_receiver=args.remote_write_receiver,
            read_sample_limit=args.remote_read_sample_limit or 2**62,
            read_concurrency=args.remote_read_concurrency,
            flush_deadline_ms=_duration_ms(
                args.remote_flush_deadline, "--storage.remote.flush-deadline"
            ),
        ),
        flags=_flags(args),
        storage_retention=args.retention_time,
    )


async def serve(args: argparse.Namespace) -> None:
    server = Server(settings_of(args), RealClock())
    stop = asyncio.Event()
    reloads: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()

    async def reload() -> None:
        with contextlib.suppress(KubepromError):  # logged by Server.reload
            await server.reload()

    def on_sighup() -> None:
        task = loop.create_task(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    await server.start()
    tune_gc()  # after the start-up built the store's tables
    try:
        await stop.wait()
        log.info("shutting down")
    finally:
        await server.stop()


# glibc's mallopt parameters (malloc.h): the number of malloc arenas, and the size from
# which an allocation gets its own mmap (returned to the system when freed).
_M_ARENA_MAX = -8
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1 << 20


def tune_malloc() -> bool:
    """Ask glibc for one malloc arena and a fixed 1 MiB mmap threshold; True if it took
    both settings.

    Measured in the hostile soak (benchmarks/RESULTS.md, "Memory under hostile input"): the
    live heap stays under ~150 MiB, but what glibc keeps freed grows with every large query
    or scrape. It gives each thread that allocates its own arena, and memory freed in one is
    not reused by another, so query and scrape threads keep several half-empty heaps; and it
    raises its mmap threshold to the largest block freed (up to 32 MiB), after which query
    arrays of a few MiB come from the heap and leave holes it cannot give back. One arena
    (the GIL serialises allocation anyway) and a fixed threshold keep large arrays in their
    own mappings, which ``free`` unmaps. On a C library without ``mallopt`` (musl, macOS)
    nothing changes.
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    arenas = bool(mallopt(_M_ARENA_MAX, 1))
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and arenas


def release_free_memory() -> bool:
    """glibc's ``malloc_trim(0)``: hand the heap's free pages back to the system; True if
    any were. A one-off build (the PromQL parser tables) leaves megabytes of freed memory
    in the heap, which would otherwise count in the server's RSS for good. On a C library
    without ``malloc_trim`` nothing happens.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    return bool(trim(0))


# The cyclic collector's thresholds in the server (Python's default: 700, 10, 10).
GC_THRESHOLDS = (10_000, 20, 20)


def tune_gc() -> None:
    """Freeze what start-up built (modules, the store's label tables, the parser tables)
    out of the cyclic collector's sight, and collect young objects less often.

    Queries make no cyclic garbage, but they allocate many containers (label sets, the
    JSON text's lists of numbers), so with the defaults the collector ran every 700
    allocations and walked the whole heap up to every 100 young collections: over three
    passes of the bench query set in process at 100,000 series (at least 9 s of query CPU)
    it took 1.5 s, 1.2 s of it in 12 full collections; 0.3 s with these settings
    (benchmarks/RESULTS.md, issue 10, "Read paths at 10k and 100k series (pqlarge)").
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


# How long a thread holds the GIL while another waits for it (Python's default: 5 ms). The
# event loop serves the API and the scrapes in short bursts between system calls and waits
# this long for each one while query and scrape threads compute; 1 ms keeps ``up`` answering
# quickly under six slow queries, for a few percent of their throughput.
GIL_SWITCH_INTERVAL_S = 0.001


def run(args: argparse.Namespace) -> int:
    tune_malloc()  # before any thread starts
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    syntax.prepare()  # not during the first query
    release_free_memory()
    asyncio.run(serve(args))
    return 0
