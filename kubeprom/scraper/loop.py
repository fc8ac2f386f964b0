"""One target's scrape loop: fetch, parse, label, append, mark stale, report.

``scrape_once(t_ms)`` is the whole step at one instant (Prometheus' ``scrapeAndReport``); the
``run(clock)`` loop only decides when. A steady-state scrape maps every line's series text to
a series ref through the scrape cache and appends the whole body with one batch call; label
parsing, target labels and metric relabeling happen only for series texts the cache has not
seen.

Hostile targets (issue 11): the scrape timeout covers decompression and parsing, not only
the request; a body is decompressed in bounded chunks up to the body size limit (kubeprom's
:data:`DEFAULT_BODY_LIMIT_BYTES` when the job sets none); the sample limit and the label
limits are checked before any new series is created, and without metric relabeling the
sample limit stops the parse itself; a body larger than :data:`OFFLOAD_BYTES` is decompressed,
parsed and appended on ``offload`` (a worker thread in the server), so it stalls neither the
API nor other targets. As in Prometheus, samples stamped more than ``MAX_AHEAD_MS`` after
now are refused and counted as out of bounds, and a series repeated within one scrape keeps
its first sample and counts the rest as duplicates; neither fails the scrape.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from kubeprom.clock import Clock, RealClock, elapsed_s
from kubeprom.errors import ExpositionError, KubepromError, ScrapeError
from kubeprom.model.labels import METRIC_NAME, Labels, validate_labels
from kubeprom.model.samples import STALE_NAN, I64Array
from kubeprom.scraper.exposition import MISSING, content_type_format, parse_text
from kubeprom.scraper.exposition.parser import ParsedBody
from kubeprom.scraper.fetch import BodyTooLarge, Fetch, FetchResult, decoded_body
from kubeprom.tsdb.api import MAX_AHEAD_MS, Appender, AppendStats, MetricMetadata

log = logging.getLogger(__name__)

_DROPPED = -1  # cache value for series texts that metric relabeling drops
_NEW = -2  # placeholder while a scrape decides whether its new series may be created
_EMPTY_REFS: I64Array = np.empty(0, dtype=np.int64)

# Prometheus has no limit by default; a body larger than this (after decompression) fails
# the scrape unless the job sets body_size_limit, so one target cannot take all memory.
DEFAULT_BODY_LIMIT_BYTES = 256 << 20
# Bodies larger than this (as fetched) are processed on the offload runner.
OFFLOAD_BYTES = 256 << 10

RelabelFn = Callable[[Labels], Labels | None]

T = TypeVar("T")


class Offload(Protocol):
    """Runs a blocking function elsewhere (a worker thread) and awaits its result."""

    def __call__(self, fn: Callable[[], T]) -> Awaitable[T]: ...


class ScrapeCounters:
    """Prometheus' process-wide scrape counters (``prometheus_target_scrapes_*``), shared by
    the loops of one manager; safe to update from worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sample_out_of_bounds = 0
        self.sample_out_of_order = 0
        self.sample_duplicate_timestamp = 0
        self.exceeded_sample_limit = 0
        self.exceeded_body_size_limit = 0
        self.exceeded_label_limits = 0

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


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


@dataclass(frozen=True, slots=True)
class _Memo:
    """What the last scrape of a fetcher's named series set (``FetchResult.series_set``)
    mapped it to; valid while the cache's refs are unchanged (only a scrape of another
    series set, a sample limit or the store's collection changes them, and each drops it)."""

    series_set: object
    refs: I64Array  # per sample: its ref or _DROPPED
    keep: NDArray[np.bool_]
    kept: int
    now: NDArray[np.bool_]  # samples appended at the scrape's time
    cur: I64Array  # their refs, sorted and unique


@dataclass(slots=True)
class _Cache:
    refs: dict[bytes, int] = field(default_factory=dict)
    metadata: dict[str, MetricMetadata] = field(default_factory=dict)
    epoch: int = 0  # the store's series epoch the refs were last checked at
    memo: _Memo | None = None
    recorded: object = None  # the last parsed metadata dict whose entries are in ``metadata``


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
        offload: Offload | None = None,
        counters: ScrapeCounters | None = None,
    ) -> None:
        self.labels = target_labels
        self.url = url
        self.options = options
        self._fetch = fetch
        self._appender = appender
        self.offset_ms = offset_ms
        self._clock: Clock = clock or RealClock()
        self._offload = offload
        self.counters = counters or ScrapeCounters()
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
        deadline_ns = started_ns + opts.timeout_ms * 1_000_000
        app = self._appender()
        self._drop_dead_refs(app)
        scraped = kept = added = 0
        error = ""
        limit = opts.body_size_limit or DEFAULT_BODY_LIMIT_BYTES
        try:
            result = await self._fetch(self.url, opts.timeout_ms / 1000, limit)
            work = functools.partial(self._process, app, t_ms, result, limit, deadline_ns)
            if self._offload is not None and len(result.body) > OFFLOAD_BYTES:
                scraped, kept, added, cur_refs = await self._offload(work)
            else:
                scraped, kept, added, cur_refs = work()
        except (ScrapeError, ExpositionError) as err:
            error = str(err)
            app.rollback()
            cur_refs = _EMPTY_REFS
            if isinstance(err, BodyTooLarge):
                self.counters.add(exceeded_body_size_limit=1)
            elif isinstance(err, _LimitError) and err.counter:
                self.counters.add(**{err.counter: 1})
        # Series the previous scrape had and this one lacks end now (all of them on failure).
        prev = self._prev_refs
        if prev.size == cur_refs.size and np.array_equal(prev, cur_refs):
            gone = _EMPTY_REFS  # the usual scrape: the same series (both sorted and unique)
        else:
            gone = np.setdiff1d(prev, cur_refs, assume_unique=True)
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
        self._cache.memo = None
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

    def _process(
        self, app: Appender, t_ms: int, result: FetchResult, limit: int, deadline_ns: int
    ) -> tuple[int, int, int, I64Array]:
        """Decompress, parse and append a fetched body, within the scrape's deadline."""

        def check() -> None:
            if self._clock.monotonic_ns() > deadline_ns:
                raise ScrapeError(
                    f"scrape of {self.url!r} exceeded its timeout of "
                    f"{self.options.timeout_ms / 1000:g}s while decompressing or parsing "
                    "(context deadline exceeded)"
                )

        if result.parsed is not None:  # an in-process exporter's samples, without the text
            memo = self._cache.memo
            named = result.series_set
            if memo is not None and (named is None or memo.series_set is not named):
                memo = None
            parsed = result.parsed(None if memo else self._cache.refs.keys())
            return self._append_body(
                app, t_ms, b"", result.content_type, check, parsed, named, memo
            )
        body = decoded_body(result, limit, check)
        return self._append_body(app, t_ms, body, result.content_type, check)

    def _append_body(
        self,
        app: Appender,
        t_ms: int,
        body: bytes,
        content_type: str,
        check: Callable[[], None] = lambda: None,
        parsed: ParsedBody | None = None,
        series_set: object = None,
        memo: _Memo | None = None,
    ) -> tuple[int, int, int, I64Array]:
        """Returns (samples scraped, samples kept, series added, refs appended at ``t_ms``).

        Nothing is created or appended unless every limit holds: new series texts get their
        final labels (target labels, relabeling, label limits) first, the samples kept are
        counted against the sample limit, and only then are their series created.

        ``memo`` (the last scrape of the same ``series_set``) gives the refs, so the series
        texts are not looked up one by one; a scrape of a named set leaves its memo.
        """
        opts = self.options
        if memo is not None and parsed is not None:
            refs, keep, kept, added = memo.refs, memo.keep, memo.kept, 0
        else:
            self._cache.memo = None
            parsed, refs, keep, kept, added = self._map_series(
                app, body, content_type, check, parsed
            )
        if parsed.metadata is not self._cache.recorded:
            for name, meta in parsed.metadata.items():
                if self._cache.metadata.get(name) != meta:
                    self._cache.metadata[name] = meta
                    app.append_metadata(name, meta)
            self._cache.recorded = parsed.metadata
        values = parsed.values
        ts = parsed.timestamps_ms
        if opts.honor_timestamps:
            explicit = keep & (ts != MISSING)
            now = keep & ~explicit
        else:
            explicit = np.zeros(len(refs), dtype=bool)
            now = keep
        cur = refs[now]
        stats = app.append(t_ms, cur, values[now])
        # Prometheus refuses samples more than 10 minutes ahead of now (its scrape
        # appender's maxAheadTime) and counts them as out of bounds.
        ahead = explicit & (ts > self._clock.now_ms() + MAX_AHEAD_MS)
        if ahead.any():
            stats.out_of_bounds += int(np.count_nonzero(ahead))
            explicit &= ~ahead
        if explicit.any():
            # Series with their own timestamps (e.g. kubelet /metrics/resource) are appended at
            # them and take no part in staleness, as in Prometheus.
            e_refs, e_ts, e_vals = refs[explicit], ts[explicit], values[explicit]
            order = np.argsort(e_ts, kind="stable")
            e_refs, e_ts, e_vals = e_refs[order], e_ts[order], e_vals[order]
            cuts = np.flatnonzero(np.diff(e_ts)) + 1
            for a, b in zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(e_ts)].tolist(), strict=True):
                stats.add(app.append(int(e_ts[a]), e_refs[a:b], e_vals[a:b]))
        self._count(stats)
        if memo is not None and np.array_equal(now, memo.now):
            unique = memo.cur
        else:
            unique = np.unique(cur)
            if series_set is not None:
                self._cache.memo = _Memo(series_set, refs, keep, kept, now, unique)
        return len(refs), kept, added, unique

    def _map_series(
        self,
        app: Appender,
        body: bytes,
        content_type: str,
        check: Callable[[], None],
        parsed: ParsedBody | None,
    ) -> tuple[ParsedBody, I64Array, NDArray[np.bool_], int, int]:
        """Parse ``body`` (unless ``parsed``) and map every sample's series text to its ref,
        creating the new series; returns (parsed, refs, kept mask, samples kept, series
        added). ``_DROPPED`` marks samples that metric relabeling drops."""
        opts = self.options
        cache = self._cache.refs
        sample_limit = opts.sample_limit
        early_limit = sample_limit if opts.metric_relabel is None else 0

        def progress(rows: int) -> None:
            if early_limit and rows > early_limit:
                raise _LimitError(
                    f"sample limit exceeded: at least {rows} samples, limit {early_limit}",
                    "exceeded_sample_limit",
                )
            check()

        if parsed is None:
            parsed = parse_text(
                body,
                openmetrics=content_type_format(content_type) == "openmetrics",
                source=self.url,
                known=cache.keys(),
                progress=progress,
            )
        check()
        fresh = {
            text: self._final_labels(labels)
            for text, labels in parsed.labels.items()
            if text not in cache
        }
        for text, labels in fresh.items():
            cache[text] = _DROPPED if labels is None else _NEW
        refs = np.fromiter(map(cache.__getitem__, parsed.series), np.int64, len(parsed.series))
        keep = refs != _DROPPED
        kept = int(np.count_nonzero(keep))
        if sample_limit and kept > sample_limit:
            for text, labels in fresh.items():
                if labels is not None:
                    del cache[text]  # never created: decided again next scrape
            raise _LimitError(
                f"sample limit exceeded: {kept} samples, limit {sample_limit}",
                "exceeded_sample_limit",
            )
        added = 0
        try:
            for text, labels in fresh.items():
                if labels is not None:
                    cache[text] = app.ref(labels)
                    added += 1
        finally:  # a placeholder must never outlive this scrape
            for text, labels in fresh.items():
                if labels is not None and cache.get(text) == _NEW:
                    del cache[text]
        if added:
            refs = np.fromiter(map(cache.__getitem__, parsed.series), np.int64, len(refs))
        # Keep the cache from growing with series that vanished long ago.
        if len(cache) > 2 * len(parsed.series) + 1000:
            live = set(parsed.series)
            for text in [k for k in cache if k not in live]:
                del cache[text]
        return parsed, refs, keep, kept, added

    def _count(self, stats: AppendStats) -> None:
        """Rejected samples, counted and logged as Prometheus' scrape loop does."""
        if not (stats.out_of_bounds or stats.out_of_order or stats.duplicate):
            return
        self.counters.add(
            sample_out_of_bounds=stats.out_of_bounds,
            sample_out_of_order=stats.out_of_order,
            sample_duplicate_timestamp=stats.duplicate,
        )
        for n, what in (
            (stats.out_of_order, "out-of-order samples"),
            (stats.duplicate, "samples with different value but same timestamp"),
            (stats.out_of_bounds, "samples that are too old or are too far into the future"),
        ):
            if n:
                log.warning("error on ingesting %s target=%s num_dropped=%d", what, self.url, n)

    def _final_labels(self, scraped: Labels) -> Labels | None:
        """Target labels, honor_labels, metric relabeling and limits for a new series text;
        None when relabeling drops it. Creates nothing."""
        labels = merge_target_labels(scraped, self.labels, honor=self.options.honor_labels)
        relabel = self.options.metric_relabel
        if relabel is not None:
            relabeled = relabel(labels)
            if relabeled is None:
                return None
            labels = relabeled
        self._check_label_limits(labels)
        try:
            validate_labels(labels)
        except KubepromError as err:
            raise _LimitError(str(err)) from err
        return labels

    def _check_label_limits(self, labels: Labels) -> None:
        o = self.options
        if o.label_limit and len(labels) > o.label_limit:
            raise _LimitError(
                f"label_limit exceeded (metric: {labels.name}, number of labels: {len(labels)}, "
                f"limit: {o.label_limit})",
                "exceeded_label_limits",
            )
        for name, value in labels:
            if o.label_name_length_limit and len(name) > o.label_name_length_limit:
                raise _LimitError(
                    f"label_name_length_limit exceeded (metric: {labels.name}, label name: "
                    f"{name}, length: {len(name)}, limit: {o.label_name_length_limit})",
                    "exceeded_label_limits",
                )
            if o.label_value_length_limit and len(value) > o.label_value_length_limit:
                raise _LimitError(
                    f"label_value_length_limit exceeded (metric: {labels.name}, label name: "
                    f"{name}, value: {value!r}, length: {len(value)}, limit: "
                    f"{o.label_value_length_limit})",
                    "exceeded_label_limits",
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
            try:
                await self.scrape_once(t_ms)
            except Exception as err:  # the loop's edge: a bug must not end the target's loop
                log.exception("scrape failed unexpectedly target=%s", self.url)
                h = self.health
                h.health, h.last_error = "down", f"internal error: {type(err).__name__}: {err}"
                h.scrapes += 1
                h.failures += 1
            t_ms = self.next_scrape_ms(max(t_ms + self.options.interval_ms, clock.now_ms()))

    def stop(self) -> None:
        self._stopped = True


class _LimitError(ScrapeError):
    """A per-scrape limit was exceeded; the scrape fails as a whole. ``counter`` names the
    :class:`ScrapeCounters` field it counts in ("" for none)."""

    def __init__(self, message: str, counter: str = "") -> None:
        super().__init__(message)
        self.counter = counter


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
