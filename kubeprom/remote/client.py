"""The remote write HTTP client: one POST per batch, Prometheus' headers and error classes.

As ``storage/remote/client.go``: a network error or a 5xx is recoverable (retried with
backoff); a 429 is recoverable only with ``retry_on_http_429`` and then honours
``Retry-After`` (seconds or an HTTP date); every other non-2xx fails the batch for good,
with the first line of the response body in the error.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Mapping

import aiohttp

from kubeprom.config.http_transport import ClientTransport
from kubeprom.config.remote import RemoteWriteConfig
from kubeprom.errors import ConfigError, RecoverableWriteError, RemoteWriteError
from kubeprom.remote.protocol import WRITE_HEADERS

log = logging.getLogger(__name__)

MAX_ERROR_BYTES = 1024  # Prometheus' maxErrMsgLen: how much of an error body is kept


def retry_after_ms(value: str | None, now_s: float) -> int | None:
    """A Retry-After header as milliseconds (None if absent or unreadable).

    Seconds (``"120"``) or an HTTP date; a date in the past gives a negative value, which
    the queue treats like no header (Prometheus' retryAfterDuration).
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value) * 1000
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return int(when.timestamp() - now_s) * 1000


class HTTPWriteClient:
    """POSTs compressed WriteRequests to one URL; owns its connection pool.

    TLS, credentials and redirects come from the config's HTTP client settings (the shared
    :class:`~kubeprom.config.http_transport.ClientTransport`); credentials kept in files are
    read for each request, so a rotated token is used without a restart.
    """

    def __init__(
        self,
        cfg: RemoteWriteConfig,
        *,
        extra_headers: Mapping[str, str] | None = None,
        connections: int | None = None,
    ) -> None:
        self.url = cfg.url
        self._timeout = aiohttp.ClientTimeout(total=cfg.remote_timeout_ms / 1000)
        self._retry_on_429 = cfg.queue_config.retry_on_http_429
        self._headers = {**dict(cfg.headers), **dict(extra_headers or {}), **WRITE_HEADERS}
        self._transport = ClientTransport(cfg.http)
        self._connections = connections or cfg.queue_config.max_shards
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._connections, ssl=self._transport.ssl_context
                ),
                timeout=self._timeout,
                skip_auto_headers=("Accept-Encoding",),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def store(self, body: bytes) -> None:
        """Send one request; raise RecoverableWriteError or RemoteWriteError on failure."""
        session = self._get_session()
        headers = self._headers
        try:
            auth = self._transport.authorization()
        except ConfigError as err:  # a credentials file cannot be read right now: retry
            raise RecoverableWriteError(str(err)) from err
        if auth is not None:
            headers = {**headers, "Authorization": auth}
        try:
            async with session.post(
                self.url,
                data=body,
                headers=headers,
                allow_redirects=self._transport.follow_redirects,
            ) as resp:
                if resp.status // 100 == 2:
                    await resp.read()
                    return
                text = (await resp.content.read(MAX_ERROR_BYTES)).decode("utf-8", "replace")
                line = text.split("\n", 1)[0]
                message = f"server returned HTTP status {resp.status} {resp.reason}: {line}"
                if resp.status // 100 == 5:
                    raise RecoverableWriteError(message)
                if resp.status == 429 and self._retry_on_429:
                    after = retry_after_ms(resp.headers.get("Retry-After"), time.time())
                    raise RecoverableWriteError(message, retry_after_ms=after)
                raise RemoteWriteError(message)
        except (TimeoutError, aiohttp.ClientError, OSError) as err:
            raise RecoverableWriteError(f"cannot send to {self.url}: {err!r}") from err
