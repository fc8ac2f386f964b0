"""kubectl-top tables computed with PromQL.

``top`` reads everything through the query seam (:class:`kubeprom.promql.api.QueryAPI`):
:class:`MetricsSource` runs the PromQL of :mod:`.queries` at one time and yields
metrics.k8s.io NodeMetrics / PodMetrics in metrics-server's units; :func:`top_node` and
:func:`top_pod` are kubectl's ``RunTopNode`` / ``RunTopPod`` (errors as kubectl words them,
:class:`TopError`); :func:`node_table` / :func:`pod_table` print kubectl's tables and
:mod:`.render` the ``-o json|yaml`` lists. Units and rounding live in :mod:`.quantity`, the
tab writer in :mod:`.tabwriter`.
"""

from kubeprom.errors import BadRequest, NotFound, TopError
from kubeprom.top.commands import (
    NodeRequest,
    NodeResult,
    PodRequest,
    PodResult,
    parse_sort_by,
    top_node,
    top_pod,
)
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
from kubeprom.top.queries import Queries, Sources
from kubeprom.top.render import OutputFormat, dump, node_metrics_list, pod_metrics_list
from kubeprom.top.source import MetricsSource
from kubeprom.top.table import node_table, pod_table

__all__ = [
    "Available",
    "BadRequest",
    "ContainerMetrics",
    "Extras",
    "MetricsSource",
    "NodeMetrics",
    "NodeRequest",
    "NodeResult",
    "NotFound",
    "OutputFormat",
    "PodMetrics",
    "PodRequest",
    "PodResult",
    "Queries",
    "RequestsLimits",
    "SortBy",
    "Sources",
    "TopError",
    "Usage",
    "dump",
    "node_metrics_list",
    "node_table",
    "parse_sort_by",
    "pod_metrics_list",
    "pod_table",
    "top_node",
    "top_pod",
]
