"""``kubeprom top node|pod``: what ``kubectl top`` prints, computed with PromQL.

Against a running server (``--server``, default http://127.0.0.1:9090, any
Prometheus-compatible API; credentials in the URL or ``--http.config.file``) or offline over
a data directory (``--data DIR``, opened read-only so a running server may hold it, at
``--time``, default the newest sample in it). Output and errors are kubectl's: tables on stdout; one
line on stderr and exit 1 for errors (``error: metrics not available yet``,
``Error from server (NotFound): pods "x" not found``, an unreachable server).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from kubeprom.cli.server_flags import add_http_config_flag, open_query_api, server_client
from kubeprom.clock import Clock, RealClock
from kubeprom.errors import PromQLError, QueryAPIUnavailable, TopError
from kubeprom.model.timeutil import parse_duration_ms
from kubeprom.top.commands import (
    NodeRequest,
    PodRequest,
    parse_sort_by,
    top_node,
    top_pod,
)
from kubeprom.top.model import Extras
from kubeprom.top.queries import KSM_MATCHERS, KUBELET_MATCHERS, Queries, Sources
from kubeprom.top.render import OutputFormat, dump, node_metrics_list, pod_metrics_list
from kubeprom.top.source import MetricsSource
from kubeprom.top.table import node_table, pod_table

DEFAULT_SERVER = "http://127.0.0.1:9090"
DEFAULT_REQUEST_TIMEOUT = "30s"
DEFAULT_WATCH_INTERVAL = "15s"
CLEAR_SCREEN = "\x1b[H\x1b[2J"  # cursor home, erase the screen (ANSI)


def _common(p: argparse.ArgumentParser) -> None:
    where = p.add_argument_group("where the metrics come from")
    where.add_argument(
        "--server",
        default=DEFAULT_SERVER,
        help=f"Prometheus-compatible API to query (default: {DEFAULT_SERVER})",
    )
    where.add_argument(
        "--data",
        default=None,
        metavar="DIR",
        help="query this data directory offline instead of a server (read-only: a running "
        "server may have it open)",
    )
    add_http_config_flag(where)
    where.add_argument(
        "--time",
        default=None,
        metavar="T",
        help="evaluation time, RFC 3339 or Unix seconds (default: now; with --data, the "
        "newest sample)",
    )
    where.add_argument(
        "--kubelet-matchers",
        default=KUBELET_MATCHERS,
        metavar="MATCHERS",
        help="PromQL matchers of the kubelet's /metrics/resource series (default: "
        f"{KUBELET_MATCHERS}; kube-prometheus: "
        '\'job="kubelet",metrics_path="/metrics/resource"\')',
    )
    where.add_argument(
        "--ksm-matchers",
        default=KSM_MATCHERS,
        metavar="MATCHERS",
        help=f"PromQL matchers of kube-state-metrics' series (default: {KSM_MATCHERS})",
    )
    where.add_argument(
        "--request-timeout",
        default=DEFAULT_REQUEST_TIMEOUT,
        help=f"timeout of each query to --server (default: {DEFAULT_REQUEST_TIMEOUT})",
    )
    p.add_argument("-l", "--selector", default="", help="label selector (e.g. -l app=web)")
    p.add_argument(
        "--sort-by", default="", help="sort by 'cpu' or 'memory' (descending)", metavar="FIELD"
    )
    p.add_argument("--no-headers", action="store_true", help="print the table without headers")
    p.add_argument(
        "-o",
        "--output",
        default="",
        choices=["json", "yaml", "wide"],
        help="json|yaml: the metrics.k8s.io NodeMetricsList / PodMetricsList; wide: add "
        "requests and limits next to usage (and NODE for pods)",
    )
    p.add_argument(
        "--window",
        default=None,
        metavar="DURATION",
        help="average over this window (e.g. 5m) instead of the last two scrapes",
    )
    p.add_argument(
        "--watch",
        nargs="?",
        const=DEFAULT_WATCH_INTERVAL,
        default=None,
        metavar="INTERVAL",
        help=f"redraw every INTERVAL (default {DEFAULT_WATCH_INTERVAL}; write --watch=5s) "
        "until interrupted",
    )


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "top",
        help="resource usage of nodes and pods, as kubectl top prints it",
        description="Display resource (CPU/memory) usage of nodes or pods, computed with "
        "PromQL from the kubelet and kube-state-metrics series.",
    )
    tsub = p.add_subparsers(dest="top_command", metavar="node|pod", required=True)

    node = tsub.add_parser(
        "node", aliases=["nodes", "no"], help="resource usage of nodes", description=None
    )
    node.add_argument("name", nargs="?", default="", metavar="NAME")
    node.add_argument(
        "--show-capacity",
        action="store_true",
        help="percentages of the node's capacity instead of its allocatable",
    )
    _common(node)
    node.set_defaults(func=run_node)

    pod = tsub.add_parser("pod", aliases=["pods", "po"], help="resource usage of pods")
    pod.add_argument("name", nargs="?", default="", metavar="NAME")
    pod.add_argument("-n", "--namespace", default="default", help="namespace (default: default)")
    pod.add_argument("-A", "--all-namespaces", action="store_true", help="pods of every namespace")
    pod.add_argument("--containers", action="store_true", help="usage of each container")
    pod.add_argument("--sum", action="store_true", help="print the sum of the usage")
    pod.add_argument(
        "--utilization",
        action="store_true",
        help="add usage as a percentage of the requests and of the limits",
    )
    pod.add_argument(
        "--field-selector",
        default="",
        help="field selector: metadata.name, metadata.namespace, spec.nodeName "
        "(e.g. --field-selector spec.nodeName=node-1)",
    )
    _common(pod)
    pod.set_defaults(func=run_pod)


def _timeout_s(args: argparse.Namespace) -> float:
    return _duration_ms(args.request_timeout, "--request-timeout") / 1000


def _unreachable(err: QueryAPIUnavailable) -> str:
    """kubectl's words for a server it cannot reach."""
    if err.refused:
        host = urllib.parse.urlsplit(err.url).netloc
        return (
            f"The connection to the server {host} was refused - "
            "did you specify the right host or port?"
        )
    return f"Unable to connect to the server: {err.reason}"


@contextmanager
def _quiet_store(args: argparse.Namespace) -> Iterator[None]:
    """Keep the store's INFO lines (WAL replay) off a command whose output is a table."""
    store_log = logging.getLogger("kubeprom.tsdb")
    old = store_log.level
    if getattr(args, "log_level", "info") == "info":
        store_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        store_log.setLevel(old)


def _duration_ms(text: str, flag: str) -> int:
    try:
        return parse_duration_ms(text)
    except ValueError as err:
        raise TopError(f"{flag}: {err}") from None


def _queries(args: argparse.Namespace) -> Queries:
    sources = Sources(args.kubelet_matchers, args.ksm_matchers)
    if args.window is None:
        return Queries(sources)
    return Queries(sources, window_ms=_duration_ms(args.window, "--window"))


def _error_line(err: TopError | QueryAPIUnavailable | PromQLError) -> str:
    if isinstance(err, TopError):
        return err.line
    if isinstance(err, QueryAPIUnavailable):
        return _unreachable(err)
    return f"error: {err}"


Show = Callable[[MetricsSource], tuple[str, str | None]]


def _run(args: argparse.Namespace, show: Show) -> int:
    try:
        parse_sort_by(args.sort_by)  # kubectl validates flags before it asks the server
        queries = _queries(args)
        clock = RealClock()
        if args.watch is not None:
            return _watch(args, show, queries, clock)
        with (
            _quiet_store(args),
            open_query_api(args, clock, timeout_s=_timeout_s(args), error=TopError) as (api, t_ms),
        ):
            text, notice = show(MetricsSource(api, t_ms, queries))
    except (TopError, QueryAPIUnavailable, PromQLError) as err:
        print(_error_line(err), file=sys.stderr)
        return 1
    sys.stdout.write(text)
    if notice:
        print(notice, file=sys.stderr)
    return 0


def _watch(args: argparse.Namespace, show: Show, queries: Queries, clock: Clock) -> int:
    if args.data is not None or args.time is not None:
        raise TopError("--watch follows a --server at the current time: drop --data and --time")
    interval_s = _duration_ms(args.watch, "--watch") / 1000
    api = server_client(args, timeout_s=_timeout_s(args))

    def frame() -> str:
        try:
            text, notice = show(MetricsSource(api, clock.now_ms(), queries))
        except (TopError, QueryAPIUnavailable, PromQLError) as err:
            return _error_line(err) + "\n"  # shown in place; the next round may succeed
        return text + (f"{notice}\n" if notice else "")

    watch_loop(frame, interval_s, sys.stdout, time.sleep)
    return 0


def watch_loop(
    frame: Callable[[], str],
    interval_s: float,
    out: TextIO,
    sleep: Callable[[float], None],
    rounds: int | None = None,
) -> None:
    """Redraw ``frame()`` in place (cursor home, clear screen) every ``interval_s`` until
    interrupted, or ``rounds`` times."""
    done = 0
    while True:
        out.write(CLEAR_SCREEN + frame())
        out.flush()
        done += 1
        if rounds is not None and done >= rounds:
            return
        sleep(interval_s)


def run_node(args: argparse.Namespace) -> int:
    def show(source: MetricsSource) -> tuple[str, str | None]:
        wide = args.output == "wide"
        req = NodeRequest(args.name, args.selector, args.show_capacity, allocated=wide)
        result = top_node(source, req)
        if args.output in ("json", "yaml"):
            doc = node_metrics_list(result.metrics, source.t_ms)
            return dump(doc, OutputFormat(args.output)), None
        table = node_table(
            result.metrics,
            result.available,
            no_headers=args.no_headers,
            sort_by=parse_sort_by(args.sort_by),
            extras=Extras(wide=wide),
            allocated=result.allocated,
        )
        return table, None

    return _run(args, show)


def run_pod(args: argparse.Namespace) -> int:
    def show(source: MetricsSource) -> tuple[str, str | None]:
        extras = Extras(wide=args.output == "wide", utilization=args.utilization)
        req = PodRequest(
            args.name,
            args.namespace,
            args.all_namespaces,
            args.selector,
            args.field_selector,
            resources=extras.any,
        )
        result = top_pod(source, req)
        if args.output in ("json", "yaml"):
            doc = pod_metrics_list(result.metrics, source.t_ms)
            return dump(doc, OutputFormat(args.output)), result.notice
        table = pod_table(
            result.metrics,
            containers=args.containers,
            with_namespace=args.all_namespaces,
            no_headers=args.no_headers,
            sort_by=parse_sort_by(args.sort_by),
            total=args.sum,
            extras=extras,
            resources=result.resources,
        )
        return table, result.notice

    return _run(args, show)
