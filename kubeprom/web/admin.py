"""``/api/v1/admin/tsdb/*``: snapshot, delete_series, clean_tombstones.

As in Prometheus the routes always exist and answer 503 ``unavailable`` "admin APIs
disabled" unless the server runs with ``--enable-admin-api``.

- ``snapshot`` (POST/PUT, ``skip_head``): a copy of the store under
  ``<data>/snapshots/<YYYYmmddTHHMMSSZ>-<16 hex>``; answers ``{"name": ...}``.
- ``delete_series`` (``match[]`` required, ``start``/``end`` default to all time): tombstones
  the matching series' samples in ``[start, end]``; answers 204 with no body.
- ``clean_tombstones``: rewrites the blocks that have tombstones; answers 204.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from aiohttp import web

from kubeprom.errors import APIError, ErrorType, ParseError, StorageError
from kubeprom.model.matchers import Matcher
from kubeprom.tsdb.api import MAX_TIME, MIN_TIME
from kubeprom.web.envelope import success
from kubeprom.web.keys import request_clock
from kubeprom.web.params import form, parse_selector, time_param, value

NO_CONTENT = 204


class AdminStore(Protocol):
    """What the admin endpoints need of the store."""

    path: Path

    def snapshot(self, directory: str, *, with_head: bool = True) -> Path: ...

    def delete_series(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> int: ...

    def clean_tombstones(self) -> list[str]: ...


def snapshot_name(now: dt.datetime) -> str:
    """Prometheus' snapshot directory name: ``20171210T211224Z-2be650b6d019eb54``."""
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(8)}"


def _bool(text: str, name: str) -> bool:
    """Go's ``strconv.ParseBool``."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("", "0", "f", "F", "FALSE", "false", "False"):
        return False
    raise APIError(
        ErrorType.BAD_DATA,
        f'unable to parse boolean {name!r} argument: strconv.ParseBool: parsing "{text}": '
        "invalid syntax",
    )


class AdminHandlers:
    """The admin routes; ``store`` is None when the admin API is disabled."""

    def __init__(self, store: AdminStore | None) -> None:
        self.store = store

    def _enabled(self) -> AdminStore:
        if self.store is None:
            raise APIError(ErrorType.UNAVAILABLE, "admin APIs disabled")
        return self.store

    async def snapshot(self, request: web.Request) -> web.Response:
        store = self._enabled()
        params = await form(request)
        skip_head = _bool(value(params, "skip_head"), "skip_head")
        now = dt.datetime.fromtimestamp(request_clock(request).now_ms() / 1000, dt.UTC)
        name = snapshot_name(now)
        directory = store.path / "snapshots" / name
        try:
            await asyncio.to_thread(store.snapshot, str(directory), with_head=not skip_head)
        except StorageError as err:
            raise APIError(ErrorType.INTERNAL, f"create snapshot: {err}") from err
        return success({"name": name})

    async def delete_series(self, request: web.Request) -> web.Response:
        store = self._enabled()
        params = await form(request)
        texts = params.getall("match[]", [])
        if not texts:
            raise APIError(ErrorType.BAD_DATA, "no match[] parameter provided")
        start = time_param(params, "start", MIN_TIME)
        end = time_param(params, "end", MAX_TIME)
        selectors: list[list[Matcher]] = []
        for text in texts:
            try:
                selectors.append(parse_selector(text))
            except ParseError as err:
                raise APIError(ErrorType.BAD_DATA, f'invalid parameter "match[]": {err}') from err
        try:
            for matchers in selectors:
                await asyncio.to_thread(store.delete_series, matchers, start, end)
        except StorageError as err:
            raise APIError(ErrorType.INTERNAL, f"delete series: {err}") from err
        return web.Response(status=NO_CONTENT)

    async def clean_tombstones(self, request: web.Request) -> web.Response:
        store = self._enabled()
        try:
            await asyncio.to_thread(store.clean_tombstones)
        except StorageError as err:
            raise APIError(ErrorType.INTERNAL, f"clean tombstones: {err}") from err
        return web.Response(status=NO_CONTENT)

    def add_routes(self, app: web.Application) -> None:
        for path, handler in (
            ("/api/v1/admin/tsdb/snapshot", self.snapshot),
            ("/api/v1/admin/tsdb/delete_series", self.delete_series),
            ("/api/v1/admin/tsdb/clean_tombstones", self.clean_tombstones),
        ):
            app.router.add_post(path, handler)
            app.router.add_put(path, handler)
