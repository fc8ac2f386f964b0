"""Parameter sweeps: one scenario, a grid of changes, every variant run in its own process.

A sweep file names scenario fields by their path and the values to try; every combination
is a variant (the first parameter varies slowest)::

    parameters:
      horizontal_pod_autoscalers[0].spec.behavior.scaleDown.stabilizationWindowSeconds: [0, 300]
      horizontal_pod_autoscalers[0].spec.metrics[0].resource.target.averageUtilization: [50, 70]
      simulation.controller.tolerance: [0.05, 0.1]
    jobs: 2            # variants run at once (default: the CPUs, at most the variants)

A variant is the scenario's YAML with those fields set (mappings on the way are created,
list items must exist), read again as a scenario, so each variant is checked as a scenario
file is, its errors named ``scenario.yaml[v03]``. Variants run in a bounded
``ProcessPoolExecutor``; each writes its outputs in ``OUT/<variant>/``; the sweep writes
``OUT/sweep.csv`` (a row per variant: its settings and summary totals) and
``OUT/sweep.png`` (pods over time per variant, and the cost against the figures).
"""

from __future__ import annotations

import csv
import itertools
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from kubeprom.config.nodes import Fields, compose, error
from kubeprom.errors import ConfigError
from kubeprom.sim.outputs import Figures, number

_FIELDS = frozenset({"parameters", "jobs"})
_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]*?)((?:\[\d+\])*)(?:\.|$)")
_INDEX = re.compile(r"\[(\d+)\]")
MAX_VARIANTS = 256
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _TextTimes(yaml.SafeLoader):
    """YAML's safe loader, but timestamps stay text: a variant must write ``start:`` as the
    scenario did (a datetime would come back as ``2027-01-01 00:00:00+00:00``)."""


def _text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


_TextTimes.add_constructor(_TIMESTAMP_TAG, _text)


@dataclass(frozen=True, slots=True)
class Parameter:
    path: str
    steps: tuple[str | int, ...]  # mapping keys and list indexes
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Sweep:
    source: str
    parameters: tuple[Parameter, ...]
    jobs: int


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    settings: tuple[tuple[str, Any], ...]
    text: str


@dataclass(frozen=True, slots=True)
class VariantResult:
    """What a worker process hands back: the summary and the pods per step."""

    name: str
    figures: tuple[Figures, ...]
    t_s: tuple[float, ...]
    pods: tuple[int, ...]


def split_path(path: str) -> tuple[str | int, ...] | None:
    """``a.b[0].c`` -> ``("a", "b", 0, "c")``; None when it is not such a path."""
    steps: list[str | int] = []
    rest = path
    while rest:
        m = _SEGMENT.match(rest)
        if m is None or not m.group(1):
            return None
        steps.append(m.group(1))
        steps.extend(int(i) for i in _INDEX.findall(m.group(2)))
        rest = rest[m.end() :]
    return tuple(steps) if steps else None


def parse_sweep(path: str) -> Sweep:
    """Read a sweep file; raises ConfigError with positions, OSError when unreadable."""
    text = Path(path).read_text(encoding="utf-8")
    root = compose(text, path)
    if root is None:
        raise ConfigError("a sweep needs parameters", file=path)
    f = Fields(root, path, "", "sweep", _FIELDS)
    params: list[Parameter] = []
    for name, key_node, value_node in f.pairs("parameters"):
        steps = split_path(name)
        if steps is None:
            raise error(key_node, path, f"parameters.{name}", "not a field path like a.b[0].c")
        values = yaml.load(yaml.serialize(value_node), Loader=_TextTimes)
        if not isinstance(values, list) or not values:
            raise error(value_node, path, f"parameters.{name}", "expected a list of values")
        params.append(Parameter(name, steps, tuple(values)))
    if not params:
        raise f.fail("parameters" if "parameters" in f else None, "a sweep needs parameters")
    count = int(np.prod([len(p.values) for p in params]))
    if count > MAX_VARIANTS:
        raise f.fail("parameters", f"{count} variants, more than {MAX_VARIANTS}")
    jobs = f.uint("jobs", 0)
    if "jobs" in f and jobs == 0:
        raise f.fail("jobs", "must be positive")
    return Sweep(path, tuple(params), jobs or min(os.cpu_count() or 1, count))


def _set(doc: Any, steps: tuple[str | int, ...], value: Any) -> str | None:
    """Set ``value`` at ``steps`` in ``doc``; returns why it cannot, or None."""
    node = doc
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return f"no item [{step}] there"
            if last:
                node[step] = value
            else:
                node = node[step]
            continue
        if not isinstance(node, dict):
            return f"{step!r} is not in a mapping"
        if last:
            node[step] = value
        else:
            node = node.setdefault(step, [] if isinstance(steps[i + 1], int) else {})
    return None


def variants(sweep: Sweep, scenario_text: str, scenario_source: str) -> list[Variant]:
    """Every combination of the sweep's values applied to the scenario text."""
    out: list[Variant] = []
    combos = list(itertools.product(*(p.values for p in sweep.parameters)))
    width = len(str(len(combos)))
    for n, combo in enumerate(combos, 1):
        doc = yaml.load(scenario_text, Loader=_TextTimes)
        for param, value in zip(sweep.parameters, combo, strict=True):
            why = _set(doc, param.steps, value)
            if why is not None:
                raise ConfigError(
                    f"cannot set {param.path} in {scenario_source!r}: {why}",
                    file=sweep.source,
                    field=f"parameters.{param.path}",
                )
        settings = tuple((p.path, v) for p, v in zip(sweep.parameters, combo, strict=True))
        text = yaml.safe_dump(doc, sort_keys=False)
        out.append(Variant(f"v{n:0{width}d}", settings, text))
    return out


RunOne = Callable[[Variant, str, str, str], VariantResult]
"""``run_one(variant, source, base_dir, out_dir)`` in a worker process (module-level)."""


def run_sweep(
    sweep: Sweep,
    found: Sequence[Variant],
    run_one: RunOne,
    source: str,
    base_dir: str,
    out: Path,
) -> list[VariantResult]:
    """Run the variants, at most ``sweep.jobs`` at once, in order of their names."""
    out.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=sweep.jobs) as pool:
        futures = [
            pool.submit(run_one, v, f"{source}[{v.name}]", base_dir, str(out / v.name))
            for v in found
        ]
        return [f.result() for f in futures]


def _short(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def write_table(path: Path, found: Sequence[Variant], results: Sequence[VariantResult]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            [
                "variant",
                *(p for p, _ in found[0].settings),
                "pod_hours",
                "peak_replicas",
                "above_target_minutes",
                "unserved_load_minutes",
                "scale_events",
                "direction_changes",
            ]
        )
        for v, r in zip(found, results, strict=True):
            t = r.figures[-1]
            w.writerow(
                [
                    v.name,
                    *(str(value) for _, value in v.settings),
                    number(t.pod_hours),
                    t.peak_replicas,
                    number(t.above_target_minutes),
                    number(t.unserved_load_minutes),
                    t.scale_events,
                    t.direction_changes,
                ]
            )


def table(found: Sequence[Variant], results: Sequence[VariantResult]) -> str:
    """The variants side by side for the terminal."""
    head = ["VARIANT", *(_short(p).upper() for p, _ in found[0].settings)]
    head += ["POD-HOURS", "PEAK", "ABOVE-TARGET", "UNSERVED", "SCALINGS", "FLAPS"]
    cells = [head]
    for v, r in zip(found, results, strict=True):
        t = r.figures[-1]
        cells.append(
            [
                v.name,
                *(str(value) for _, value in v.settings),
                f"{t.pod_hours:.2f}",
                str(t.peak_replicas),
                f"{t.above_target_minutes:.1f}m",
                f"{t.unserved_load_minutes:.1f}m",
                str(t.scale_events),
                str(t.direction_changes),
            ]
        )
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def plot(path: Path, results: Sequence[VariantResult]) -> None:
    """Pods over time per variant; cost (pod-hours) against unserved load per variant."""
    # Imported here, as in kubeprom.sim.plots: only a plot needs matplotlib.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 7), dpi=100)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1)
    for r in results:
        top.step(np.array(r.t_s) / 3600, r.pods, where="post", label=r.name, linewidth=0.9)
    top.set_xlabel("hours since start")
    top.set_ylabel("pods (all Deployments)")
    top.legend(loc="upper left", fontsize="x-small", ncol=4)
    cost = [r.figures[-1].pod_hours for r in results]
    unserved = [r.figures[-1].unserved_load_minutes for r in results]
    above = [r.figures[-1].above_target_minutes for r in results]
    bottom.scatter(cost, unserved, label="unserved load (min)")
    bottom.scatter(cost, above, marker="x", label="above target (min)")
    for r, x, y in zip(results, cost, unserved, strict=True):
        bottom.annotate(
            r.name, (x, y), fontsize="x-small", xytext=(3, 3), textcoords="offset points"
        )
    bottom.set_xlabel("pod-hours (cost)")
    bottom.set_ylabel("minutes")
    bottom.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
