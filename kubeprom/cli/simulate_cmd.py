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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kubeprom.cli.server import Preloaded, Server
from kubeprom.cli.settings import ServerSettings
from kubeprom.clock import VirtualClock
from kubeprom.errors import KubepromError
from kubeprom.exporters import SimulatedCluster
from kubeprom.hpa.manager import Autoscalers
from kubeprom.promql.api import LocalQueryAPI, QueryAPI
from kubeprom.rules.batching import DEFAULT_STEPS
from kubeprom.sim import outputs
from kubeprom.sim.record import EventTape
from kubeprom.sim.run import Result, drive, terminal_progress, write
from kubeprom.sim.scenario import Scenario, ScrapeMode, load_scenario, parse_scenario
from kubeprom.sim.sweep import Variant, VariantResult, parse_sweep, run_sweep, variants, write_table
from kubeprom.sim.sweep import plot as plot_sweep
from kubeprom.sim.sweep import table as sweep_table
from kubeprom.tsdb.db import DB, Options
from kubeprom.web.client import PrometheusClient


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "simulate",
        help="run a scenario (cluster, load, HPAs, rules) on a virtual clock and report",
    )
    p.add_argument("scenario", help="scenario file (a kubeprom.yml with a simulation: section)")
    p.add_argument("--out", default="simulation", help="output directory (default: ./simulation)")
    p.add_argument(
        "--sweep",
        metavar="FILE",
        default=None,
        help="vary scenario fields over a grid (a sweep file), each variant in its own process",
    )
    p.set_defaults(func=run)


# About 1 MiB of samples per WAL record in a simulation (a few scrape rounds of day-24h).
SIM_WAL_GROUP_SAMPLES = 1 << 16


class SimulatedServer:
    """A :class:`Server` on a virtual clock, as :class:`kubeprom.sim.run.Loop`."""

    def __init__(
        self,
        scenario: Scenario,
        data: Path,
        clock: VirtualClock,
        tape: EventTape,
        *,
        rule_batch_steps: int = DEFAULT_STEPS,
    ):
        sim = scenario.simulation
        settings = ServerSettings(
            config_path=scenario.path,
            data=str(data),
            # Virtual time: no crash is resumed, so commits reach the WAL in groups.
            store=Options(retention_ms=None, wal_group_samples=SIM_WAL_GROUP_SAMPLES),
            hpa=sim.controller,
            rule_batch_steps=rule_batch_steps,
        )
        preloaded = Preloaded(
            scenario.config,
            scenario.cluster,
            tape,
            direct_scrape=sim.scrape is ScrapeMode.DIRECT,
        )
        self.server = Server(settings, clock, preloaded)
        self._clock = clock

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()

    async def settle(self) -> None:
        if self.server.rules is not None:
            self.server.rules.manager.flush()

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


async def simulate(
    scenario: Scenario,
    out: Path,
    *,
    progress: bool = True,
    rule_batch_steps: int = DEFAULT_STEPS,
) -> Result:
    """Run ``scenario`` with its store in ``out/data`` (which must not hold a store from
    before: :func:`fresh_data_dir`) and write the outputs. ``rule_batch_steps`` 1 evaluates
    every rule group at each of its instants (the outputs are the same either way)."""
    data = out / "data"
    clock = VirtualClock(scenario.simulation.start_ms)
    tape = EventTape()
    loop = SimulatedServer(scenario, data, clock, tape, rule_batch_steps=rule_batch_steps)
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


@contextmanager
def open_source(source: str) -> Iterator[QueryAPI]:
    """A replay's source: a Prometheus-compatible server's URL, or a data directory
    (opened read-only for the duration)."""
    if "://" in source:
        yield PrometheusClient(source)
        return
    if not Path(source).is_dir():
        raise KubepromError(f"replay source {source!r} is neither a URL nor a data directory")
    db = DB.open_read_only(source)
    try:
        yield LocalQueryAPI(db.querier)
    finally:
        db.close()


def run_variant(variant: Variant, source: str, base_dir: str, out_dir: str) -> VariantResult:
    """One sweep variant, in a worker process: its outputs in ``out_dir``."""
    scenario = parse_scenario(variant.text, source, base_dir, opener=open_source)
    out = Path(out_dir)
    fresh_data_dir(out)
    (out / "scenario.yaml").write_text(variant.text, encoding="utf-8")
    return asyncio.run(_variant(scenario, out, variant.name))


async def _variant(scenario: Scenario, out: Path, name: str) -> VariantResult:
    result = await simulate(scenario, out, progress=False)
    per_step: dict[int, int] = {}
    for row in result.recorder.rows:
        per_step[row.t_ms] = per_step.get(row.t_ms, 0) + row.current_replicas
    start = scenario.simulation.start_ms
    return VariantResult(
        name,
        tuple(result.figures),
        tuple((t - start) / 1000 for t in per_step),
        tuple(per_step.values()),
    )


def sweep(args: argparse.Namespace) -> int:
    path = Path(args.scenario)
    base = load_scenario(str(path), opener=open_source)  # the scenario must be valid first
    plan = parse_sweep(args.sweep)
    found = variants(plan, path.read_text(encoding="utf-8"), base.path)
    for v in found:  # every variant checked before any runs
        parse_scenario(v.text, f"{base.path}[{v.name}]", str(path.parent), opener=open_source)
    out = Path(args.out)
    results = run_sweep(plan, found, run_variant, base.path, str(path.parent), out)
    write_table(out / "sweep.csv", found, results)
    plot_sweep(out / "sweep.png", results)
    print(sweep_table(found, results))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.sweep is not None:
        return sweep(args)
    scenario = load_scenario(args.scenario, opener=open_source)
    fresh_data_dir(Path(args.out))
    figures = asyncio.run(_figures(scenario, Path(args.out)))
    print(outputs.summary_table(figures))
    return 0
