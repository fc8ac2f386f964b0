"""A simulation's plots: one PNG per Deployment, readable at a glance.

Top: replicas (desired, current, ready) and the load on a second axis, with every HPA
rescale marked. Bottom: each HPA metric against its target, with the spans its alerts fired
shaded, and a queue worker's backlog on a second axis. matplotlib's Agg backend, fixed size
and DPI, no metadata that varies: the same run gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kubeprom.sim.record import Occurrence, Row

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_SIZE = (11, 6.5)
_DPI = 100
_METADATA: dict[str, str | None] = {"Software": None}


def plot_deployment(
    path: Path,
    rows: Sequence[Row],
    events: Sequence[Occurrence],
    start_ms: int,
    title: str,
) -> None:
    """Write one Deployment's figure to ``path`` (see the module docstring)."""
    # Imported here: matplotlib adds ~30 MiB to every process that imports kubeprom.cli.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    hours = np.array([(r.t_ms - start_ms) / 3_600_000 for r in rows])
    # A Figure with its own Agg canvas: no pyplot, no global figure registry.
    fig = Figure(figsize=_SIZE, dpi=_DPI)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.step(hours, [r.spec_replicas for r in rows], where="post", label="desired (spec)")
    top.step(hours, [r.current_replicas for r in rows], where="post", label="pods")
    top.step(hours, [r.ready_replicas for r in rows], where="post", label="ready")
    top.set_ylabel("replicas")
    top.set_title(title)
    load = top.twinx()
    load.plot(hours, [r.load_rps for r in rows], color="0.6", linewidth=0.8, label="load")
    queued = [r.queue_messages for r in rows]
    is_worker = any(q is not None for q in queued)
    load.set_ylabel("messages published/s" if is_worker else "requests/s")
    rescales = [
        (e.t_ms - start_ms) / 3_600_000
        for e in events
        if e.kind == "HorizontalPodAutoscaler" and e.reason == "SuccessfulRescale"
    ]
    for x in rescales:
        top.axvline(x, color="tab:red", alpha=0.25, linewidth=0.6)
    handles, labels = top.get_legend_handles_labels()
    more, more_labels = load.get_legend_handles_labels()
    top.legend(handles + more, labels + more_labels, loc="upper left", fontsize="small")
    names = [m.name for m in rows[0].metrics] if rows else []
    for i, name in enumerate(names):
        values = np.array([r.metrics[i].value if i < len(r.metrics) else np.nan for r in rows])
        target = np.array([r.metrics[i].target if i < len(r.metrics) else np.nan for r in rows])
        (line,) = bottom.plot(hours, values, label=name)
        bottom.plot(hours, target, linestyle="--", color=line.get_color(), label=f"{name} target")
    if is_worker:
        backlog = bottom.twinx()
        values = np.array([np.nan if q is None else q for q in queued])
        backlog.plot(hours, values, color="0.6", linewidth=0.8, label="queue backlog")
        backlog.set_ylabel("messages ready")
        backlog.legend(loc="upper right", fontsize="small")
    _shade_alerts(bottom, events, start_ms, float(hours[-1]) if len(hours) else 0.0)
    bottom.set_xlabel("hours since start")
    bottom.set_ylabel("metric" if names else "no HPA")
    if names:
        bottom.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png", metadata=_METADATA)


def _shade_alerts(ax: Axes, events: Sequence[Occurrence], start_ms: int, end_h: float) -> None:
    firing: dict[str, float] = {}
    for e in events:
        if e.kind != "Alert":
            continue
        x = (e.t_ms - start_ms) / 3_600_000
        if e.reason == "AlertFiring":
            firing[e.message] = x
        elif e.reason == "AlertResolved" and e.message in firing:
            ax.axvspan(firing.pop(e.message), x, color="tab:orange", alpha=0.15)
    for x in firing.values():
        ax.axvspan(x, end_h, color="tab:orange", alpha=0.15)  # still firing at the end
