"""Getting a scrape body: over HTTP with aiohttp, or in-process for simulations.

A :data:`Fetch` takes the URL, the timeout and the body size limit and returns the body and
its content type, or raises :class:`ScrapeError` with the reason Prometheus would give.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass

import aiohttp

from kubeprom.errors import ScrapeError
from kubeprom.scraper.exposition import ACCEPT_HEADER
from kubeprom.scraper.exposition.parser import ParsedBody


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A scraped body. ``parsed``, when set, gives the samples the body would parse to
    (given the series texts the caller knows) without the text: an in-process exporter's
    short cut, which must leave the store exactly as parsing ``body`` would."""

    body: bytes
    content_type: str
    parsed: Callable[[Container[bytes]], ParsedBody] | None = None


Fetch = Callable[[str, float, int], Awaitable[FetchResult]]
"""``fetch(url, timeout_s, body_size_limit_bytes)``; a limit of 0 means unlimited."""

_READ_BYTES = 1 << 16


class HTTPFetcher:
    """Fetches over one shared aiohttp session (keep-alive connections per target)."""

    def __init__(self, user_agent: str = "kubeprom/0.1") -> None:
        self._session: aiohttp.ClientSession | None = None
        self._user_agent = user_agent

    async def __call__(self, url: str, timeout_s: float, body_limit: int) -> FetchResult:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={
                    "Accept": ACCEPT_HEADER,
                    "User-Agent": self._user_agent,
                    "Accept-Encoding": "gzip",
                },
            )
        try:
            async with asyncio.timeout(timeout_s):
                async with self._session.get(url) as resp:
                    if resp.status != 200:
                        raise ScrapeError(
                            f"server returned HTTP status {resp.status} {resp.reason}"
                        )
                    if body_limit:
                        body = await _read_limited(resp, body_limit)
                    else:
                        body = await resp.read()
                    return FetchResult(body, resp.headers.get("Content-Type", ""))
        except TimeoutError as err:
            raise ScrapeError(f"Get {url!r}: context deadline exceeded") from err
        except aiohttp.ClientError as err:
            raise ScrapeError(f"Get {url!r}: {err}") from err

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _read_limited(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(_READ_BYTES):
        size += len(chunk)
        if size > limit:
            raise ScrapeError(f"body size limit exceeded: more than {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)
