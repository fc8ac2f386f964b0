"""``kubeprom simulate SCENARIO.yaml``: ``kubeprom run``'s loop on a virtual clock.

The scenario is read and checked here (:func:`kubeprom.sim.scenario.load_scenario`); the
loop is :class:`~kubeprom.cli.server.Server` built from it with a virtual clock (the same
parts as ``kubeprom run``, in process); :mod:`kubeprom.sim.run` moves the clock and writes
the outputs in ``--out`` (the run's store in ``--out/data``).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
from pathlib import Path
from typing import Any

from kubeprom.cli.server import Preloaded, Server
from kubeprom.cli.settings import ServerSettings
from kubeprom.clock import VirtualClock
from kubeprom.exporters import SimulatedCluster
from kubeprom.hpa.manager import Autoscalers
from kubeprom.promql.api import LocalQueryAPI, QueryAPI
from kubeprom.sim import outputs
from kubeprom.sim.record import EventTape
from kubeprom.sim.run import Result, drive, terminal_progress, write
from kubeprom.sim.scenario import Scenario, ScrapeMode, load_scenario
from kubeprom.tsdb.db import Options


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "simulate",
        help="run a scenario (cluster, load, HPAs, rules) on a virtual clock and report",
    )
    p.add_argument("scenario", help="scenario file (a kubeprom.yml with a simulation: section)")
    p.add_argument("--out", default="simulation", help="output directory (default: ./simulation)")
    p.set_defaults(func=run)


class SimulatedServer:
    """A :class:`Server` on a virtual clock, as :class:`kubeprom.sim.run.Loop`."""

    def __init__(self, scenario: Scenario, data: Path, clock: VirtualClock, tape: EventTape):
        sim = scenario.simulation
        settings = ServerSettings(
            config_path=scenario.path,
            data=str(data),
            store=Options(retention_ms=None),
            hpa=sim.controller,
        )
        preloaded = Preloaded(
            scenario.config,
            scenario.cluster,
            scenario.hpas,
            tape,
            direct_scrape=sim.scrape is ScrapeMode.DIRECT,
        )
        self.server = Server(settings, clock, preloaded)
        self._clock = clock

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    @property
    def cluster(self) -> SimulatedCluster:
        exporters = self.server.exporters
        if exporters is None or exporters.cluster is None:
            raise RuntimeError("the simulated cluster is not running")
        return exporters.cluster

    @property
    def autoscalers(self) -> Autoscalers:
        autoscaling = self.server.autoscaling
        if autoscaling is None:
            raise RuntimeError("the HPA controller is not part of this server")
        return autoscaling.manager

    @property
    def query(self) -> QueryAPI:
        return LocalQueryAPI(self.server.store.db.querier, clock=self._clock)


async def simulate(scenario: Scenario, out: Path, *, progress: bool = True) -> Result:
    """Run ``scenario`` with its store in ``out/data`` (which must not hold a store from
    before: :func:`fresh_data_dir`) and write the outputs."""
    data = out / "data"
    clock = VirtualClock(scenario.simulation.start_ms)
    tape = EventTape()
    loop = SimulatedServer(scenario, data, clock, tape)
    result = await drive(loop, clock, scenario, tape, terminal_progress() if progress else None)
    write(result, scenario, out)
    return result


async def _figures(scenario: Scenario, out: Path) -> list[outputs.Figures]:
    # Only the summary leaves the event loop: asyncio.run's exit reprs its main task, and
    # with it the task's result (Python 3.11), which for a whole Result takes seconds.
    return (await simulate(scenario, out)).figures


def fresh_data_dir(out: Path) -> None:
    """Make ``out`` and remove a previous run's ``out/data``, so each run's store holds only
    its own samples."""
    out.mkdir(parents=True, exist_ok=True)
    data = out / "data"
    if data.exists():
        shutil.rmtree(data)


def run(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    fresh_data_dir(Path(args.out))
    figures = asyncio.run(_figures(scenario, Path(args.out)))
    print(outputs.summary_table(figures))
    return 0
