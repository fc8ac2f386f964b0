"""Wall time of ``kubeprom simulate`` on config/scenarios/day-24h.yaml (issue 13: floor 30 s,
goal 5 s), the whole run: scenario load, the loop on the virtual clock, every output.

    python benchmarks/bench_simulate.py [SCENARIO] [--out DIR]

Prints the wall and CPU seconds, the syncs, the samples in the store and the speed-up over
real time. Record results in benchmarks/RESULTS.md with the command, date and machine.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kubeprom.cli.simulate_cmd import fresh_data_dir, simulate
from kubeprom.sim.scenario import Scenario, load_scenario

DEFAULT = Path(__file__).resolve().parent.parent / "config" / "scenarios" / "day-24h.yaml"


async def _run(scenario: Scenario, out: Path) -> Summary:
    # A small result: asyncio.run's exit reprs the main task with its result (Python 3.11).
    result = await simulate(scenario, out, progress=False)
    return Summary(len(result.recorder.decisions), result.figures[-1].peak_replicas)


@dataclass(frozen=True, slots=True)
class Summary:
    syncs: int
    peak: int


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scenario", nargs="?", default=str(DEFAULT))
    p.add_argument("--out", default=None, help="output directory (default: a temporary one)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        wall, cpu = time.perf_counter(), time.process_time()
        scenario = load_scenario(args.scenario)
        fresh_data_dir(out)
        result = asyncio.run(_run(scenario, out))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        sim = scenario.simulation
        print(f"scenario      {Path(args.scenario).name}")
        syncs = result.syncs
        print(f"simulated     {sim.duration_ms / 3_600_000:g} h, {syncs} HPA syncs")
        print(f"peak pods     {result.peak}")
        print(f"wall          {wall:.1f} s   (cpu {cpu:.1f} s)")
        print(f"speed-up      {sim.duration_ms / 1000 / wall:,.0f}x real time")


if __name__ == "__main__":
    main()
