"""The broker's exporter on the fast path: a queue worker scaled by KEDA leaves the same store
and outputs with ``scrape: direct`` as with ``scrape: text`` (its families include an
``unknown``-typed one, ``rabbitmq_identity_info``)."""

from __future__ import annotations

from pathlib import Path

from kubeprom.cli.simulate_cmd import fresh_data_dir, simulate
from kubeprom.sim.scenario import ScrapeMode, load_scenario
from tests.cli.test_simulate_queue import BURST, OUTPUTS, SCENARIO
from tests.sim.test_direct_scrape import dump


async def run(tmp_path: Path, mode: ScrapeMode) -> Path:
    where = tmp_path / mode.value  # the same file name: summary.json names it
    where.mkdir()
    (where / "burst.csv").write_text(BURST)
    path = where / "scenario.yaml"
    path.write_text(SCENARIO + f"  scrape: {mode.value}\n")
    scenario = load_scenario(str(path))
    assert scenario.simulation.scrape is mode
    out = where / "out"
    fresh_data_dir(out)
    await simulate(scenario, out, progress=False)
    return out


async def test_the_queue_worker_stores_the_same_either_way(tmp_path: Path) -> None:
    text = await run(tmp_path, ScrapeMode.TEXT)
    direct = await run(tmp_path, ScrapeMode.DIRECT)
    stored = dump(text / "data")  # series, timestamps, value bits, offsets, metadata
    labels, meta = stored[0], stored[4]
    assert any(s.startswith("rabbitmq_queue_messages_ready{") for s in labels)
    assert "rabbitmq_identity_info" in meta
    assert stored == dump(direct / "data")
    for name in OUTPUTS:
        assert (text / name).read_bytes() == (direct / name).read_bytes(), name
