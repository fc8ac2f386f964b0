"""From discovered target groups to scrape targets: Prometheus' ``PopulateLabels``.

For each target of a group (``scrape/target.go``):

1. *discovered labels*: the target's labels, the group's labels it lacks, then ``job``,
   ``__scrape_interval__``, ``__scrape_timeout__``, ``__metrics_path__``, ``__scheme__`` and
   ``__param_<name>`` (first value) from the job wherever not already set;
2. ``relabel_configs`` apply; a dropped target is kept aside (``droppedTargets``);
3. checks: an ``__address__`` that is not a URL, interval and timeout labels that parse,
   are not 0 and timeout <= interval, label values that are valid UTF-8;
4. ``__meta_*`` labels go, ``instance`` defaults to ``__address__``.

The target keeps every remaining label (``all_labels``: the URL comes from ``__scheme__``,
``__address__``, ``__metrics_path__`` and ``__param_*``); its series get the ones without a
``__`` prefix (``labels``). No default port is added (Prometheus 3).

``Target.hash`` is Prometheus' target hash (FNV-1a of the zero-padded ``Labels.Hash()``, then
the URL), so :meth:`Target.offset_ms` places a target in its interval exactly where
Prometheus 3 would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

from kubeprom.config.relabeling import process
from kubeprom.config.scrape import ScrapeConfig, check_target_address
from kubeprom.errors import TargetError
from kubeprom.model.fnv import fnv1a_64
from kubeprom.model.labels import Labels
from kubeprom.model.timeutil import format_duration_ms, parse_duration_ms
from kubeprom.scraper.discovery.group import TargetGroup

ADDRESS_LABEL = "__address__"
SCHEME_LABEL = "__scheme__"
METRICS_PATH_LABEL = "__metrics_path__"
SCRAPE_INTERVAL_LABEL = "__scrape_interval__"
SCRAPE_TIMEOUT_LABEL = "__scrape_timeout__"
PARAM_LABEL_PREFIX = "__param_"
META_LABEL_PREFIX = "__meta_"
RESERVED_LABEL_PREFIX = "__"
JOB_LABEL = "job"
INSTANCE_LABEL = "instance"


@dataclass(frozen=True, slots=True)
class Target:
    """A target to scrape. ``labels`` go on every series scraped from it."""

    job: str
    labels: Labels
    all_labels: Labels
    discovered_labels: Labels
    url: str
    scrape_interval_ms: int
    scrape_timeout_ms: int
    hash: int

    def offset_ms(self, seed: int = 0) -> int:
        """Where in each interval the target is scraped: scrapes happen at Unix times
        ``t`` with ``t % interval == offset`` (Prometheus' ``offset()``, computed in ns).

        ``seed`` is the server's :func:`offset_seed` (0 in Prometheus' tests).
        """
        interval_ns = self.scrape_interval_ms * 1_000_000
        return ((self.hash ^ seed) % interval_ns) // 1_000_000


@dataclass(frozen=True, slots=True)
class DroppedTarget:
    """A target relabeling dropped, for ``/api/v1/targets``' ``droppedTargets``."""

    job: str
    discovered_labels: Labels


@dataclass(frozen=True, slots=True)
class TargetSet:
    """Targets of a job: active (deduplicated by hash), dropped, and why others failed."""

    active: list[Target] = field(default_factory=list)
    dropped: list[DroppedTarget] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def populate_discovered_labels(
    target: Mapping[str, str], group_labels: Mapping[str, str], cfg: ScrapeConfig
) -> Labels:
    """The labels before relabeling: target, then group, then the job's settings."""
    lb: dict[str, str] = {n: v for n, v in target.items() if v != ""}
    for name, value in group_labels.items():
        if name not in target and value != "":
            lb[name] = value
    defaults = (
        (JOB_LABEL, cfg.job_name),
        (SCRAPE_INTERVAL_LABEL, format_duration_ms(cfg.scrape_interval_ms)),
        (SCRAPE_TIMEOUT_LABEL, format_duration_ms(cfg.scrape_timeout_ms)),
        (METRICS_PATH_LABEL, cfg.metrics_path),
        (SCHEME_LABEL, cfg.scheme),
    )
    for name, value in defaults:
        if not lb.get(name) and value:
            lb[name] = value
    for name, values in cfg.params.items():
        label = PARAM_LABEL_PREFIX + name
        if values and not lb.get(label) and values[0]:
            lb[label] = values[0]
    return Labels(lb.items())


def populate_labels(
    target: Mapping[str, str], group_labels: Mapping[str, str], cfg: ScrapeConfig
) -> tuple[Labels | None, Labels]:
    """``(labels after relabeling, or None when dropped; discovered labels)``.

    Raises :class:`TargetError` with Prometheus' message when the target is unusable.
    """
    discovered = populate_discovered_labels(target, group_labels, cfg)
    relabeled = process(discovered, cfg.relabel_configs)
    if relabeled is None:
        return None, discovered
    address = relabeled.get(ADDRESS_LABEL)
    if address == "":
        raise TargetError("no address")
    reason = check_target_address(address)
    if reason is not None:
        raise TargetError(reason)
    interval_text = relabeled.get(SCRAPE_INTERVAL_LABEL)
    timeout_text = relabeled.get(SCRAPE_TIMEOUT_LABEL)
    interval = _label_duration(interval_text, "interval")
    timeout = _label_duration(timeout_text, "timeout")
    if timeout > interval:
        raise TargetError(
            "scrape timeout cannot be greater than scrape interval "
            f"({timeout_text!r} > {interval_text!r})"
        )
    kept = {n: v for n, v in relabeled if not n.startswith(META_LABEL_PREFIX)}
    if not kept.get(INSTANCE_LABEL):
        kept[INSTANCE_LABEL] = address
    for name, value in kept.items():
        if not _valid_utf8(value):
            raise TargetError(f"invalid label value for {name!r}: {value!r}")
    return Labels(kept.items()), discovered


def _label_duration(text: str, what: str) -> int:
    try:
        ms = parse_duration_ms(text)
    except ValueError as err:
        raise TargetError(f"error parsing scrape {what}: {err}") from err
    if ms == 0:
        raise TargetError(f"scrape {what} cannot be 0")
    return ms


def _valid_utf8(value: str) -> bool:
    # Lone surrogates are the only str content that is not encodable text.
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def make_target(cfg: ScrapeConfig, labels: Labels, discovered: Labels) -> Target:
    """A :class:`Target` from the result of :func:`populate_labels`."""
    url = target_url(labels, cfg.params)
    return Target(
        job=cfg.job_name,
        labels=Labels.from_flat(
            _flat((n, v) for n, v in labels if not n.startswith(RESERVED_LABEL_PREFIX))
        ),
        all_labels=labels,
        discovered_labels=discovered,
        url=url,
        scrape_interval_ms=parse_duration_ms(labels.get(SCRAPE_INTERVAL_LABEL)),
        scrape_timeout_ms=parse_duration_ms(labels.get(SCRAPE_TIMEOUT_LABEL)),
        hash=target_hash(labels.hash(), url),
    )


def _flat(pairs: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    return tuple(x for pair in pairs for x in pair)


def targets_from_group(group: TargetGroup, cfg: ScrapeConfig) -> TargetSet:
    """Every target of one group (Prometheus' ``TargetsFromGroup``)."""
    out = TargetSet()
    for i, target in enumerate(group.targets):
        try:
            labels, discovered = populate_labels(target, group.labels, cfg)
        except TargetError as err:
            out.failures.append(f"instance {i} in group {group.source}: {err}")
            continue
        if labels is None:
            out.dropped.append(DroppedTarget(cfg.job_name, discovered))
        else:
            out.active.append(make_target(cfg, labels, discovered))
    return out


def build_targets(cfg: ScrapeConfig, groups: Iterable[TargetGroup]) -> TargetSet:
    """All targets of a job; a target equal (by hash) to an earlier one is dropped silently,
    as in Prometheus' scrape pool."""
    out = TargetSet()
    seen: set[int] = set()
    for group in groups:
        part = targets_from_group(group, cfg)
        for t in part.active:
            if t.hash not in seen:
                seen.add(t.hash)
                out.active.append(t)
        out.dropped.extend(part.dropped)
        out.failures.extend(part.failures)
    return out


# ---- URLs ------------------------------------------------------------------------------------

# Go's url.URL.EscapedPath keeps these besides letters, digits and "-_.~".
_PATH_SAFE = "$&+,/:;=@"


def target_url(labels: Labels, params: Mapping[str, tuple[str, ...]]) -> str:
    """``scheme://address/path?query`` as Go's ``url.URL.String``; ``__param_<k>`` labels
    replace the first value of query parameter ``k``; keys are sorted as ``Values.Encode``."""
    query: dict[str, list[str]] = {k: list(v) for k, v in params.items()}
    for name, value in labels:
        if name.startswith(PARAM_LABEL_PREFIX):
            key = name[len(PARAM_LABEL_PREFIX) :]
            if query.get(key):
                query[key][0] = value
            else:
                query[key] = [value]
    path = labels.get(METRICS_PATH_LABEL)
    address = labels.get(ADDRESS_LABEL)
    if path and address and not path.startswith("/"):
        path = "/" + path
    url = f"{labels.get(SCHEME_LABEL)}://{address}{quote(path, safe=_PATH_SAFE)}"
    encoded = "&".join(
        f"{quote_plus(k, safe='')}={quote_plus(v, safe='')}"
        for k in sorted(query)
        for v in query[k]
    )
    return f"{url}?{encoded}" if encoded else url


# ---- hashing as Prometheus -------------------------------------------------------------------


def target_hash(labels_hash: int, url: str) -> int:
    """Prometheus' ``Target.hash()``: FNV-1a of ``%016d`` of the labels' ``Hash()``, then the
    URL. Takes the labels' hash rather than the labels so a check against another build's
    ``Labels.Hash()`` (2.x) can reuse the rest."""
    return fnv1a_64(f"{labels_hash:016d}{url}".encode())


def offset_seed(hostname: str, external_labels: Mapping[str, str]) -> int:
    """The scrape manager's ``offsetSeed``: FNV-1a of the hostname and external labels
    (``labels.Labels.String()``: ``{a="b", c="d"}``), so that HA replicas scrape at different
    moments."""
    return fnv1a_64(f"{hostname}{Labels.from_dict(external_labels).braced()}".encode())
