"""The ``kubectl top`` tables, as ``pkg/metricsutil/metrics_printer.go`` prints them.

Every value is written as a tab-terminated cell and the lines go through
:func:`~kubeprom.top.tabwriter.tabwrite` with kubectl's settings, so the text is kubectl's to
the byte, trailing spaces included. Orders: by name (pods by namespace, then name, with
``-A``); ``--sort-by`` cpu or memory sorts descending, ties keeping the name order (Go's
sort is not stable, so kubectl's order among ties is arbitrary). Nodes that are listed but
have no metrics follow as ``<unknown>`` lines, by name (kubectl prints them in Go map order).

Beyond kubectl (:class:`~kubeprom.top.model.Extras`): ``wide`` adds each resource's requests
and limits after its usage (and NODE last for pods), ``utilization`` adds usage as a
percentage of the requests and of the limits; ``<none>`` where nothing is set. Without them
the tables are kubectl's exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from kubeprom.top.model import (
    Available,
    ContainerMetrics,
    Extras,
    NodeMetrics,
    PodMetrics,
    RequestsLimits,
    SortBy,
    Usage,
)
from kubeprom.top.quantity import (
    MI,
    MILLI_PER_UNIT,
    format_cpu,
    format_memory,
    format_percent,
    milli_of_nano,
)
from kubeprom.top.tabwriter import tabwrite

NODE_COLUMNS = ("NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)")
POD_COLUMNS = ("NAME", "CPU(cores)", "MEMORY(bytes)")
NAMESPACE_COLUMN = "NAMESPACE"
POD_COLUMN = "POD"
NODE_COLUMN = "NODE"
UNKNOWN = "<unknown>"
NONE = "<none>"
SUM_RULE = "________"
CPU_USAGE = "CPU(cores)"
NO_EXTRAS = Extras()
MEMORY_USAGE = "MEMORY(bytes)"

ResourceKey = tuple[str, str, str]
"""``(namespace, pod, container)``."""


def _cells(values: Iterable[str]) -> str:
    return "".join(f"{v}\t" for v in values)


def _percent_of(used: int, of: int | None) -> str:
    if not of:
        return NONE
    return f"{int(float(used) / float(of) * 100)}%"


def _cpu_spec(milli: int | None) -> str:
    return NONE if milli is None else f"{milli}m"


def _memory_spec(n_bytes: int | None) -> str:
    return NONE if n_bytes is None else f"{n_bytes // MI}Mi"


def _extra_headers(resource: str, extras: Extras) -> list[str]:
    out = []
    if extras.wide:
        out += [f"{resource}(requests)", f"{resource}(limits)"]
    if extras.utilization:
        out += [f"{resource}(%requests)", f"{resource}(%limits)"]
    return out


def _headers(base: Sequence[str], extras: Extras) -> list[str]:
    """Column names: kubectl's, with the extra columns after each resource's last one."""
    out: list[str] = []
    for i, name in enumerate(base):
        out.append(name)
        following = base[i + 1] if i + 1 < len(base) else ""
        for resource in ("CPU", "MEMORY"):
            if name.startswith(f"{resource}(") and not following.startswith(f"{resource}("):
                out += _extra_headers(resource, extras)
    return out


def _usage_cells(
    usage: Usage,
    available: Available | None,
    spec: RequestsLimits | None = None,
    extras: Extras = NO_EXTRAS,
) -> str:
    """kubectl's ``printAllResourceUsages``: each resource, then its percentage if the
    resource is in the available list; then the extra columns."""
    cpu_milli = milli_of_nano(usage.cpu_nano)
    memory_milli = usage.memory_bytes * MILLI_PER_UNIT
    spec = spec or RequestsLimits()
    out = [format_cpu(usage.cpu_nano)]
    if available is not None and available.cpu_milli is not None:
        out.append(format_percent(cpu_milli, available.cpu_milli))
    if extras.wide:
        out += [_cpu_spec(spec.requests.cpu_milli), _cpu_spec(spec.limits.cpu_milli)]
    if extras.utilization:
        out += [
            _percent_of(cpu_milli, spec.requests.cpu_milli),
            _percent_of(cpu_milli, spec.limits.cpu_milli),
        ]
    out.append(format_memory(usage.memory_bytes))
    if available is not None and available.memory_milli is not None:
        out.append(format_percent(memory_milli, available.memory_milli))
    if extras.wide:
        out += [
            _memory_spec(spec.requests.memory_bytes),
            _memory_spec(spec.limits.memory_bytes),
        ]
    if extras.utilization:
        out += [
            _percent_of(usage.memory_bytes, spec.requests.memory_bytes),
            _percent_of(usage.memory_bytes, spec.limits.memory_bytes),
        ]
    return _cells(out)


def _sort_key(sort_by: SortBy) -> Callable[[Usage], int] | None:
    if sort_by is SortBy.CPU:
        return lambda u: milli_of_nano(u.cpu_nano)
    if sort_by is SortBy.MEMORY:
        return lambda u: u.memory_bytes
    return None


def node_table(
    metrics: Sequence[NodeMetrics],
    available: Mapping[str, Available],
    *,
    no_headers: bool = False,
    sort_by: SortBy = SortBy.NAME,
    extras: Extras = NO_EXTRAS,
    allocated: Mapping[str, RequestsLimits] | None = None,
) -> str:
    """``kubectl top node`` as kubectl prints it; arguments as :func:`node_cells`."""
    cells = node_cells(
        metrics,
        available,
        no_headers=no_headers,
        sort_by=sort_by,
        extras=extras,
        allocated=allocated,
    )
    return tabwrite(cells) if cells else ""


def node_cells(
    metrics: Sequence[NodeMetrics],
    available: Mapping[str, Available],
    *,
    no_headers: bool = False,
    sort_by: SortBy = SortBy.NAME,
    extras: Extras = NO_EXTRAS,
    allocated: Mapping[str, RequestsLimits] | None = None,
) -> str:
    """``kubectl top node``'s lines as tab-terminated cells, before the tab writer aligns
    them (:func:`rows` splits them). ``available`` holds every listed node (metrics or not); a node
    with metrics but not in it is printed without percentages, as kubectl does.
    ``allocated`` is the sum of each node's pods' requests and limits (for ``extras``)."""
    if not metrics:
        return ""
    allocated = allocated or {}
    rows = sorted(metrics, key=lambda m: m.name)
    key = _sort_key(sort_by)
    if key is not None:
        rows.sort(key=lambda m: key(m.usage), reverse=True)
    text = "" if no_headers else _cells(_headers(NODE_COLUMNS, extras)) + "\n"
    for m in rows:
        cells = _usage_cells(m.usage, available.get(m.name), allocated.get(m.name), extras)
        text += _cells([m.name]) + cells + "\n"
    shown = {m.name for m in metrics}
    width = len(_headers(NODE_COLUMNS, extras)) - 1
    for name in sorted(set(available) - shown):
        text += _cells([name, *[UNKNOWN] * width]) + "\n"
    return text


def _sorted_pods(
    metrics: Sequence[PodMetrics], with_namespace: bool, sort_by: SortBy
) -> list[PodMetrics]:
    if with_namespace:
        rows = sorted(metrics, key=lambda m: (m.namespace, m.name))
    else:
        rows = sorted(metrics, key=lambda m: m.name)
    key = _sort_key(sort_by)
    if key is not None:
        rows.sort(key=lambda m: key(m.usage), reverse=True)
    return rows


def _sorted_containers(
    containers: Sequence[ContainerMetrics], sort_by: SortBy
) -> list[ContainerMetrics]:
    rows = sorted(containers, key=lambda c: c.name)
    key = _sort_key(sort_by)
    if key is not None:
        rows.sort(key=lambda c: key(c.usage), reverse=True)
    return rows


def _pod_spec(
    m: PodMetrics, resources: Mapping[ResourceKey, RequestsLimits]
) -> RequestsLimits | None:
    specs = [resources.get((m.namespace, m.name, c.name)) for c in m.containers]
    known = [s for s in specs if s is not None]
    return RequestsLimits.pod(known) if known else None


def pod_table(
    metrics: Sequence[PodMetrics],
    *,
    containers: bool = False,
    with_namespace: bool = False,
    no_headers: bool = False,
    sort_by: SortBy = SortBy.NAME,
    total: bool = False,
    extras: Extras = NO_EXTRAS,
    resources: Mapping[ResourceKey, RequestsLimits] | None = None,
) -> str:
    """``kubectl top pod`` as kubectl prints it; arguments as :func:`pod_cells`."""
    cells = pod_cells(
        metrics,
        containers=containers,
        with_namespace=with_namespace,
        no_headers=no_headers,
        sort_by=sort_by,
        total=total,
        extras=extras,
        resources=resources,
    )
    return tabwrite(cells) if cells else ""


def pod_cells(
    metrics: Sequence[PodMetrics],
    *,
    containers: bool = False,
    with_namespace: bool = False,
    no_headers: bool = False,
    sort_by: SortBy = SortBy.NAME,
    total: bool = False,
    extras: Extras = NO_EXTRAS,
    resources: Mapping[ResourceKey, RequestsLimits] | None = None,
) -> str:
    """``kubectl top pod``'s lines as tab-terminated cells (``--containers``, ``-A``,
    ``--no-headers``, ``--sort-by``, ``--sum``); ``resources`` holds each container's
    requests and limits (for ``extras``)."""
    if not metrics:
        return ""
    resources = resources or {}
    prefix_columns = ([NAMESPACE_COLUMN] if with_namespace else []) + (
        [POD_COLUMN] if containers else []
    )
    columns = prefix_columns + _headers(POD_COLUMNS, extras)
    if extras.wide:
        columns.append(NODE_COLUMN)

    def node_cell(m: PodMetrics) -> str:
        return _cells([m.node or NONE]) if extras.wide else ""

    text = "" if no_headers else _cells(columns) + "\n"
    for m in _sorted_pods(metrics, with_namespace, sort_by):
        prefix = _cells([m.namespace]) if with_namespace else ""
        if containers:
            for c in _sorted_containers(m.containers, sort_by):
                spec = resources.get((m.namespace, m.name, c.name))
                usage = _usage_cells(c.usage, None, spec, extras)
                text += prefix + _cells([m.name, c.name]) + usage + node_cell(m) + "\n"
        else:
            usage = _usage_cells(m.usage, None, _pod_spec(m, resources), extras)
            text += prefix + _cells([m.name]) + usage + node_cell(m) + "\n"
    if total:
        grand = Usage()
        for m in metrics:
            grand += m.usage
        text += _sum_lines(grand, columns, no_headers, extras)
    return text


def rows(cells: str) -> list[list[str]]:
    """The lines of :func:`node_cells` / :func:`pod_cells` as lists of cell texts."""
    return [line.split("\t")[:-1] for line in cells.splitlines()]


def _sum_lines(grand: Usage, columns: list[str], no_headers: bool, extras: Extras) -> str:
    if not extras.any:
        # kubectl's printPodResourcesSum. It widens the sum line only while printing
        # headers, so with --no-headers its total sits one or two columns left of the usage;
        # kept as kubectl prints it.
        column_width = len(columns) if not no_headers else len(POD_COLUMNS)
        text = _cells([""] * (column_width - 2) + [SUM_RULE, SUM_RULE]) + "\n"
        return (
            text
            + _cells([""] * (column_width - 3))
            + _cells([""])
            + _usage_cells(grand, None)
            + "\n"
        )
    cpu, memory = columns.index(CPU_USAGE), columns.index(MEMORY_USAGE)
    rule = ["" for _ in columns[: memory + 1]]
    values = list(rule)
    rule[cpu] = rule[memory] = SUM_RULE
    values[cpu], values[memory] = format_cpu(grand.cpu_nano), format_memory(grand.memory_bytes)
    return _cells(rule) + "\n" + _cells(values) + "\n"
