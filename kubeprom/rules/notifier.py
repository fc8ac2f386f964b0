"""Sending alerts to Alertmanagers (Prometheus' ``notifier/``).

:meth:`Notifier.send` applies external labels (where an alert lacks the label) and
``alerting.alert_relabel_configs``, then each Alertmanager set's own
``alert_relabel_configs``, and queues the alerts on every Alertmanager of the set. Each
Alertmanager has its own send loop and bounded queue (``--alertmanager.notification-queue-
capacity``): a full queue drops its oldest alerts and counts them. A loop POSTs
``/api/v2/alerts`` in batches of at most :data:`MAX_BATCH`; a batch that fails is dropped and
counted (the rules re-send firing and resolved alerts every resend delay, so an Alertmanager
that comes back gets them again).

The HTTP request goes through a :data:`Post` callable so that tests and simulations can
deliver in process. ``send`` may be called from another thread (rule evaluation runs in
threads in a server); the queues are only touched on the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import posixpath
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote_plus

import aiohttp

from kubeprom.clock import Clock, RealClock, elapsed_s
from kubeprom.config.http_client import HTTPClientConfig
from kubeprom.config.http_transport import ClientTransport
from kubeprom.config.load import AlertmanagerConfig, MainConfig
from kubeprom.config.relabel import RelabelConfig
from kubeprom.config.relabeling import process
from kubeprom.config.scrape import check_target_address
from kubeprom.errors import ConfigError, KubepromError
from kubeprom.model.labels import Labels
from kubeprom.model.timeutil import format_rfc3339_milli
from kubeprom.rules.alerting import Alert

log = logging.getLogger(__name__)

MAX_BATCH = 256  # Prometheus' DefaultMaxBatchSize
DEFAULT_QUEUE_CAPACITY = 10_000
_ZERO = "0001-01-01T00:00:00.000Z"


class NotifyError(KubepromError):
    """An Alertmanager did not accept a batch of alerts."""


Post = Callable[[str, bytes, float, HTTPClientConfig], Awaitable[None]]
"""POSTs a JSON body to a URL within a timeout (s), with the Alertmanager set's
``http_config`` (credentials, TLS); raises NotifyError on any failure."""


@dataclass(frozen=True, slots=True)
class Notification:
    """One alert as sent (``notifier.Alert``); times in ms, None is Go's zero time."""

    labels: Labels
    annotations: Labels
    starts_at_ms: int | None
    ends_at_ms: int | None
    generator_url: str = ""


def table_link(expr: str) -> str:
    """Prometheus' ``TableLinkForExpression``."""
    return f"/graph?g0.expr={quote_plus(expr, safe='')}&g0.tab=1"


def notifications(expr: str, alerts: Sequence[Alert], external_url: str) -> list[Notification]:
    """Rule alerts as sent (``SendAlerts``): starts at the firing time, ends at the
    resolution, or else at ``valid_until`` (4 resend periods ahead)."""
    url = external_url + table_link(expr)
    return [
        Notification(
            a.labels,
            a.annotations,
            a.fired_at_ms,
            a.resolved_at_ms if a.resolved_at_ms is not None else a.valid_until_ms,
            url,
        )
        for a in alerts
    ]


def _datetime(ms: int | None) -> str:
    """strfmt.DateTime's JSON: RFC 3339 with milliseconds, UTC."""
    return _ZERO if ms is None else format_rfc3339_milli(ms)


def payload(alerts: Sequence[Notification]) -> bytes:
    """The Alertmanager v2 ``PostableAlerts`` body."""
    return json.dumps(
        [
            {
                "annotations": a.annotations.to_dict(),
                "endsAt": _datetime(a.ends_at_ms),
                "startsAt": _datetime(a.starts_at_ms),
                "generatorURL": a.generator_url,
                "labels": a.labels.to_dict(),
            }
            for a in alerts
        ],
        separators=(",", ":"),
    ).encode()


def relabel_alerts(
    alerts: Sequence[Notification], configs: Sequence[RelabelConfig], external: Labels
) -> list[Notification]:
    """External labels where missing, then relabeling; dropped alerts are left out."""
    out = []
    for a in alerts:
        labels = a.labels
        missing = [(n, v) for n, v in external if not labels.get(n)]
        if missing:
            labels = labels.with_labels(dict(missing))
        if configs:
            relabeled = process(labels, configs)
            if relabeled is None:
                continue
            labels = relabeled
        out.append(a if labels == a.labels else _with_labels(a, labels))
    return out


def _with_labels(a: Notification, labels: Labels) -> Notification:
    return Notification(labels, a.annotations, a.starts_at_ms, a.ends_at_ms, a.generator_url)


@dataclass(slots=True)
class LoopStats:
    sent: int = 0
    errors: int = 0
    dropped: int = 0
    latency_sum_s: float = 0.0
    latency_count: int = 0


class SendLoop:
    """One Alertmanager's queue and sender. Event-loop only."""

    def __init__(
        self, url: str, cfg: AlertmanagerConfig, post: Post, capacity: int, clock: Clock
    ) -> None:
        self._clock = clock
        self.url = url
        self.cfg = cfg
        self._post = post
        self.capacity = capacity
        self.queue: deque[Notification] = deque()
        self.stats = LoopStats()
        self._work = asyncio.Event()
        self._stopped = False
        self._task: asyncio.Task[None] | None = None

    def add(self, alerts: Sequence[Notification]) -> None:
        if self._stopped:
            return
        dropped = 0
        if (d := len(alerts) - self.capacity) > 0:
            dropped += d
            alerts = alerts[d:]
        if (d := len(self.queue) + len(alerts) - self.capacity) > 0:
            dropped += d
            for _ in range(d):
                self.queue.popleft()
        if dropped:
            log.warning("alert notification queue full, dropping alerts count=%d", dropped)
            self.stats.dropped += dropped
        self.queue.extend(alerts)
        self._work.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"notifier {self.url}")

    async def stop(self) -> None:
        """Stop; what is still queued is dropped and counted (Prometheus' default)."""
        self._stopped = True
        self.stats.dropped += len(self.queue)
        self.queue.clear()
        self._work.set()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        while True:
            await self._work.wait()
            self._work.clear()
            if self._stopped:
                return
            await self.send_one_batch()
            if self.queue:
                self._work.set()

    async def send_one_batch(self) -> None:
        batch = [self.queue.popleft() for _ in range(min(MAX_BATCH, len(self.queue)))]
        if not batch:
            return
        started = self._clock.monotonic_ns()
        try:
            await self._post(self.url, payload(batch), self.cfg.timeout_ms / 1000, self.cfg.http)
        except NotifyError as err:
            log.error(
                "error sending alerts alertmanager=%s count=%d err=%s", self.url, len(batch), err
            )
            self.stats.errors += len(batch)
            self.stats.dropped += len(batch)
            return
        self.stats.latency_sum_s += elapsed_s(self._clock, started)
        self.stats.latency_count += 1
        self.stats.sent += len(batch)


def alerts_path(cfg: AlertmanagerConfig) -> str:
    """``path.Join("/", path_prefix, "/api/v2/alerts")``."""
    parts = [p for p in (cfg.path_prefix.strip("/"), f"api/{cfg.api_version}/alerts") if p]
    return posixpath.normpath("/" + "/".join(parts))


def discover(cfg: AlertmanagerConfig) -> tuple[list[str], list[str]]:
    """Alertmanager URLs of a set's static targets after relabeling: (active, dropped)."""
    active: list[str] = []
    dropped: list[str] = []
    for group in cfg.static_configs:
        for target in group.targets:
            base = dict(group.labels)
            base.update(
                {
                    "__address__": target,
                    "__scheme__": cfg.scheme,
                    "__alerts_path__": alerts_path(cfg),
                }
            )
            labels = Labels(base.items())
            kept = process(labels, cfg.relabel_configs)
            if kept is None:
                dropped.append(_url(labels))
                continue
            if (problem := check_target_address(kept.get("__address__"))) is not None:
                log.error("creating discovered Alertmanagers failed err=%s", problem)
                continue
            url = _url(kept)
            if url not in active:
                active.append(url)
    return active, dropped


def _url(labels: Labels) -> str:
    return (
        f"{labels.get('__scheme__')}://{labels.get('__address__')}{labels.get('__alerts_path__')}"
    )


@dataclass(slots=True)
class _Set:
    cfg: AlertmanagerConfig
    loops: dict[str, SendLoop] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


class Notifier:
    """Every configured Alertmanager's send loop. Create and use on the event loop."""

    def __init__(
        self,
        post: Post | None = None,
        *,
        queue_capacity: int = DEFAULT_QUEUE_CAPACITY,
        clock: Clock | None = None,
    ) -> None:
        self._clock: Clock = clock or RealClock()
        self._http: HTTPPost | None = None
        if post is None:
            self._http = HTTPPost()
            post = self._http
        self._post = post
        self.queue_capacity = queue_capacity
        self._sets: list[_Set] = []
        self._external = Labels()
        self._relabel: tuple[RelabelConfig, ...] = ()
        self._retired = LoopStats()  # counters of loops that were stopped
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0

    def apply(self, config: MainConfig) -> None:
        """Use ``config``'s alerting section and external labels; loops of Alertmanagers
        that stay keep their queues."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._external = Labels(config.global_.external_labels.items())
        self._relabel = config.alerting.alert_relabel_configs
        old = {url: loop for s in self._sets for url, loop in s.loops.items()}
        sets = []
        for cfg in config.alerting.alertmanagers:
            active, dropped = discover(cfg)
            s = _Set(cfg, dropped=dropped)
            for url in active:
                loop = old.pop(url, None)
                if loop is None or loop.cfg != cfg:
                    if loop is not None:
                        old[url] = loop
                    loop = SendLoop(url, cfg, self._post, self.queue_capacity, self._clock)
                    loop.start()
                s.loops[url] = loop
            sets.append(s)
        self._sets = sets
        for loop in old.values():
            self._retire(loop)

    def _retire(self, loop: SendLoop) -> None:
        task = asyncio.ensure_future(loop.stop())
        task.add_done_callback(lambda _: self._add_retired(loop.stats))

    def _add_retired(self, st: LoopStats) -> None:
        r = self._retired
        r.sent, r.errors, r.dropped = r.sent + st.sent, r.errors + st.errors, r.dropped + st.dropped

    def send(self, alerts: Sequence[Notification]) -> None:
        """Queue alerts on every Alertmanager; safe to call from any thread."""
        if self._loop is None:
            return
        if threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self._send, list(alerts))
        else:
            self._send(alerts)

    def _send(self, alerts: Sequence[Notification]) -> None:
        alerts = relabel_alerts(alerts, self._relabel, self._external)
        if not alerts:
            return
        for s in self._sets:
            batch = alerts
            if s.cfg.alert_relabel_configs:
                batch = relabel_alerts(alerts, s.cfg.alert_relabel_configs, Labels())
            for loop in s.loops.values():
                loop.add(batch)

    async def stop(self) -> None:
        for s in self._sets:
            for loop in s.loops.values():
                await loop.stop()
        if self._http is not None:
            await self._http.close()

    # ---- views -------------------------------------------------------------------------------
    def loops(self) -> list[SendLoop]:
        return [loop for s in self._sets for loop in s.loops.values()]

    def alertmanager_urls(self) -> tuple[list[str], list[str]]:
        """(active, dropped) Alertmanager URLs (``/api/v1/alertmanagers``)."""
        return [u for s in self._sets for u in s.loops], [u for s in self._sets for u in s.dropped]


class HTTPPost:
    """:data:`Post` over aiohttp: a session per ``http_config`` (its TLS context), created on
    first use; the ``Authorization`` header is built per request, so credentials kept in
    files are re-read (Prometheus' behaviour for rotated secrets)."""

    def __init__(self) -> None:
        self._sessions: dict[HTTPClientConfig, tuple[aiohttp.ClientSession, ClientTransport]] = {}

    async def __call__(
        self, url: str, body: bytes, timeout_s: float, http: HTTPClientConfig
    ) -> None:
        try:
            found = self._sessions.get(http)
            if found is None:
                transport = ClientTransport(http, user_agent="kubeprom")
                connector = aiohttp.TCPConnector(ssl=transport.ssl_context)
                session = aiohttp.ClientSession(
                    connector=connector, headers={"Content-Type": "application/json"}
                )
                found = self._sessions[http] = (session, transport)
            session, transport = found
            headers = transport.headers()
        except ConfigError as err:  # a TLS file or a secret file that cannot be read
            raise NotifyError(f"Post {url!r}: {err}") from err
        try:
            async with session.post(
                url,
                data=body,
                headers=headers,
                allow_redirects=http.follow_redirects,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as resp:
                await resp.read()
                if resp.status // 100 != 2:
                    raise NotifyError(f"bad response status {resp.status} {resp.reason}")
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            raise NotifyError(f"Post {url!r}: {err or type(err).__name__}") from err

    async def close(self) -> None:
        sessions, self._sessions = self._sessions, {}
        for session, _ in sessions.values():
            await session.close()
