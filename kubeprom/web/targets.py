"""``/api/v1/targets``: active and dropped targets in Prometheus' shape."""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from kubeprom.errors import APIError, ErrorType
from kubeprom.model.labels import Labels
from kubeprom.model.timeutil import format_duration_ms, format_rfc3339_nano
from kubeprom.scraper.loop import TargetHealth
from kubeprom.scraper.manager import ScrapeTarget
from kubeprom.web.envelope import success

_NEVER = "0001-01-01T00:00:00Z"  # Go's zero time, what Prometheus reports before a scrape


class TargetsView(Protocol):
    """What the targets endpoint needs of the scrape side."""

    def active_targets(self) -> list[tuple[ScrapeTarget, TargetHealth]]: ...

    def dropped_targets(self) -> list[tuple[str, Labels]]:
        """(scrape pool, discovered labels) of targets relabeling dropped."""
        ...


def _last_scrape(ms: int) -> str:
    return _NEVER if ms == 0 else format_rfc3339_nano(ms)


def active_json(target: ScrapeTarget, health: TargetHealth) -> dict[str, Any]:
    return {
        "discoveredLabels": target.discovered.to_dict(),
        "labels": target.labels.to_dict(),
        "scrapePool": target.job,
        "scrapeUrl": target.url,
        "globalUrl": target.url,
        "lastError": health.last_error,
        "lastScrape": _last_scrape(health.last_scrape_ms),
        "lastScrapeDuration": health.last_duration_s,
        "health": health.health,
        "scrapeInterval": format_duration_ms(target.options.interval_ms),
        "scrapeTimeout": format_duration_ms(target.options.timeout_ms),
    }


def targets_handler(view: TargetsView) -> Any:
    async def handle(request: web.Request) -> web.Response:
        state = request.query.get("state", "any").lower()
        if state not in ("active", "dropped", "any"):
            raise APIError(ErrorType.BAD_DATA, f"invalid state {state!r}")
        pool = request.query.get("scrapePool")
        active = [active_json(t, h) for t, h in view.active_targets() if pool in (None, t.job)]
        dropped = [(p, d) for p, d in view.dropped_targets() if pool in (None, p)]
        counts: dict[str, int] = {}
        for p, _ in dropped:
            counts[p] = counts.get(p, 0) + 1
        data: dict[str, Any] = {
            "activeTargets": active if state != "dropped" else [],
            "droppedTargets": [{"discoveredLabels": d.to_dict()} for _, d in dropped]
            if state != "active"
            else [],
            "droppedTargetCounts": counts,
        }
        return success(data)

    return handle
