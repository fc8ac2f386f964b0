"""Table layout: kubectl's columns, tab-writer padding (3 spaces, minimum width 6), order."""

from __future__ import annotations

from kubeprom.top.model import Available, ContainerMetrics, NodeMetrics, PodMetrics, SortBy, Usage
from kubeprom.top.table import node_table, pod_table
from kubeprom.top.tabwriter import tabwrite

MI = 1024 * 1024
GI = 1024 * MI


def node(name: str, milli: int, mib: int) -> NodeMetrics:
    return NodeMetrics(name, Usage(milli * 1_000_000, mib * MI), 0, 10_000)


def pod(ns: str, name: str, *containers: tuple[str, int, int]) -> PodMetrics:
    cs = tuple(ContainerMetrics(c, Usage(m * 1_000_000, mib * MI)) for c, m, mib in containers)
    return PodMetrics(ns, name, "node-a", 0, 10_000, cs)


def test_tabwriter_pads_every_tab_terminated_cell() -> None:
    assert tabwrite("a\tbb\t\nccc\td\t\n") == "a     bb    \nccc   d     \n"
    # The text after the last tab is no column; a line without the column ends its block.
    assert tabwrite("a\tx\nlonger\t\nb\t\n") == "a        x\nlonger   \nb        \n"
    assert tabwrite("ab\t\n\ncd\t\n") == "ab    \n\ncd    \n"  # minimum width 6


NODE_HEADER = "NAME     CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)   \n"


def test_node_table_percentages_of_available() -> None:
    available = {
        "node-a": Available(cpu_milli=3800, memory_milli=4 * GI * 1000),
        "node-b": Available(cpu_milli=2000, memory_milli=8 * GI * 1000),
    }
    text = node_table([node("node-b", 1999, 100), node("node-a", 380, 1024)], available)
    assert text == (
        NODE_HEADER
        + "node-a   380m         10%      1024Mi          25%         \n"
        + "node-b   1999m        99%      100Mi           1%          \n"
    )


def test_node_table_unknown_lines_for_listed_nodes_without_metrics() -> None:
    available = {n: Available(1000, 1000 * GI) for n in ("node-a", "node-c", "node-b")}
    text = node_table([node("node-a", 10, 10)], available)
    assert text == (
        "NAME     CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)   \n"
        "node-a   10m          1%          10Mi            0%          \n"
        "node-b   <unknown>    <unknown>   <unknown>       <unknown>   \n"
        "node-c   <unknown>    <unknown>   <unknown>       <unknown>   \n"
    )


def test_node_table_without_available_has_no_percent_cells() -> None:
    assert node_table([node("n1", 5, 1)], {}, no_headers=True) == "n1    5m    1Mi   \n"


def test_node_table_sorts_descending() -> None:
    nodes = [node("a", 10, 300), node("b", 30, 100), node("c", 20, 200), node("d", 30, 50)]
    avail = {n.name: Available(1000, 1000 * GI) for n in nodes}
    by_cpu = node_table(nodes, avail, no_headers=True, sort_by=SortBy.CPU)
    assert [line.split()[0] for line in by_cpu.splitlines()] == ["b", "d", "c", "a"]
    by_mem = node_table(nodes, avail, no_headers=True, sort_by=SortBy.MEMORY)
    assert [line.split()[0] for line in by_mem.splitlines()] == ["a", "c", "b", "d"]


def test_empty_tables_print_nothing() -> None:
    assert node_table([], {"a": Available(1, 1)}) == ""
    assert pod_table([]) == ""


PODS = [
    pod("shop", "checkout-1", ("checkout", 250, 200)),
    pod("default", "web-1", ("nginx", 90, 40), ("sidecar", 10, 10)),
]


def test_pod_table() -> None:
    assert pod_table(PODS) == (
        "NAME         CPU(cores)   MEMORY(bytes)   \n"
        "checkout-1   250m         200Mi           \n"
        "web-1        100m         50Mi            \n"
    )


def test_pod_table_all_namespaces_with_sum() -> None:
    assert pod_table(PODS, with_namespace=True, total=True) == (
        "NAMESPACE   NAME         CPU(cores)   MEMORY(bytes)   \n"
        "default     web-1        100m         50Mi            \n"
        "shop        checkout-1   250m         200Mi           \n"
        "                         ________     ________        \n"
        "                         350m         250Mi           \n"
    )


def test_pod_table_containers() -> None:
    assert pod_table(PODS, containers=True, sort_by=SortBy.CPU) == (
        "POD          NAME       CPU(cores)   MEMORY(bytes)   \n"
        "checkout-1   checkout   250m         200Mi           \n"
        "web-1        nginx      90m          40Mi            \n"
        "web-1        sidecar    10m          10Mi            \n"
    )


def test_pod_sum_without_headers_is_misaligned_like_kubectl() -> None:
    # kubectl counts the NAMESPACE column for the sum line only when it prints headers.
    assert pod_table(PODS, with_namespace=True, no_headers=True, total=True) == (
        "default   web-1        100m       50Mi    \n"
        "shop      checkout-1   250m       200Mi   \n"
        "          ________     ________   \n"
        "          350m         250Mi      \n"
    )
