"""The UI's files held in memory and answered from there: no disk read, no executor thread,
nothing to wait for on a busy event loop.

Each file carries a strong ETag (a hash of its bytes) and a gzip copy when that is smaller.
The pages name them under a version of the whole static tree (``/ui/static/v/<version>/
app.js``) and the server lets browsers keep those for a year (``immutable``), so a warm page
load asks for nothing but the page and its data, and a new server's files have new URLs.
The modules import each other by relative paths, so the one version segment covers them
all; Prometheus' UI build names its assets by content hash to the same end. The unversioned
paths stay, revalidated on every use (``no-cache``, answered 304 while unchanged).
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

# Smaller than this, gzip saves too little to be worth a decompression.
_GZIP_MIN_BYTES = 1024


@dataclass(frozen=True, slots=True)
class File:
    """A file's bytes; ``gzipped`` is None when compressing does not pay."""

    body: bytes
    content_type: str
    digest: str  # a hash of ``body``: the ETag's value, and the URL version of a vendor file
    gzipped: bytes | None

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'


def held(body: bytes, content_type: str) -> File:
    digest = hashlib.sha256(body).hexdigest()[:20]
    packed = gzip.compress(body, 9, mtime=0) if len(body) >= _GZIP_MIN_BYTES else None
    small = packed if packed is not None and len(packed) < len(body) * 0.9 else None
    return File(body, content_type, digest, small)


def tree_version(files: Mapping[str, File]) -> str:
    """One hash over every file's name and bytes: changes when any file does."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode())
        h.update(files[name].digest.encode())
    return h.hexdigest()[:12]


def _matches(request: web.Request, etag: str) -> bool:
    # If-None-Match compares weakly (RFC 9110 13.1.2): a W/ prefix does not matter.
    tags = request.if_none_match
    return tags is not None and any(f'"{t.value}"' == etag or t.value == "*" for t in tags)


def answer(
    request: web.Request, file: File, cache_control: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """``file`` (gzipped when the client takes gzip), or 304 when the client holds it."""
    gz = file.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", "")
    etag = f'{file.etag[:-1]}-gzip"' if gz else file.etag
    out = {**(headers or {}), "Cache-Control": cache_control, "ETag": etag}
    if file.gzipped is not None:
        out["Vary"] = "Accept-Encoding"
    if _matches(request, etag):
        return web.Response(status=304, headers=out)
    if gz:
        out["Content-Encoding"] = "gzip"
    body = file.gzipped if gz and file.gzipped is not None else file.body
    return web.Response(body=body, headers={**out, "Content-Type": file.content_type})
