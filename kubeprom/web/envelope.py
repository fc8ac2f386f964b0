"""Prometheus' JSON envelope: ``{"status": "success", "data": ...}`` or the error shape.

Handlers raise :class:`~kubeprom.errors.APIError`; errors map once, here: ``bad_data`` 400,
``execution`` 422, ``timeout`` 503, ``unavailable`` 503, ``not_found`` 404, ``internal`` 500.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from kubeprom.errors import ErrorType

STATUS = {
    ErrorType.BAD_DATA: 400,
    ErrorType.EXECUTION: 422,
    ErrorType.TIMEOUT: 503,
    ErrorType.CANCELED: 503,
    ErrorType.UNAVAILABLE: 503,
    ErrorType.NOT_FOUND: 404,
    ErrorType.INTERNAL: 500,
}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def success(
    data: Any, *, warnings: list[str] | None = None, infos: list[str] | None = None
) -> web.Response:
    body: dict[str, Any] = {"status": "success", "data": data}
    if warnings:
        body["warnings"] = warnings
    if infos:
        body["infos"] = infos
    return web.Response(text=_dumps(body), content_type="application/json")


def success_text(
    data_json: str, *, warnings: list[str] | None = None, infos: list[str] | None = None
) -> web.Response:
    """:func:`success` for a ``data`` value already rendered as JSON text."""
    extra = ""
    if warnings:
        extra += f',"warnings":{_dumps(warnings)}'
    if infos:
        extra += f',"infos":{_dumps(infos)}'
    text = f'{{"status":"success","data":{data_json}{extra}}}'
    return web.Response(text=text, content_type="application/json")


def error(kind: ErrorType, message: str, *, status: int | None = None) -> web.Response:
    body = {"status": "error", "errorType": kind.value, "error": message}
    return web.Response(
        text=_dumps(body), status=status or STATUS[kind], content_type="application/json"
    )
