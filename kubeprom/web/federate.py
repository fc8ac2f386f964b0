"""``/federate``: the newest sample of every selected series, in the text exposition format.

As Prometheus' federation handler: each ``match[]`` selector picks series; for each, the
newest sample within the lookback window (5m) before now is written with its timestamp,
unless it is a staleness marker. Series are sorted by labels and grouped into ``untyped``
families. External labels are attached where the series lacks them, and ``instance=""``
is attached to series without an ``instance``, so a federating server scraping with
``honor_labels: true`` keeps the labels as they are here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from aiohttp import web

from kubeprom.errors import ParseError
from kubeprom.model.gofmt import format_g
from kubeprom.model.labels import METRIC_NAME, Labels
from kubeprom.model.matchers import Matcher
from kubeprom.model.samples import STALE_NAN_BITS
from kubeprom.tsdb.api import Querier
from kubeprom.web.keys import request_clock
from kubeprom.web.params import form, parse_selector

LOOKBACK_MS = 5 * 60 * 1000  # Prometheus' default --query.lookback-delta
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _value_text(x: float) -> str:
    """Go's expfmt float format (``strconv`` ``'g'``, shortest)."""
    return format_g(x)


def federate_text(
    querier: Querier,
    sets: Sequence[Sequence[Matcher]],
    now_ms: int,
    external_labels: Mapping[str, str],
    lookback_ms: int = LOOKBACK_MS,
) -> str:
    """The exposition text for the series any matcher set selects."""
    newest: dict[Labels, tuple[int, float]] = {}
    for ms in sets:
        ss = querier.select(ms, now_ms - lookback_ms, now_ms)
        if not len(ss):
            continue
        last = ss.offsets[1:] - 1
        t, v = ss.t[last], ss.v[last]
        live = v.view(np.uint64) != STALE_NAN_BITS
        for i in np.flatnonzero(live).tolist():
            newest[ss.labels[i]] = (int(t[i]), float(v[i]))
    extra = dict(external_labels)
    extra.setdefault("instance", "")
    out: list[str] = []
    family = ""
    for labels in sorted(newest):
        name = labels.name
        if not name:
            continue  # Prometheus skips nameless series
        if name != family:
            out.append(f"# TYPE {name} untyped\n")
            family = name
        pairs = [(n, v) for n, v in labels if n != METRIC_NAME]
        pairs += [(n, v) for n, v in sorted(extra.items()) if not labels.has(n)]
        inner = ",".join(f'{n}="{_escape(v)}"' for n, v in pairs)
        t_ms, value = newest[labels]
        series = f"{name}{{{inner}}}" if inner else name
        out.append(f"{series} {_value_text(value)} {t_ms}\n")
    return "".join(out)


class FederateHandler:
    """Serves ``/federate`` over a Querier (``querier_factory()`` per request).

    "Now" (the end of the lookback window) is the app's clock.
    """

    def __init__(
        self,
        querier_factory: Callable[[], Querier],
        *,
        external_labels: Callable[[], Mapping[str, str]] = dict,
        lookback_ms: int = LOOKBACK_MS,
    ) -> None:
        self._querier = querier_factory
        self._external = external_labels
        self._lookback_ms = lookback_ms

    async def handle(self, request: web.Request) -> web.Response:
        params = await form(request)
        texts = params.getall("match[]", [])
        if not texts:
            # Prometheus answers an empty body; a clear error helps the person configuring.
            return web.Response(status=400, text="no match[] parameter provided\n")
        try:
            sets = [parse_selector(t) for t in texts]
        except ParseError as err:
            return web.Response(status=400, text=f"{err}\n")
        q = self._querier()
        text = await asyncio.to_thread(
            federate_text,
            q,
            sets,
            request_clock(request).now_ms(),
            self._external(),
            self._lookback_ms,
        )
        return web.Response(text=text, headers={"Content-Type": CONTENT_TYPE})

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/federate", self.handle)
