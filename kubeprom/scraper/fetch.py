"""Getting a scrape body: over HTTP with aiohttp, or in-process for simulations.

A :data:`Fetch` takes the URL, the timeout and the body size limit and returns the body and
its content type, or raises :class:`ScrapeError` with the reason Prometheus would give.

The HTTP fetcher does not decompress: aiohttp would do it inside the event loop, where a
gzip bomb stalls every other scrape and the API, past any timeout. It returns the body as
sent with its ``Content-Encoding``, and :func:`decoded_body` decompresses it where the body
is parsed (off the event loop), in bounded chunks, checking the decompressed size against
the body size limit and the caller's deadline as it goes.
"""

from __future__ import annotations

import asyncio
import zlib
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
    short cut, which must leave the store exactly as parsing ``body`` would.

    ``series_set``, when set with ``parsed``, names the parsed series list: a result with the
    same object again promises the same series texts in the same order, so a caller whose
    cache already maps all of them may call ``parsed(None)`` (no labels are built then) and
    reuse what it mapped them to."""

    body: bytes
    content_type: str
    content_encoding: str = ""  # "gzip": ``body`` is still compressed
    parsed: Callable[[Container[bytes] | None], ParsedBody] | None = None
    series_set: object | None = None


Fetch = Callable[[str, float, int], Awaitable[FetchResult]]
"""``fetch(url, timeout_s, body_size_limit_bytes)``; a limit of 0 means unlimited."""

_READ_BYTES = 1 << 16
# Decompressed a chunk at a time, so the size limit and the deadline are checked between.
_INFLATE_BYTES = 1 << 20
_GZIP_MIN_BYTES = 18  # a 10-byte header, an empty deflate stream, crc32 and size


class BodyTooLarge(ScrapeError):
    """The body, fetched or decompressed, passed the body size limit (Prometheus counts
    these in ``prometheus_target_scrapes_exceeded_body_size_limit_total``)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body size limit exceeded: more than {limit} bytes")


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
                auto_decompress=False,
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
                    return FetchResult(
                        body,
                        resp.headers.get("Content-Type", ""),
                        resp.headers.get("Content-Encoding", "").strip().lower(),
                    )
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
            raise BodyTooLarge(limit)
        parts.append(chunk)
    return b"".join(parts)


def decoded_body(result: FetchResult, limit: int, check: Callable[[], None]) -> bytes:
    """The body of ``result`` decompressed: at most ``limit`` bytes (0: no limit), with
    ``check()`` called after each chunk (it raises to stop, e.g. at the scrape deadline).

    ``identity`` and no encoding return the body as it is; ``gzip`` (several members too,
    as Go's reader takes them) is inflated; anything else is an error, as in Prometheus.
    """
    encoding = result.content_encoding
    if encoding in ("", "identity"):
        return result.body
    if encoding != "gzip":
        raise ScrapeError(f"unsupported Content-Encoding {encoding!r}")
    # A gzip member ends with its inflated size modulo 2^32: a body whose last member alone
    # is larger than the limit is refused before anything is inflated. (A member lying about
    # its size is still stopped by the limit below.)
    body = result.body
    if limit and len(body) >= _GZIP_MIN_BYTES and int.from_bytes(body[-4:], "little") > limit:
        raise BodyTooLarge(limit)
    out: list[bytes] = []
    size = 0
    data = result.body
    try:
        while data:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            while data and not inflater.eof:
                chunk = inflater.decompress(data, _INFLATE_BYTES)
                data = inflater.unconsumed_tail
                size += len(chunk)
                if limit and size > limit:
                    raise BodyTooLarge(limit)
                out.append(chunk)
                check()
            if not inflater.eof:
                raise ScrapeError("gzip: unexpected EOF")
            data = inflater.unused_data
    except zlib.error as err:
        raise ScrapeError(f"gzip: {err}") from err
    return b"".join(out)
