"""``kubeprom hpa render FILE``: a dry run of the HPA controller, "why did it (not) scale".

``FILE`` holds HorizontalPodAutoscaler (autoscaling/v2 or v1) or KEDA ScaledObject
manifests. Each is run through the controller's algorithm at ``--time`` (default: now; with
``--data``, the newest sample in the store) against a Prometheus-compatible server
(``--server``, default the local kubeprom; credentials in the URL or ``--http.config.file``)
or a kubeprom data directory opened read-only (``--data DIR``). The cluster comes from
kube-state-metrics series, resource metrics from the kubelet's ``/metrics/resource`` series
as metrics-server computes them, custom and external metrics through a prometheus-adapter
config (``--adapter-config``) or KEDA (for ScaledObjects). The output shows per metric the
PromQL run, what came back, the per-pod values and their grouping, the ratio and tolerance
verdict, the proposal; then stabilization, policies, the final count, conditions and events.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kubeprom.cli.server_flags import add_http_config_flag, check_http_config_flag, server_client
from kubeprom.config.adapter import load_adapter_file
from kubeprom.config.keda import LoadedScaledObject, load_autoscalers_file
from kubeprom.errors import KubepromError, StorageError
from kubeprom.hpa.adapter_naming import compile_adapter
from kubeprom.hpa.controller import ControllerConfig
from kubeprom.hpa.dryrun import dry_run
from kubeprom.hpa.dryrun_render import render_dry_run
from kubeprom.hpa.keda import check_generated_hpa
from kubeprom.hpa.ksm_view import KSM_MATCHERS
from kubeprom.hpa.metrics import MetricsBackends
from kubeprom.hpa.metrics_resource import KUBELET_MATCHERS, MetricsServerConfig
from kubeprom.model.timeutil import parse_duration_ms, parse_rfc3339_ms
from kubeprom.promql.api import LocalQueryAPI, QueryAPI
from kubeprom.tsdb import DB, MIN_TIME

DEFAULT_SERVER = "http://127.0.0.1:9090"
HTTP_TIMEOUT_S = 130.0


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("hpa", help="HorizontalPodAutoscaler tools")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    p = verbs.add_parser("render", help="dry-run HPAs or KEDA ScaledObjects against stored metrics")
    p.add_argument("file", metavar="HPA.yaml", help="HPA or ScaledObject manifests")
    p.add_argument(
        "--adapter-config", default=None, metavar="FILE", help="prometheus-adapter's config"
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--server", default=DEFAULT_SERVER, help=f"Prometheus-compatible API ({DEFAULT_SERVER})"
    )
    where.add_argument("--data", default=None, metavar="DIR", help="read this data directory")
    add_http_config_flag(p)
    p.add_argument(
        "--time",
        default=None,
        metavar="T",
        help="RFC 3339 or Unix seconds (default: now; with --data, the newest sample)",
    )
    p.add_argument(
        "--history",
        default=None,
        metavar="DURATION",
        help="how far back to rebuild the controller's memory (default: the HPA's longest "
        "stabilization window and policy period; 0: none)",
    )
    p.add_argument("--kubelet-matchers", default=KUBELET_MATCHERS, metavar="MATCHERS")
    p.add_argument("--ksm-matchers", default=KSM_MATCHERS, metavar="MATCHERS")
    p.add_argument(
        "--metric-resolution",
        default="60s",
        metavar="DURATION",
        help="metrics-server's --metric-resolution (default 60s)",
    )
    flags = ControllerConfig()
    p.add_argument(
        "--horizontal-pod-autoscaler-tolerance",
        dest="tolerance",
        type=float,
        default=flags.tolerance,
    )
    for name, default in (
        ("downscale-stabilization", flags.downscale_stabilization_window_ms),
        ("cpu-initialization-period", flags.cpu_initialization_period_ms),
        ("initial-readiness-delay", flags.initial_readiness_delay_ms),
        ("sync-period", flags.sync_period_ms),
    ):
        p.add_argument(
            f"--horizontal-pod-autoscaler-{name}",
            dest=name.replace("-", "_"),
            default=f"{default // 1000}s",
            metavar="DURATION",
        )
    p.set_defaults(func=run_render)


def _duration(text: str, flag: str) -> int:
    try:
        return parse_duration_ms(text)
    except ValueError as err:
        raise KubepromError(f"--{flag}: cannot parse {text!r} as a duration: {err}") from None


def _time(text: str) -> int:
    try:
        return round(float(text) * 1000)
    except ValueError:
        pass
    try:
        return parse_rfc3339_ms(text)
    except ValueError:
        raise KubepromError(f"--time: cannot parse {text!r} as RFC 3339 or Unix seconds") from None


@contextmanager
def _api(args: argparse.Namespace) -> Iterator[tuple[QueryAPI, int]]:
    t_ms = _time(args.time) if args.time is not None else None
    check_http_config_flag(args)
    if args.data is None:
        yield server_client(args, timeout_s=HTTP_TIMEOUT_S), t_ms or int(time.time() * 1000)
        return
    path = Path(args.data)
    if not path.is_dir():
        raise KubepromError(f"data directory {args.data!r} does not exist")
    try:
        db = DB.open_read_only(path)
    except StorageError as err:
        raise KubepromError(str(err)) from err
    try:
        if t_ms is None:
            newest = db.newest_time()
            t_ms = newest if newest != MIN_TIME else int(time.time() * 1000)
        yield LocalQueryAPI(db.querier), t_ms
    finally:
        db.close()


def _config(args: argparse.Namespace) -> ControllerConfig:
    return ControllerConfig(
        tolerance=args.tolerance,
        downscale_stabilization_window_ms=_duration(
            args.downscale_stabilization, "horizontal-pod-autoscaler-downscale-stabilization"
        ),
        cpu_initialization_period_ms=_duration(
            args.cpu_initialization_period, "horizontal-pod-autoscaler-cpu-initialization-period"
        ),
        initial_readiness_delay_ms=_duration(
            args.initial_readiness_delay, "horizontal-pod-autoscaler-initial-readiness-delay"
        ),
        sync_period_ms=_duration(args.sync_period, "horizontal-pod-autoscaler-sync-period"),
    )


def render_file(args: argparse.Namespace, api: QueryAPI, t_ms: int) -> list[str]:
    """The dry-run lines of every object in ``args.file``."""
    objects = load_autoscalers_file(args.file)
    adapter = (
        compile_adapter(load_adapter_file(args.adapter_config)) if args.adapter_config else None
    )
    history = None if args.history is None else _duration(args.history, "history")
    metrics_server = MetricsServerConfig(
        kubelet_matchers=args.kubelet_matchers,
        metric_resolution_ms=_duration(args.metric_resolution, "metric-resolution"),
    )
    config = _config(args)
    out: list[str] = []
    for loaded in objects:
        scaled = loaded if isinstance(loaded, LoadedScaledObject) else None
        hpa = check_generated_hpa(loaded) if isinstance(loaded, LoadedScaledObject) else loaded.hpa
        # KEDA was installed long ago: its initial cooldown is over
        backends = MetricsBackends(
            api,
            metrics_server=metrics_server,
            adapter=adapter,
            scaled_objects=[scaled] if scaled is not None else (),
            created_ms=-(2**62),
        )
        run = dry_run(
            hpa,
            api,
            t_ms,
            backends,
            config=config,
            history_ms=history,
            ksm_matchers=args.ksm_matchers,
            scaled_object=scaled.scaled_object if scaled is not None else None,
        )
        if out:
            out.append("")
        out += render_dry_run(run)
    return out


def run_render(args: argparse.Namespace) -> int:
    with _api(args) as (api, t_ms):
        lines = render_file(args, api, t_ms)
    for line in lines:
        print(line)
    return 0
