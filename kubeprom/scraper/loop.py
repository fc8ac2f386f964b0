"""One target's scrape loop: fetch, parse, label, append, mark stale, report.

``scrape_once(t_ms)`` is the whole step at one instant (Prometheus' ``scrapeAndReport``); the
``run(clock)`` loop only decides when. A steady-state scrape maps every line's series text to
a series ref through the scrape cache and appends the whole body with one batch call; label
parsing, target labels and metric relabeling happen only for series texts the cache has not
seen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from kubeprom.clock import Clock, RealClock, elapsed_s
from kubeprom.errors import ExpositionError, KubepromError, ScrapeError
from kubeprom.model.labels import METRIC_NAME, Labels, validate_labels
from kubeprom.model.samples import STALE_NAN, I64Array
from kubeprom.scraper.exposition import MISSING, content_type_format, parse_text
from kubeprom.scraper.fetch import Fetch, FetchResult
from kubeprom.tsdb.api import Appender, MetricMetadata

log = logging.getLogger(__name__)

_DROPPED = -1  # cache value for series texts that metric relabeling drops
_EMPTY_REFS: I64Array = np.empty(0, dtype=np.int64)

RelabelFn = Callable[[Labels], Labels | None]


@dataclass(frozen=True, slots=True)
class ScrapeOptions:
    """Per-job scrape settings (Prometheus' names; 0 means no limit)."""

    interval_ms: int = 60_000
    timeout_ms: int = 10_000
    honor_labels: bool = False
    honor_timestamps: bool = True
    sample_limit: int = 0
    label_limit: int = 0
    label_name_length_limit: int = 0
    label_value_length_limit: int = 0
    body_size_limit: int = 0
    metric_relabel: RelabelFn | None = None


@dataclass(slots=True)
class TargetHealth:
    """What /api/v1/targets reports about a target."""

    health: str = "unknown"  # "up" | "down" | "unknown"
    last_error: str = ""
    last_scrape_ms: int = 0
    last_duration_s: float = 0.0
    last_samples: int = 0
    scrapes: int = 0  # since the loop started
    failures: int = 0


@dataclass(slots=True)
class _Cache:
    refs: dict[bytes, int] = field(default_factory=dict)
    metadata: dict[str, MetricMetadata] = field(default_factory=dict)
    epoch: int = 0  # the store's series epoch the refs were last checked at


class ScrapeLoop:
    """Scrapes one target into the store. Not shared between tasks.

    ``clock`` times each scrape (``scrape_duration_seconds``); the real clock by default.
    """

    def __init__(
        self,
        target_labels: Labels,
        url: str,
        options: ScrapeOptions,
        fetch: Fetch,
        appender: Callable[[], Appender],
        *,
        offset_ms: int = 0,
        clock: Clock | None = None,
    ) -> None:
        self.labels = target_labels
        self.url = url
        self.options = options
        self._fetch = fetch
        self._appender = appender
        self.offset_ms = offset_ms
        self._clock: Clock = clock or RealClock()
        self.health = TargetHealth()
        self._cache = _Cache()
        self._prev_refs: I64Array = _EMPTY_REFS  # series appended at scrape time last scrape
        self._report_refs: I64Array | None = None
        self._stopped = False

    def metadata(self) -> dict[str, MetricMetadata]:
        """HELP/TYPE/UNIT by metric family as this target last exposed them (a copy)."""
        return dict(self._cache.metadata)

    # ---- one scrape ----------------------------------------------------------------------
    async def scrape_once(self, t_ms: int) -> None:
        """Scrape at ``t_ms`` and append everything (samples, staleness, report series)."""
        opts = self.options
        started_ns = self._clock.monotonic_ns()
        app = self._appender()
        self._drop_dead_refs(app)
        scraped = kept = added = 0
        error = ""
        try:
            result = await self._fetch(self.url, opts.timeout_ms / 1000, opts.body_size_limit)
            scraped, kept, added, cur_refs = self._append_body(app, t_ms, result)
        except (ScrapeError, ExpositionError) as err:
            error = str(err)
            app.rollback()
            cur_refs = _EMPTY_REFS
        # Series the previous scrape had and this one lacks end now (all of them on failure).
        gone = np.setdiff1d(self._prev_refs, cur_refs, assume_unique=True)
        if gone.size:
            app.append(t_ms, gone, np.full(gone.size, STALE_NAN))
        self._prev_refs = cur_refs
        duration = elapsed_s(self._clock, started_ns)
        self._report(
            app, t_ms, up=not error, duration_s=duration, scraped=scraped, kept=kept, added=added
        )
        app.commit()
        h = self.health
        h.health, h.last_error = ("down", error) if error else ("up", "")
        h.last_scrape_ms, h.last_duration_s, h.last_samples = t_ms, duration, scraped
        h.scrapes += 1
        h.failures += bool(error)
        if error:
            log.debug("scrape failed target=%s err=%s", self.url, error)

    def _drop_dead_refs(self, app: Appender) -> None:
        """After the store collected series, forget the refs that died with them: a series
        text seen again gets a new ref (as Prometheus' scrape cache re-resolves it)."""
        epoch = app.series_epoch()
        if epoch == self._cache.epoch:
            return
        self._cache.epoch = epoch
        cache = self._cache.refs
        if cache:
            refs = np.fromiter(cache.values(), np.int64, len(cache))
            kept = refs != _DROPPED
            alive = np.ones(len(refs), dtype=bool)
            alive[kept] = app.live(refs[kept])
            for text, ok in zip(list(cache), alive.tolist(), strict=True):
                if not ok:
                    del cache[text]
        if self._prev_refs.size:
            self._prev_refs = self._prev_refs[app.live(self._prev_refs)]
        if self._report_refs is not None and not app.live(self._report_refs).all():
            self._report_refs = None

    def _append_body(
        self, app: Appender, t_ms: int, result: FetchResult
    ) -> tuple[int, int, int, I64Array]:
        """Returns (samples scraped, samples kept, series added, refs appended at ``t_ms``)."""
        cache = self._cache.refs
        if result.parsed is not None:
            parsed = result.parsed(cache.keys())
        else:
            parsed = parse_text(
                result.body,
                openmetrics=content_type_format(result.content_type) == "openmetrics",
                source=self.url,
                known=cache.keys(),
            )
        added = 0
        for text, labels in parsed.labels.items():
            if text not in cache:
                cache[text] = self._new_series(app, labels)
                added += 1
        for name, meta in parsed.metadata.items():
            if self._cache.metadata.get(name) != meta:
                self._cache.metadata[name] = meta
                app.append_metadata(name, meta)
        refs = np.fromiter(map(cache.__getitem__, parsed.series), np.int64, len(parsed.series))
        values = parsed.values
        keep = refs != _DROPPED
        kept = int(np.count_nonzero(keep))
        if self.options.sample_limit and kept > self.options.sample_limit:
            raise _LimitError(
                f"sample limit exceeded: {kept} samples, limit {self.options.sample_limit}"
            )
        ts = parsed.timestamps_ms
        if self.options.honor_timestamps:
            explicit = keep & (ts != MISSING)
            now = keep & ~explicit
        else:
            explicit = np.zeros(len(refs), dtype=bool)
            now = keep
        cur = refs[now]
        app.append(t_ms, cur, values[now])
        if explicit.any():
            # Series with their own timestamps (e.g. kubelet /metrics/resource) are appended at
            # them and take no part in staleness, as in Prometheus.
            e_refs, e_ts, e_vals = refs[explicit], ts[explicit], values[explicit]
            order = np.argsort(e_ts, kind="stable")
            e_refs, e_ts, e_vals = e_refs[order], e_ts[order], e_vals[order]
            cuts = np.flatnonzero(np.diff(e_ts)) + 1
            for a, b in zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(e_ts)].tolist(), strict=True):
                app.append(int(e_ts[a]), e_refs[a:b], e_vals[a:b])
        # Keep the cache from growing with series that vanished long ago.
        if len(cache) > 2 * len(parsed.series) + 1000:
            live = set(parsed.series)
            for text in [k for k in cache if k not in live]:
                del cache[text]
        return len(refs), kept, added, np.unique(cur)

    def _new_series(self, app: Appender, scraped: Labels) -> int:
        """Target labels, honor_labels, metric relabeling and limits for a new series text."""
        labels = merge_target_labels(scraped, self.labels, honor=self.options.honor_labels)
        relabel = self.options.metric_relabel
        if relabel is not None:
            relabeled = relabel(labels)
            if relabeled is None:
                return _DROPPED
            labels = relabeled
        self._check_label_limits(labels)
        try:
            validate_labels(labels)
        except KubepromError as err:
            raise _LimitError(str(err)) from err
        return app.ref(labels)

    def _check_label_limits(self, labels: Labels) -> None:
        o = self.options
        if o.label_limit and len(labels) > o.label_limit:
            raise _LimitError(
                f"label_limit exceeded (metric: {labels.name}, number of labels: {len(labels)}, "
                f"limit: {o.label_limit})"
            )
        for name, value in labels:
            if o.label_name_length_limit and len(name) > o.label_name_length_limit:
                raise _LimitError(
                    f"label_name_length_limit exceeded (metric: {labels.name}, label name: "
                    f"{name}, length: {len(name)}, limit: {o.label_name_length_limit})"
                )
            if o.label_value_length_limit and len(value) > o.label_value_length_limit:
                raise _LimitError(
                    f"label_value_length_limit exceeded (metric: {labels.name}, label name: "
                    f"{name}, value: {value!r}, length: {len(value)}, limit: "
                    f"{o.label_value_length_limit})"
                )

    def _report(
        self,
        app: Appender,
        t_ms: int,
        *,
        up: bool,
        duration_s: float,
        scraped: int,
        kept: int,
        added: int,
    ) -> None:
        if self._report_refs is None:
            self._report_refs = np.array(
                [app.ref(self.labels.with_labels({METRIC_NAME: n})) for n in REPORT_SERIES],
                dtype=np.int64,
            )
        values = np.array([1.0 if up else 0.0, duration_s, scraped, kept, added])
        app.append(t_ms, self._report_refs, values)

    def stale_all(self, t_ms: int) -> None:
        """Mark every series of this target stale (the target went away)."""
        app = self._appender()
        refs = self._prev_refs
        if self._report_refs is not None:
            refs = np.concatenate([refs, self._report_refs])
        if refs.size:
            app.append(t_ms, refs, np.full(refs.size, STALE_NAN))
        app.commit()
        self._prev_refs = _EMPTY_REFS

    # ---- the loop --------------------------------------------------------------------------
    def next_scrape_ms(self, now_ms: int) -> int:
        """The next scrape time after ``now_ms``: ``offset`` plus a multiple of the interval."""
        iv = self.options.interval_ms
        base = (now_ms - self.offset_ms) // iv * iv + self.offset_ms
        return base if base >= now_ms else base + iv

    async def run(self, clock: Clock) -> None:
        """Scrape on schedule until :meth:`stop`; each wait is bounded by one interval."""
        t_ms = self.next_scrape_ms(clock.now_ms())
        while not self._stopped:
            await clock.sleep_until_ms(t_ms)
            if self._stopped:
                break
            await self.scrape_once(t_ms)
            t_ms = self.next_scrape_ms(max(t_ms + self.options.interval_ms, clock.now_ms()))

    def stop(self) -> None:
        self._stopped = True


class _LimitError(ScrapeError):
    """A per-scrape limit was exceeded; the scrape fails as a whole."""


REPORT_SERIES = (
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
)


def merge_target_labels(scraped: Labels, target: Labels, *, honor: bool) -> Labels:
    """Prometheus' ``mutateSampleLabels`` before metric relabeling.

    With ``honor_labels`` the scraped value wins a conflict; otherwise the target's wins and
    the scraped one is kept as ``exported_<name>`` (``exported_exported_<name>`` if taken).
    """
    merged = scraped.to_dict()
    if honor:
        for name, value in target:
            merged.setdefault(name, value)
        return Labels(merged.items())
    conflicts = []
    for name, value in target:
        existing = merged.get(name)
        if existing:
            conflicts.append((name, existing))
        merged[name] = value
    for name, value in conflicts:
        new = "exported_" + name
        while merged.get(new):
            new = "exported_" + new
        merged[new] = value
    return Labels(merged.items())
