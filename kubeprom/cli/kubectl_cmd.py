"""kubectl's verbs for HPAs against a running kubeprom: ``autoscale``, ``get``, ``describe``,
``delete`` and ``scale``.

They talk to ``--server`` (default http://127.0.0.1:9090; credentials in the URL or
``--http.config.file``) through its Kubernetes-shaped API (:mod:`kubeprom.web.kube`) and
print what kubectl prints: tables, ``describe`` text, ``-o yaml|json|name``, the
``<kind>.<group>/<name> <verb>`` lines, and kubectl's errors (``Error from server
(NotFound): horizontalpodautoscalers.autoscaling "web" not found``, ``error: ...``) on
stderr with exit code 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from kubeprom.cli.kubectl_print import (
    Table,
    as_list,
    describe_hpa,
    headers,
    hpa_row,
    to_json,
    to_yaml,
)
from kubeprom.cli.server_flags import add_http_config_flag, server_client
from kubeprom.clock import Clock, RealClock
from kubeprom.errors import KubepromError, QueryAPIUnavailable, TopError
from kubeprom.model.quantity import parse_quantity
from kubeprom.web.kube_client import KubeClient

DEFAULT_SERVER = "http://127.0.0.1:9090"
DEFAULT_NAMESPACE = "default"
HPA_NAMES = frozenset(
    {
        "hpa",
        "horizontalpodautoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler.autoscaling",
        "horizontalpodautoscalers.autoscaling",
    }
)
DEPLOYMENT_NAMES = frozenset(
    {"deploy", "deployment", "deployments", "deployment.apps", "deployments.apps"}
)
HPA_KIND = "horizontalpodautoscaler.autoscaling"
WATCH_POLL_S = 1.0
_CPU_PERCENT_DEPRECATION = (
    "Flag --cpu-percent has been deprecated, Use --cpu with percentage or resource quantity "
    "format (e.g., '70%' for utilization or '500m' for milliCPU)."
)


def _common(p: argparse.ArgumentParser, *, all_namespaces: bool = False) -> None:
    p.add_argument(
        "--server",
        default=DEFAULT_SERVER,
        help=f"the kubeprom server (default: {DEFAULT_SERVER})",
    )
    add_http_config_flag(p)
    p.add_argument("-n", "--namespace", default=None, help="namespace (default: default)")
    if all_namespaces:
        p.add_argument(
            "-A", "--all-namespaces", action="store_true", help="list across all namespaces"
        )


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "autoscale", help="create an HPA for a deployment (kubectl autoscale) on --server"
    )
    p.add_argument("kind", metavar="deployment")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--min", type=int, default=-1, help="the lower limit of replicas")
    p.add_argument("--max", type=int, default=-1, help="the upper limit of replicas (required)")
    p.add_argument(
        "--cpu-percent",
        type=int,
        default=-1,
        help="target average CPU utilization (percent of request); deprecated: --cpu=N%%",
    )
    p.add_argument("--cpu", default="", help="target CPU: 70%% (utilization) or 500m (average)")
    p.add_argument("--memory", default="", help="target memory: 60%% or 200Mi (average)")
    p.add_argument("--name", dest="hpa_name", default="", help="the HPA's name (default: NAME)")
    p.add_argument("--dry-run", default="none", choices=["none", "client", "server"])
    p.add_argument("-o", "--output", default="", choices=["", "yaml", "json", "name"])
    _common(p)
    p.set_defaults(func=run_autoscale)

    p = sub.add_parser("get", help="list HPAs (kubectl get hpa) on --server")
    p.add_argument("resource", metavar="hpa")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("-o", "--output", default="", choices=["", "wide", "json", "yaml", "name"])
    p.add_argument("-w", "--watch", action="store_true", help="print changes as they happen")
    p.add_argument("--no-headers", action="store_true", help="no header line")
    _common(p, all_namespaces=True)
    p.set_defaults(func=run_get)

    p = sub.add_parser("describe", help="show an HPA in detail (kubectl describe hpa)")
    p.add_argument("resource", metavar="hpa")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument(
        "--show-events",
        default="true",
        choices=["true", "false"],
        help="show the object's events (default: true)",
    )
    _common(p, all_namespaces=True)
    p.set_defaults(func=run_describe)

    p = sub.add_parser("delete", help="delete HPAs (kubectl delete hpa) on --server")
    p.add_argument("resource", metavar="hpa")
    p.add_argument("names", nargs="*", metavar="NAME")
    _common(p)
    p.set_defaults(func=run_delete)

    p = sub.add_parser("scale", help="set a deployment's replicas (kubectl scale) on --server")
    p.add_argument("resource", metavar="deployment")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--replicas", type=int, default=-1, help="the new replica count")
    _common(p)
    p.set_defaults(func=run_scale)


# ---- helpers ----------------------------------------------------------------------------------
def _client(args: argparse.Namespace) -> KubeClient:
    return KubeClient(server_client(args, timeout_s=30.0))


def _kind_and_names(
    resource: str, names: list[str], allowed: frozenset[str], *, need: bool = False
) -> list[str]:
    """``TYPE NAME...`` or ``TYPE/NAME``; KubepromError for another resource type (or, with
    ``need``, for no name)."""
    kind, slash, name = resource.partition("/")
    if kind.lower() not in allowed:
        raise KubepromError(f'the server doesn\'t have a resource type "{kind}"')
    found = [name, *names] if slash else names
    if need and not found:
        raise KubepromError("resource(s) were provided, but no name was specified")
    return found


def _ns(args: argparse.Namespace) -> str:
    return str(args.namespace or DEFAULT_NAMESPACE)


def _hpa_path(namespace: str, name: str = "") -> str:
    base = f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers"
    return f"{base}/{name}" if name else base


def _report(fn: Callable[[], int], err_out: TextIO) -> int:
    """kubectl's error edge: ``Error from server (Reason): ...`` or ``error: ...``, exit 1."""
    try:
        return fn()
    except TopError as err:
        print(err.line, file=err_out)
        return 1
    except (QueryAPIUnavailable, KubepromError) as err:
        print(f"error: {err}", file=err_out)
        return 1


# ---- autoscale ----------------------------------------------------------------------------------
def _resource_target(text: str, resource: str) -> dict[str, Any]:
    """``parseResourceInput``: ``70%`` is a Utilization target, a quantity an AverageValue
    (a bare number means millicores for cpu, MiB for memory)."""
    text = text.strip()
    if text.endswith("%"):
        digits = text[:-1]
        try:
            percent = int(digits)
        except ValueError:
            percent = -1
        if percent < 0 or percent > 2**31 - 1:
            raise KubepromError(f"invalid percentage value: {digits}")
        return {"averageUtilization": percent, "type": "Utilization"}
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        text = f"{number:g}" + ("m" if resource == "cpu" else "Mi")
    try:
        quantity = parse_quantity(text)
    except ValueError:
        raise KubepromError(f"invalid resource {resource} value: {text}") from None
    return {"averageValue": str(quantity), "type": "AverageValue"}


def autoscaler_manifest(args: argparse.Namespace) -> dict[str, Any]:
    """The HorizontalPodAutoscaler ``kubectl autoscale`` builds (autoscaling/v2)."""
    metadata: dict[str, Any] = {"name": args.hpa_name or args.name}
    if args.namespace is not None:  # kubectl sets it only when the namespace is enforced
        metadata["namespace"] = args.namespace
    spec: dict[str, Any] = {
        "maxReplicas": args.max,
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": args.name},
    }
    if args.min > 0:
        spec["minReplicas"] = args.min
    metrics = []
    if args.cpu_percent > 0:
        target = {"averageUtilization": args.cpu_percent, "type": "Utilization"}
        metrics.append({"resource": {"name": "cpu", "target": target}, "type": "Resource"})
    for resource, text in (("cpu", args.cpu), ("memory", args.memory)):
        if text:
            target = _resource_target(text, resource)
            metrics.append({"resource": {"name": resource, "target": target}, "type": "Resource"})
    if metrics:
        spec["metrics"] = metrics
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata,
        "spec": spec,
        "status": {"currentMetrics": None, "desiredReplicas": 0},
    }


def _validate_autoscale(args: argparse.Namespace) -> None:
    if args.max < 1:
        raise KubepromError(f"--max=MAXPODS is required and must be at least 1, max: {args.max}")
    if args.max < args.min:
        raise KubepromError(
            "--max=MAXPODS must be larger or equal to --min=MINPODS, "
            f"max: {args.max}, min: {args.min}"
        )
    if args.cpu_percent > 0 and args.cpu:
        raise KubepromError("--cpu-percent and --cpu are mutually exclusive")
    for resource, text in (("cpu", args.cpu), ("memory", args.memory)):
        if text:
            _resource_target(text, resource)


def run_autoscale(
    args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    if args.cpu_percent != -1:
        print(_CPU_PERCENT_DEPRECATION, file=err)

    def go() -> int:
        if args.kind.lower() not in DEPLOYMENT_NAMES:
            raise KubepromError(f"cannot autoscale a {args.kind}: only deployments are simulated")
        _validate_autoscale(args)
        client = _client(args)
        client.get(f"/apis/apps/v1/namespaces/{_ns(args)}/deployments/{args.name}")
        manifest = autoscaler_manifest(args)
        name = manifest["metadata"]["name"]
        if args.dry_run == "client":
            return _print_result(manifest, args.output, f"{HPA_KIND}/{name} created (dry run)", out)
        params = {"dryRun": "All"} if args.dry_run == "server" else None
        body = {k: v for k, v in manifest.items() if k != "status"}
        made = client.post(_hpa_path(_ns(args)), body, params)
        suffix = " (server dry run)" if args.dry_run == "server" else ""
        return _print_result(made, args.output, f"{HPA_KIND}/{name} autoscaled{suffix}", out)

    return _report(go, err)


def _print_result(obj: dict[str, Any], output: str, line: str, out: TextIO) -> int:
    if output == "yaml":
        out.write(to_yaml(obj))
    elif output == "json":
        out.write(to_json(obj))
    elif output == "name":
        out.write(f"{HPA_KIND}/{obj['metadata']['name']}\n")
    else:
        out.write(line + "\n")
    return 0


# ---- get ----------------------------------------------------------------------------------------
def run_get(
    args: argparse.Namespace,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
    polls: int | None = None,
) -> int:
    """``kubectl get hpa``; ``--watch`` polls the list and prints changed rows until
    interrupted (``polls`` bounds it, for tests)."""
    clock = clock or RealClock()

    def go() -> int:
        names = _kind_and_names(args.resource, args.names, HPA_NAMES)
        client = _client(args)
        all_ns = args.all_namespaces
        if names:
            items = [client.get(_hpa_path(_ns(args), n)) for n in names]
        else:
            path = (
                "/apis/autoscaling/v2/horizontalpodautoscalers" if all_ns else _hpa_path(_ns(args))
            )
            items = client.get(path).get("items") or []
        if args.output in ("json", "yaml", "name"):
            return _print_objects(items, args.output, single=len(names) == 1, out=out)
        table = Table()
        rows = [hpa_row(o, clock.now_ms(), with_namespace=all_ns) for o in items]
        if not items and not args.watch:
            where = "" if all_ns else f" in {_ns(args)} namespace"
            print(f"No resources found{where}.", file=err)
            return 0
        head = [] if args.no_headers else [headers(with_namespace=all_ns)]
        out.write(table.flush(head + rows))
        if args.watch:
            _watch(client, args, items, table, out, clock, sleep, polls)
        return 0

    return _report(go, err)


def _print_objects(items: list[Any], output: str, *, single: bool, out: TextIO) -> int:
    if output == "name":
        out.write("".join(f"{HPA_KIND}/{o['metadata']['name']}\n" for o in items))
        return 0
    obj = items[0] if single else as_list(items)
    out.write(to_yaml(obj) if output == "yaml" else to_json(obj))
    return 0


def _watch(
    client: KubeClient,
    args: argparse.Namespace,
    items: list[dict[str, Any]],
    table: Table,
    out: TextIO,
    clock: Clock,
    sleep: Callable[[float], None],
    polls: int | None,
) -> None:
    """Print a row for every HPA whose resourceVersion changed (deleted ones included)."""
    names = set(_kind_and_names(args.resource, args.names, HPA_NAMES))
    seen = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in items}
    path = (
        "/apis/autoscaling/v2/horizontalpodautoscalers"
        if args.all_namespaces
        else _hpa_path(_ns(args))
    )
    done = 0
    while polls is None or done < polls:
        sleep(WATCH_POLL_S)
        done += 1
        now = {
            (o["metadata"]["namespace"], o["metadata"]["name"]): o
            for o in client.get(path).get("items") or []
            if not names or o["metadata"]["name"] in names
        }
        changed = [
            o
            for key, o in sorted(now.items())
            if key not in seen
            or seen[key]["metadata"].get("resourceVersion") != o["metadata"].get("resourceVersion")
        ]
        changed += [seen[key] for key in sorted(seen) if key not in now]
        if changed:
            rows = [hpa_row(o, clock.now_ms(), with_namespace=args.all_namespaces) for o in changed]
            out.write(table.flush(rows))
            out.flush()
        seen = now


# ---- describe, delete, scale ----------------------------------------------------------------
def run_describe(
    args: argparse.Namespace,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    clock: Clock | None = None,
) -> int:
    clock = clock or RealClock()

    def go() -> int:
        names = _kind_and_names(args.resource, args.names, HPA_NAMES)
        client = _client(args)
        if names:
            items = [client.get(_hpa_path(_ns(args), n)) for n in names]
        else:
            path = (
                "/apis/autoscaling/v2/horizontalpodautoscalers"
                if args.all_namespaces
                else _hpa_path(_ns(args))
            )
            items = client.get(path).get("items") or []
        texts = []
        for obj in items:
            meta = obj["metadata"]
            events = None
            if args.show_events == "true":
                selector = ",".join(
                    (
                        f"involvedObject.name={meta['name']}",
                        f"involvedObject.namespace={meta['namespace']}",
                        "involvedObject.kind=HorizontalPodAutoscaler",
                        f"involvedObject.uid={meta['uid']}",
                    )
                )
                answer = client.get(
                    f"/api/v1/namespaces/{meta['namespace']}/events", {"fieldSelector": selector}
                )
                events = answer.get("items") or []
            texts.append(describe_hpa(obj, events, clock.now_ms()))
        out.write("\n\n".join(texts))
        return 0

    return _report(go, err)


def run_delete(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    def go() -> int:
        names = _kind_and_names(args.resource, args.names, HPA_NAMES, need=True)
        client = _client(args)
        for name in names:
            client.delete(_hpa_path(_ns(args), name))
            out.write(f'{HPA_KIND} "{name}" deleted\n')
        return 0

    return _report(go, err)


def run_scale(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    def go() -> int:
        names = _kind_and_names(args.resource, args.names, DEPLOYMENT_NAMES, need=True)
        if args.replicas < 0:
            raise KubepromError(
                "The --replicas=COUNT flag is required, and COUNT must be greater than or "
                "equal to 0"
            )
        client = _client(args)
        for name in names:
            path = f"/apis/apps/v1/namespaces/{_ns(args)}/deployments/{name}/scale"
            client.patch(path, {"spec": {"replicas": args.replicas}})
            out.write(f"deployment.apps/{name} scaled\n")
        return 0

    return _report(go, err)
