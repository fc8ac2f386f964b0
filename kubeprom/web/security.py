"""Basic authentication with bcrypt hashes, and the web config's response headers.

A request without valid credentials gets 401, ``WWW-Authenticate: Basic`` and the body
``Unauthorized``: nothing about which part was wrong. Password checks run bcrypt in a worker
thread; a successful check is remembered (keyed by a SHA-256 of user, hash and password,
as exporter-toolkit does) so a dashboard polling with the same credentials costs one
bcrypt per process, not one per request. An unknown user is checked against a dummy hash,
so the answer takes as long as for a known one.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CACHE_MAX = 1024  # remembered successful logins (distinct user/password pairs)
# A valid hash of a random password: an unknown user costs the same bcrypt work.
_DUMMY_HASH = b"$2b$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"


class BasicAuth:
    """Checks ``Authorization: Basic`` against ``users`` (name -> bcrypt hash)."""

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self._users = dict(users)
        self._good: dict[bytes, None] = {}

    async def check(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not sep:
            return False
        hashed = self._users.get(user)
        key = hashlib.sha256(b"\0".join([user.encode(), hashed or b"", password.encode()])).digest()
        if hashed is not None and key in self._good:
            return True
        import bcrypt  # 0.4 MiB, for servers with basic auth only

        ok = await asyncio.to_thread(bcrypt.checkpw, password.encode(), hashed or _DUMMY_HASH)
        if not ok or hashed is None:
            return False
        if len(self._good) >= _CACHE_MAX:
            self._good.pop(next(iter(self._good)))
        self._good[key] = None
        return True

    def middleware(self) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
        @web.middleware
        async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
            if not await self.check(request.headers.get("Authorization", "")):
                return web.Response(
                    status=401, text="Unauthorized\n", headers={"WWW-Authenticate": "Basic"}
                )
            return await handler(request)

        return authenticate


def add_headers(app: web.Application, headers: Mapping[str, str]) -> None:
    """Send ``headers`` with every response (http_server_config.headers)."""
    fixed = dict(headers)

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(fixed)

    app.on_response_prepare.append(on_prepare)
