"""``/api/v1/series``, ``/labels``, ``/label/<name>/values``, ``/metadata`` and
``/targets/metadata`` in Prometheus' shapes.

The ``*_data`` functions compute each endpoint's ``data`` from a Querier; the handlers and
``kubeprom query-series`` / ``query-labels --data`` share them. They run in a worker thread
(the store is thread-safe) so a large lookup never stalls scraping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from aiohttp import web
from multidict import MultiDict

from kubeprom.errors import APIError, ErrorType, ParseError
from kubeprom.model.labels import Labels
from kubeprom.model.matchers import Matcher
from kubeprom.tsdb.api import MAX_TIME, MIN_TIME, MetricMetadata, Querier
from kubeprom.web.envelope import success
from kubeprom.web.params import (
    form,
    limit_param,
    matcher_sets,
    number_param,
    parse_selector,
    time_param,
    truncated,
    value,
)


class TargetMetadataView(Protocol):
    """What ``/api/v1/targets/metadata`` needs of the scrape side."""

    def target_metadata(self) -> list[tuple[Labels, dict[str, MetricMetadata]]]:
        """(target labels, metadata by metric family) of every active target."""
        ...


def series_data(
    querier: Querier, sets: Sequence[Sequence[Matcher]], mint: int, maxt: int, limit: int = 0
) -> tuple[list[dict[str, str]], list[str]]:
    """Label sets of the series any matcher set selects, sorted; (data, warnings)."""
    found: set[Labels] = set()
    for ms in sets:
        found.update(querier.series(ms, mint, maxt))
    ordered = sorted(found)
    warnings: list[str] = []
    if limit and len(ordered) > limit:
        ordered, warnings = ordered[:limit], ["results truncated due to limit"]
    return [lab.to_dict() for lab in ordered], warnings


def label_names_data(
    querier: Querier, sets: Sequence[Sequence[Matcher]], mint: int, maxt: int, limit: int = 0
) -> tuple[list[str], list[str]]:
    names: set[str] = set()
    for ms in sets or [()]:
        names.update(querier.label_names(ms, mint, maxt))
    return truncated(sorted(names), limit)


def label_values_data(
    querier: Querier,
    name: str,
    sets: Sequence[Sequence[Matcher]],
    mint: int,
    maxt: int,
    limit: int = 0,
) -> tuple[list[str], list[str]]:
    values: set[str] = set()
    for ms in sets or [()]:
        values.update(querier.label_values(name, ms, mint, maxt))
    return truncated(sorted(values), limit)


def _meta_json(meta: MetricMetadata) -> dict[str, str]:
    return {"type": meta.type.value, "help": meta.help, "unit": meta.unit}


class SeriesHandlers:
    """The label and series lookups over a Querier (``querier_factory()`` per request)."""

    def __init__(
        self,
        querier_factory: Callable[[], Querier],
        *,
        targets: TargetMetadataView | None = None,
    ) -> None:
        self._querier = querier_factory
        self._targets = targets

    @staticmethod
    def _range(params: MultiDict[str]) -> tuple[int, int]:
        return time_param(params, "start", MIN_TIME), time_param(params, "end", MAX_TIME)

    async def series(self, request: web.Request) -> web.Response:
        params = await form(request)
        texts = params.getall("match[]", [])
        if not texts:
            raise APIError(ErrorType.BAD_DATA, "no match[] parameter provided")
        limit = limit_param(params)
        mint, maxt = self._range(params)
        try:
            sets = matcher_sets(texts)
        except (ParseError, ValueError) as err:
            raise APIError(ErrorType.BAD_DATA, f'invalid parameter "match[]": {err}') from err
        q = self._querier()
        data, warnings = await asyncio.to_thread(series_data, q, sets, mint, maxt, limit)
        return success(data, warnings=warnings)

    async def _label_params(
        self, request: web.Request
    ) -> tuple[list[list[Matcher]], int, int, int]:
        params = await form(request)
        limit = limit_param(params)
        mint, maxt = self._range(params)
        try:
            sets = matcher_sets(params.getall("match[]", []))
        except (ParseError, ValueError) as err:
            raise APIError(ErrorType.BAD_DATA, str(err)) from err
        return sets, mint, maxt, limit

    async def labels(self, request: web.Request) -> web.Response:
        sets, mint, maxt, limit = await self._label_params(request)
        q = self._querier()
        data, warnings = await asyncio.to_thread(label_names_data, q, sets, mint, maxt, limit)
        return success(data, warnings=warnings)

    async def label_values(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]  # any UTF-8 name is valid in Prometheus 3
        sets, mint, maxt, limit = await self._label_params(request)
        q = self._querier()
        data, warnings = await asyncio.to_thread(
            label_values_data, q, name, sets, mint, maxt, limit
        )
        return success(data, warnings=warnings)

    async def metadata(self, request: web.Request) -> web.Response:
        params = await form(request)
        limit = number_param(params, "limit", -1)
        per_metric = number_param(params, "limit_per_metric", -1)
        metric = value(params, "metric")
        known = await asyncio.to_thread(lambda: self._querier().metadata())
        out: dict[str, list[dict[str, str]]] = {}
        for name, metas in known.items():
            if metric and name != metric:
                continue
            if 0 <= limit <= len(out):
                break
            kept = metas[:per_metric] if per_metric > 0 else metas
            out[name] = [_meta_json(m) for m in kept]
        return success(out)

    async def target_metadata(self, request: web.Request) -> web.Response:
        params = await form(request)
        limit = number_param(params, "limit", -1)
        match_target = value(params, "match_target")
        matchers: list[Matcher] = []
        if match_target:
            try:
                matchers = parse_selector(match_target)
            except ParseError as err:
                raise APIError(
                    ErrorType.BAD_DATA, f'invalid parameter "match_target": {err}'
                ) from err
        metric = value(params, "metric")
        out: list[dict[str, Any]] = []
        view = self._targets
        for labels, metas in view.target_metadata() if view is not None else []:
            if 0 <= limit <= len(out):
                break
            if not all(m.matches(labels.get(m.name)) for m in matchers):
                continue
            target = labels.to_dict()
            if not metric:
                out += [{"target": target, "metric": n, **_meta_json(m)} for n, m in metas.items()]
            elif metric in metas:
                out.append({"target": target, **_meta_json(metas[metric])})
        return success(out)

    def add_routes(self, app: web.Application) -> None:
        for path, handler in (
            ("/api/v1/series", self.series),
            ("/api/v1/labels", self.labels),
            ("/api/v1/label/{name}/values", self.label_values),
            ("/api/v1/metadata", self.metadata),
            ("/api/v1/targets/metadata", self.target_metadata),
        ):
            app.router.add_get(path, handler)
            if path in ("/api/v1/series", "/api/v1/labels", "/api/v1/label/{name}/values"):
                app.router.add_post(path, handler)
