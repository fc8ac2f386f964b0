"""Driving ``kubeprom run``'s loop on a virtual clock, as fast as it goes, and writing what
happened.

The loop is the server's own parts (store, exporters, scrape, rules, hpa; see
``kubeprom/cli/server.py``) started on a :class:`~kubeprom.clock.VirtualClock`: this module
only moves the clock one HPA sync period at a time (every part wakes at its own instants
on the way, in deadline order), records each step (:class:`~kubeprom.sim.record.Recorder`),
and at the end reads the alerts the rules wrote (``ALERTS``) back from the store and writes
the outputs (:mod:`kubeprom.sim.outputs`, :mod:`kubeprom.sim.plots`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from kubeprom.clock import VirtualClock
from kubeprom.exporters import SimulatedCluster
from kubeprom.hpa.manager import Autoscalers
from kubeprom.promql.api import QueryAPI
from kubeprom.sim import outputs
from kubeprom.sim.plots import plot_deployment
from kubeprom.sim.record import EventTape, Occurrence, Recorder
from kubeprom.sim.scenario import Scenario

Progress = Callable[[int, int], None]
"""Called after each step with (steps done, steps in all)."""


class Loop(Protocol):
    """The running system a simulation drives: started and stopped as a whole; while
    running it exposes the cluster, the HPA controller and a query API over its store."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def settle(self) -> None:
        """Finish what the loop put off (batched rule evaluations) up to now."""

    @property
    def cluster(self) -> SimulatedCluster: ...

    @property
    def autoscalers(self) -> Autoscalers: ...

    @property
    def query(self) -> QueryAPI: ...


@dataclass(frozen=True, slots=True)
class Result:
    """A finished run: what was recorded, the summary, the events (alerts included)."""

    recorder: Recorder
    events: list[Occurrence]
    figures: list[outputs.Figures]


async def drive(
    loop: Loop,
    clock: VirtualClock,
    scenario: Scenario,
    tape: EventTape,
    progress: Progress | None = None,
) -> Result:
    """Start ``loop``, step the clock to the scenario's end, read the alerts, stop it."""
    sim = scenario.simulation
    await loop.start()
    try:
        recorder = Recorder(loop.cluster, loop.autoscalers)
        steps = -(-sim.duration_ms // sim.step_ms)
        t = sim.start_ms
        await clock.set_ms(t)  # what runs at the start (the first scrape, sync)
        recorder.step(t)
        for i in range(steps):
            t = min(t + sim.step_ms, sim.end_ms)
            await clock.set_ms(t)
            recorder.step(t)
            if progress is not None:
                progress(i + 1, steps)
        await loop.settle()
        alerts = alert_changes(loop.query, sim.start_ms, sim.end_ms, _alert_step(scenario))
    finally:
        await loop.stop()
    events = sorted([*tape.tape, *alerts], key=lambda e: e.t_ms)
    figures = outputs.summarize(recorder.rows, sim.step_ms, events)
    return Result(recorder, events, figures)


def _alert_step(scenario: Scenario) -> int:
    return scenario.config.global_.evaluation_interval_ms or scenario.simulation.step_ms


def alert_changes(api: QueryAPI, start_ms: int, end_ms: int, step_ms: int) -> list[Occurrence]:
    """The alerts' state changes from the ``ALERTS`` series the rules wrote: a run of
    samples starts ``AlertPending`` / ``AlertFiring``; a firing run that ends before the
    range does is ``AlertResolved`` one step after its last sample."""
    result = api.range("ALERTS", start_ms, end_ms, step_ms)
    out: list[Occurrence] = []
    for labels, ts, _ in result.series():
        lab = labels.to_dict()
        state = lab.get("alertstate", "")
        name = lab.get("alertname", "")
        shown = ",".join(f"{k}={v}" for k, v in sorted(lab.items()) if k not in ("__name__",))
        breaks = np.flatnonzero(np.diff(ts) > step_ms)
        starts = np.concatenate(([0], breaks + 1)) if len(ts) else np.zeros(0, np.int64)
        ends = np.concatenate((breaks, [len(ts) - 1])) if len(ts) else np.zeros(0, np.int64)
        reason = "AlertFiring" if state == "firing" else "AlertPending"
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            out.append(
                Occurrence(
                    int(ts[s]),
                    "Alert",
                    lab.get("namespace", ""),
                    name,
                    "Warning",
                    reason,
                    shown,
                    "rules",
                )
            )
            if state == "firing" and int(ts[e]) + step_ms <= end_ms:
                out.append(
                    Occurrence(
                        int(ts[e]) + step_ms,
                        "Alert",
                        lab.get("namespace", ""),
                        name,
                        "Normal",
                        "AlertResolved",
                        shown,
                        "rules",
                    )
                )
    out.sort(key=lambda o: (o.t_ms, o.name, o.message))
    return out


def write(result: Result, scenario: Scenario, out: Path) -> list[Path]:
    """Every output file under ``out`` (created); returns the paths written."""
    sim = scenario.simulation
    out.mkdir(parents=True, exist_ok=True)
    rows = result.recorder.rows
    written = [out / outputs.TIMELINE, out / outputs.EVENTS, out / outputs.DECISIONS]
    outputs.write_timeline(written[0], rows, sim.start_ms)
    outputs.write_events(written[1], result.events)
    outputs.write_decisions(written[2], result.recorder.decisions)
    meta = {
        "scenario": Path(scenario.path).name,
        "start": sim.start_ms,
        "duration_s": sim.duration_ms / 1000,
        "step_s": sim.step_ms / 1000,
        "seed": scenario.cluster.seed,
    }
    written.append(out / outputs.SUMMARY)
    outputs.write_summary(written[-1], result.figures, meta)
    for spec in scenario.cluster.deployments:
        mine = [r for r in rows if (r.namespace, r.deployment) == (spec.namespace, spec.name)]
        path = out / f"{spec.namespace}-{spec.name}.png"
        plot_deployment(path, mine, result.events, sim.start_ms, f"{spec.namespace}/{spec.name}")
        written.append(path)
    return written


def terminal_progress(stream: object = sys.stderr) -> Progress | None:
    """A one-line progress report when ``stream`` is a terminal, else None."""
    isatty = getattr(stream, "isatty", None)
    if not callable(isatty) or not isatty():
        return None
    write = getattr(stream, "write")  # noqa: B009

    def report(done: int, total: int) -> None:
        if done == total or done % max(1, total // 100) == 0:
            end = "\n" if done == total else ""
            write(f"\rsimulating: {done * 100 // total:3d}% ({done}/{total} syncs){end}")

    return report
