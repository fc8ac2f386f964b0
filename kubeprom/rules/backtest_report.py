"""Reports of a backtest: a table, JSON, and a timeline plot (PNG).

The table has a line per alert episode: the alert, its labels (without ``alertname``), when
it became pending, when it fired, when it resolved (or went away while pending; empty:
still active at the end) and how long it fired; then one line per rule that failed. The JSON
holds the same with RFC 3339 times, annotations, and the recording rules' series counts.

The plot draws a timeline per alert that was ever active: a lane per label set, amber while
pending, red while firing, so a month of history reads at a glance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from kubeprom.model.labels import Labels
from kubeprom.model.timeutil import format_duration_ms, format_rfc3339
from kubeprom.rules.backtest import BacktestResult, Episode

PLOT_MAX_LANES = 12  # label sets drawn per alert; the rest are counted in the title
_MS_PER_DAY = 86_400_000
_PENDING_COLOUR = "#f0b429"
_FIRING_COLOUR = "#d64545"


def _labels_text(labels: Labels) -> str:
    return ", ".join(f"{n}={v}" for n, v in labels if n != "alertname")


def _time(t: int | None) -> str:
    return format_rfc3339(t) if t is not None else ""


def firing_ms(e: Episode, end_ms: int) -> int:
    """How long an episode fired within the range (an open one: until its end)."""
    if e.fired_ms is None:
        return 0
    stop = e.ended_ms if e.ended_ms is not None else end_ms
    return max(0, stop - e.fired_ms)


def table_lines(result: BacktestResult) -> Iterator[str]:
    rows = [("ALERT", "LABELS", "PENDING", "FIRING", "RESOLVED", "FIRED FOR")]
    for r in result.alerts:
        for e in sorted(r.episodes, key=lambda e: (e.active_ms, e.labels)):
            rows.append(
                (
                    r.name,
                    _labels_text(e.labels),
                    _time(e.active_ms),
                    _time(e.fired_ms),
                    _time(e.ended_ms),
                    format_duration_ms(firing_ms(e, result.end_ms))
                    if e.fired_ms is not None
                    else "",
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        yield "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
    active = [r for r in result.alerts if r.episodes]
    fired = sum(1 for r in result.alerts for e in r.episodes if e.fired_ms is not None)
    yield ""
    yield (
        f"{len(result.alerts)} alerting rules, {len(active)} ever active, "
        f"{sum(len(r.episodes) for r in result.alerts)} episodes ({fired} fired) "
        f"from {format_rfc3339(result.start_ms)} to {format_rfc3339(result.end_ms)}"
    )
    for r in result.rules:
        if r.error:
            yield f"error: {r.file}: group {r.group!r}, rule {r.name!r}: {r.error}"


def to_json(result: BacktestResult) -> dict[str, Any]:
    return {
        "start": format_rfc3339(result.start_ms),
        "end": format_rfc3339(result.end_ms),
        "rules": [
            {
                "name": r.name,
                "type": r.kind,
                "group": r.group,
                "file": r.file,
                "interval": format_duration_ms(r.step_ms),
                "series": r.series,
                "error": r.error,
                "seconds": round(r.seconds, 3),
                **(
                    {
                        "episodes": [
                            {
                                "labels": e.labels.to_dict(),
                                "annotations": e.annotations.to_dict(),
                                "pending_at": _time(e.active_ms),
                                "fired_at": _time(e.fired_ms) or None,
                                "resolved_at": _time(e.ended_ms) or None,
                                "firing_seconds": firing_ms(e, result.end_ms) / 1000,
                            }
                            for e in r.episodes
                        ]
                    }
                    if r.kind == "alerting"
                    else {}
                ),
            }
            for r in result.rules
        ],
    }


def plot(result: BacktestResult, path: str) -> int:
    """Write the timeline PNG to ``path``; returns how many alerts it shows."""
    import matplotlib  # imported here: only --plot needs it, and it is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    shown = [r for r in result.alerts if r.episodes]
    lanes_per = [min(len({e.labels for e in r.episodes}), PLOT_MAX_LANES) for r in shown]
    height = 1.2 + sum(0.35 * n + 0.6 for n in lanes_per)
    fig, axes = plt.subplots(
        max(1, len(shown)), 1, figsize=(12, max(2.5, height)), sharex=True, squeeze=False
    )

    def days(t_ms: int) -> float:
        return t_ms / _MS_PER_DAY  # matplotlib's dates count days from 1970 (its epoch)

    for ax, r, n in zip(axes[:, 0], shown, lanes_per, strict=False):
        order: list[Labels] = []
        for e in sorted(r.episodes, key=lambda e: -firing_ms(e, result.end_ms)):
            if e.labels not in order:
                order.append(e.labels)
        lanes = {lab: i for i, lab in enumerate(order[:n])}
        for e in r.episodes:
            lane = lanes.get(e.labels)
            if lane is None:
                continue
            stop = e.ended_ms if e.ended_ms is not None else result.end_ms
            pend_stop = e.fired_ms if e.fired_ms is not None else stop
            if pend_stop > e.active_ms:
                ax.broken_barh(
                    [(days(e.active_ms), days(pend_stop) - days(e.active_ms))],
                    (lane - 0.4, 0.8),
                    color=_PENDING_COLOUR,
                )
            if e.fired_ms is not None and stop > e.fired_ms:
                ax.broken_barh(
                    [(days(e.fired_ms), days(stop) - days(e.fired_ms))],
                    (lane - 0.4, 0.8),
                    color=_FIRING_COLOUR,
                )
        more = len(order) - len(lanes)
        ax.set_title(r.name + (f"  (+{more} more label sets)" if more > 0 else ""), loc="left")
        ax.set_yticks(range(len(lanes)))
        ax.set_yticklabels([_short(_labels_text(lab)) for lab in lanes], fontsize=7)
        ax.set_ylim(-0.6, max(len(lanes), 1) - 0.4)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    ax0 = axes[0, 0]
    ax0.set_xlim(days(result.start_ms), days(result.end_ms))
    if not shown:
        ax0.set_title("no alert was pending or firing", loc="left")
        ax0.set_yticks([])
    axes[-1, 0].xaxis.set_major_formatter(
        FuncFormatter(lambda x, _pos: _datetime(round(x * _MS_PER_DAY)).strftime("%Y-%m-%d\n%H:%M"))
    )
    fig.legend(
        handles=[
            Patch(color=_PENDING_COLOUR, label="pending"),
            Patch(color=_FIRING_COLOUR, label="firing"),
        ],
        loc="upper right",
    )
    fig.suptitle(
        f"Backtest {format_rfc3339(result.start_ms)} to {format_rfc3339(result.end_ms)}",
        x=0.01,
        ha="left",
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
    return len(shown)


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _datetime(t_ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(t_ms / 1000, tz=dt.UTC)
