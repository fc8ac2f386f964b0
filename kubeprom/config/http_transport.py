"""What one outgoing request needs from an :class:`HTTPClientConfig`: TLS and headers.

:class:`ClientTransport` is built once per configured client and serves both kinds of HTTP
client kubeprom has:

* blocking ``urllib`` (the query commands): ``transport.open(request, timeout_s)``, through
  an opener with the TLS context, no proxies from the environment (Prometheus uses a proxy
  only when configured to) and the config's redirect policy;
* ``aiohttp`` (the Alertmanager notifier, remote write)::

      async with session.post(url, data=body, headers=transport.headers(),
                              ssl=transport.ssl_context,
                              allow_redirects=transport.follow_redirects) as resp: ...

The TLS context is made once (certificate files are read then; a bad file is a
:class:`~kubeprom.errors.ConfigError` pointing at the setting), while credentials kept in
files are read for every :meth:`headers` call, as Prometheus reads them per request.
``tls_config.server_name`` is honoured by a context that sends that name (SNI) and checks
the certificate against it, whatever host the URL names, for urllib and asyncio alike.

Like Go's ``http.Client``, a redirect to another host does not carry the Authorization
header along.
"""

from __future__ import annotations

import base64
import ssl
import urllib.parse
import urllib.request
from typing import IO, Any

from kubeprom.config.http_client import HTTPClientConfig, TLSClientConfig

DEFAULT_MIN_TLS = ssl.TLSVersion.TLSv1_2  # Go's default for clients


class _FixedServerName(ssl.SSLContext):
    """An SSLContext that always speaks to ``server_name`` (SNI and certificate check)."""

    server_name: str = ""

    def wrap_socket(
        self,
        sock: Any,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        return super().wrap_socket(
            sock,
            server_side,
            do_handshake_on_connect,
            suppress_ragged_eofs,
            self.server_name if not server_side else server_hostname,
            session,
        )

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        name = self.server_name if not server_side else server_hostname
        return super().wrap_bio(incoming, outgoing, server_side, name, session)


def ssl_context(tls: TLSClientConfig) -> ssl.SSLContext:
    """A client SSLContext for ``tls``; raises ConfigError naming the setting whose file
    cannot be loaded."""
    ctx: ssl.SSLContext
    if tls.server_name:
        fixed = _FixedServerName(ssl.PROTOCOL_TLS_CLIENT)
        fixed.server_name = tls.server_name
        ctx = fixed
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = tls.min_version or DEFAULT_MIN_TLS
    if tls.max_version is not None:
        ctx.maximum_version = tls.max_version
    where = f" {str(tls.ca_file)!r}" if tls.ca_file is not None else ""
    try:
        if tls.ca:
            ctx.load_verify_locations(cadata=tls.ca)
        elif tls.ca_file is not None:
            ctx.load_verify_locations(cafile=tls.ca_file)
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    except (OSError, ssl.SSLError) as err:
        raise tls.origin.error(f"unable to use specified CA cert{where}: {_reason(err)}") from err
    if tls.cert_file is not None and tls.key_file is not None:
        try:
            ctx.load_cert_chain(tls.cert_file, tls.key_file)
        except (OSError, ssl.SSLError) as err:
            raise tls.origin.error(
                f"unable to load client cert {str(tls.cert_file)!r} and key "
                f"{str(tls.key_file)!r}: {_reason(err)}"
            ) from err
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _reason(err: OSError) -> str:
    return f"{err.strerror}" if err.strerror and not isinstance(err, ssl.SSLError) else str(err)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects (or not, raising the 3xx as an HTTPError), dropping Authorization
    when the redirect leaves the host."""

    def __init__(self, follow: bool) -> None:
        self.follow = follow

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        if not self.follow:
            return None
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if (
            new is not None
            and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc
        ):
            new.remove_header("Authorization")
        return new


class ClientTransport:
    """TLS context, credentials and redirect policy of one configured HTTP client.

    Safe to share between threads and tasks: it holds no connection, and :meth:`headers`
    builds a new dict each call.
    """

    def __init__(self, config: HTTPClientConfig, *, user_agent: str = "kubeprom") -> None:
        self.config = config
        self.user_agent = user_agent
        self.follow_redirects = config.follow_redirects
        self.ssl_context = ssl_context(config.tls)
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPSHandler(context=self.ssl_context),
            _Redirects(config.follow_redirects),
        )

    def authorization(self) -> str | None:
        """The ``Authorization`` header value the config asks for, or None; secrets in files
        are read now (ConfigError when unreadable)."""
        basic, auth = self.config.basic_auth, self.config.authorization
        if basic is not None:
            pair = f"{basic.username.read()}:{basic.password.read()}"
            return "Basic " + base64.b64encode(pair.encode()).decode()
        if auth is not None:
            return f"{auth.type} {auth.credentials.read()}"
        return None

    def headers(self) -> dict[str, str]:
        """``User-Agent`` and, when configured, ``Authorization``."""
        out = {"User-Agent": self.user_agent}
        value = self.authorization()
        if value is not None:
            out["Authorization"] = value
        return out

    def open(self, request: urllib.request.Request, timeout_s: float) -> Any:
        """``urlopen`` through this transport; headers already on ``request`` win (a URL's
        ``user:password@`` sent as basic auth, say). Raises what urlopen raises."""
        for name, value in self.headers().items():
            if not request.has_header(name.capitalize()):
                request.add_header(name, value)
        return self._opener.open(request, timeout=timeout_s)
