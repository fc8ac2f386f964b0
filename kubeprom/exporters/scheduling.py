"""Where a pod fits, and kube-scheduler's words when it fits nowhere.

:func:`fits` is the NodeResourcesFit filter over every node at once: a node fits a pod when
it has a pod slot left and its allocatable CPU and memory minus the requests of the pods
bound to it cover the pod's requests. :func:`unschedulable_message` is the scheduler's
``FitError`` text for a pod no node fits, with the default preemption plugin's verdict (all
pods here share one priority, so preemption never finds victims)::

    0/3 nodes are available: 1 Insufficient memory, 3 Insufficient cpu. preemption: 0/3 nodes
    are available: 3 No preemption victims found for incoming pod.

Each node contributes each reason it fails for; the reasons are counted over nodes and
listed as ``<count> <reason>`` strings in sorted order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from kubeprom.exporters.records import NodeRecord

F64 = NDArray[np.float64]

TOO_MANY_PODS = "Too many pods"
INSUFFICIENT_CPU = "Insufficient cpu"
INSUFFICIENT_MEMORY = "Insufficient memory"
#: Float slack for requests summed and subtracted as floats (cores, bytes).
_CPU_EPSILON = 1e-9
_MEMORY_EPSILON = 0.5


def fits(
    free_cpu: F64, free_memory: F64, free_pods: NDArray[np.int64], cpu: float, memory: float
) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
    """Per node: (no pod slot left, too little CPU, too little memory) for a pod requesting
    ``cpu`` cores and ``memory`` bytes; a node fits when all three are false."""
    no_slot = free_pods <= 0
    low_cpu = free_cpu - cpu < -_CPU_EPSILON
    low_memory = free_memory - memory < -_MEMORY_EPSILON
    return no_slot, low_cpu, low_memory


def unschedulable_message(
    no_slot: NDArray[np.bool_], low_cpu: NDArray[np.bool_], low_memory: NDArray[np.bool_]
) -> str:
    """``FitError.Error()`` plus the preemption post-filter message, for a pod that fits no
    node (the arrays as :func:`fits` returns them)."""
    nodes = len(no_slot)
    counts = {
        TOO_MANY_PODS: int(no_slot.sum()),
        INSUFFICIENT_CPU: int(low_cpu.sum()),
        INSUFFICIENT_MEMORY: int(low_memory.sum()),
    }
    reasons = sorted(f"{n} {reason}" for reason, n in counts.items() if n)
    message = f"0/{nodes} nodes are available: {', '.join(reasons)}."
    return (
        f"{message} preemption: 0/{nodes} nodes are available: {nodes} No preemption victims "
        "found for incoming pod."
    )


def free_room(
    nodes: Sequence[NodeRecord],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Per node: allocatable CPU, memory and pod slots not yet requested."""
    cpu = np.array([(n.spec.allocatable.cpu or 0.0) - n.used_cpu for n in nodes])
    mem = np.array([(n.spec.allocatable.memory or 0.0) - n.used_memory for n in nodes])
    slots = [(n.spec.allocatable.pods or 0) - n.used_pods for n in nodes]
    return cpu, mem, np.array(slots, dtype=np.int64)
