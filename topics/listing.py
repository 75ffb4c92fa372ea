"""The topic index of a cluster: search, sort and paginate thousands of topics quickly.

Two cached layers per cluster, both in the Django cache (Redis) for METADATA_CACHE_TTL:

- the *index*: one Metadata request turned into compact tuples (name, partitions,
  replication factor, under-replicated count) — cheap to fetch, cheap to unpickle;
- the *enrichment*, in two blobs: message counts (Σ high - low watermark, a ListOffsets
  over every partition) and retention configs (a DescribeConfigs per topic).

Only the rows on the page are enriched when sorting by name or partitions; sorting by
messages counts every topic that passed the search, sorting by retention reads all their
configs (each only what it sorts by), once per TTL.
Everything is per cluster, so one slow cluster never holds up another.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

from django.conf import settings
from django.core.cache import cache
from humanize import naturaldelta

from backbone_admin.kafka import (
    BackboneError,
    ClusterUnavailable,
    InvalidRequest,
    TopicMetadata,
    is_internal_topic,
)
from backbone_admin.kafka.client import ContextPool
from backbone_admin.kafka.offsets import log_ends
from backbone_admin.kafka.topics import TopicSummary, describe_topic_configs, topic_summaries
from backbone_admin.paging import PageInfo
from backbone_admin.patterns import REGEX_PREFIX, name_filter
from topics.refresh import refresh_allowed
from topics.retention import governing_policy, ordered_policies
from topics.sizes import TopicSizes, topic_sizes
from topics.sizes import invalidate as invalidate_sizes
from topics.units import format_duration_ms, format_size_bytes
from topics.visibility import visible_rows

log = logging.getLogger("backbone.topics")

SORTS = ("name", "partitions", "messages", "size", "retention", "rate")
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
SIZE_UNAVAILABLE = (
    "Bytes of one copy of the topic in the brokers' log directories (DescribeLogDirs); "
    "null when unknown (a cluster whose brokers do not offer the request, or a broker that did not answer)."
)

# (name, partitions, replication factor, under-replicated partitions)
IndexRow = tuple[str, int, int, int]
# (retention.ms, retention.bytes, cleanup.policy); None where unknown
Configs = tuple[int | None, int | None, str | None]

# ListOffsets slows down more than linearly with the partitions in one request (10,000
# partitions: 4.4 s in one request, 0.9 s as ten requests of 1,000 sent together).
OFFSETS_CHUNK = 1000
# A pool per cluster, so a cluster that does not answer only ties up its own threads.
_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def cluster_pool(cluster: str) -> ThreadPoolExecutor:
    with _pools_lock:
        pool = _pools.get(cluster)
        if pool is None:
            pool = _pools[cluster] = ContextPool(max_workers=8, thread_name_prefix=f"topics-{cluster}")
        return pool


@dataclass(frozen=True)
class TopicRow:
    name: str
    partitions: int
    replication_factor: int
    under_replicated: int
    internal: bool
    messages: int | None
    size: int | None
    retention_ms: int | None
    retention_bytes: int | None
    cleanup_policy: str | None
    policy: str | None
    # Events/s appended over the last throughput interval; None before the first sample.
    rate: float | None = None

    @property
    def retention_ms_human(self) -> str:
        return format_duration_ms(self.retention_ms) if self.retention_ms is not None else "—"

    @property
    def size_human(self) -> str:
        return format_size_bytes(self.size)

    @property
    def retention_bytes_human(self) -> str:
        return format_size_bytes(self.retention_bytes) if self.retention_bytes is not None else "—"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "partitions": self.partitions,
            "replication_factor": self.replication_factor,
            "under_replicated": self.under_replicated,
            "internal": self.internal,
            "messages": self.messages,
            "size": self.size,
            "size_bytes": self.size,
            "retention_ms": self.retention_ms,
            "retention_bytes": self.retention_bytes,
            "retention_ms_human": self.retention_ms_human,
            "retention_bytes_human": self.retention_bytes_human,
            "cleanup_policy": self.cleanup_policy,
            "retention_policy": self.policy,
            "rate": self.rate,
        }


@dataclass(frozen=True)
class TopicPage(PageInfo):
    rows: list[TopicRow]
    count: int
    page: int
    page_size: int
    sort: str
    order: str
    fetched_at: float
    warnings: list[str] = field(default_factory=list)
    size_unknown: str | None = None  # why the size column is empty (topics/sizes.py)


def _index_key(cluster: str) -> str:
    return f"topics:index:{cluster}"


def _enrich_key(cluster: str) -> str:
    return f"topics:enrich:{cluster}"  # the retention configs


def _counts_key(cluster: str) -> str:
    return f"topics:counts:{cluster}"


def _ttl() -> int:
    return max(1, int(settings.METADATA_CACHE_TTL))


def cache_get(key: str) -> Any:
    """The cached value, or None; a Redis outage only costs the cache."""
    try:
        return cache.get(key)
    except Exception:  # the listing works (slower) while Redis is down
        log.warning("cannot read %s from the cache", key, exc_info=True)
        return None


def cache_set(key: str, value: Any, timeout: float | None = None) -> None:
    try:
        cache.set(key, value, timeout=max(1, int(timeout if timeout is not None else _ttl())))
    except Exception:
        log.warning("cannot cache %s", key, exc_info=True)


def invalidate(cluster: str) -> None:
    """Forget the cached index and enrichment of a cluster (after a change)."""
    try:
        cache.delete_many([_index_key(cluster), _enrich_key(cluster), _counts_key(cluster), _offline_key(cluster)])
    except Exception:
        log.warning("cannot invalidate the topic cache of %s", cluster, exc_info=True)
    invalidate_sizes(cluster)


# The last index a cluster answered is kept much longer than the cache: while the cluster
# is down, the list is shown as it was, saying how old it is, instead of nothing at all.
LAST_KNOWN_TTL = 7 * 24 * 3600


def _last_known_key(cluster: str) -> str:
    return f"topics:last-known:{cluster}"


def _offline_key(cluster: str) -> str:
    return f"topics:offline:{cluster}"


def store_index(cluster: str, topics: Sequence[TopicMetadata]) -> tuple[float, list[IndexRow]]:
    return _store(
        cluster, [(t.name, len(t.partitions), t.replication_factor, t.under_replicated, t.offline) for t in topics]
    )


def _store(cluster: str, summaries: Sequence[TopicSummary]) -> tuple[float, list[IndexRow]]:
    blob = (time.time(), [(name, count, rf, under) for name, count, rf, under, _ in summaries])
    cache_set(_index_key(cluster), blob)
    cache_set(_last_known_key(cluster), blob, LAST_KNOWN_TTL)
    # Beside the index (whose rows keep their shape): what a scoped user's health counts as offline.
    cache_set(_offline_key(cluster), {s[0]: s[4] for s in summaries if s[4]})
    return blob


def index_with_offline(cluster: str) -> tuple[float, list[IndexRow], dict[str, int]]:
    """(fetched_at, index rows, offline partitions per topic with some), read together."""
    blob, offline = cache_get(_index_key(cluster)), cache_get(_offline_key(cluster))
    if blob is None or offline is None:
        blob = _store(cluster, topic_summaries(cluster))
        offline = cache_get(_offline_key(cluster)) or {}
    return blob[0], blob[1], offline


def topic_index(
    cluster: str, *, refresh: bool = False, warnings: list[str] | None = None
) -> tuple[float, list[IndexRow]]:
    """(fetched_at, rows sorted by name) from the cache, or from the cluster.

    With `warnings`, a cluster that does not answer yields its last known index (and a
    warning naming the cause and the age) when there is one.
    """
    if not refresh:
        cached = cache_get(_index_key(cluster))
        if cached is not None:
            return cached
    try:
        return _store(cluster, topic_summaries(cluster))
    except ClusterUnavailable as exc:
        last = cache_get(_last_known_key(cluster)) if warnings is not None else None
        if warnings is None or last is None:
            raise
        age = naturaldelta(max(0.0, time.time() - last[0]))
        warnings.append(f"{exc.message}. Showing the topics as they were {age} ago.")
        return cast(tuple[float, list[IndexRow]], last)


def _fetch_counts(cluster: str, rows: Sequence[IndexRow]) -> dict[str, int]:
    """Events in each topic: Σ latest - earliest offset of its partitions, ListOffsets answers as they are."""
    partitions = [(name, p) for name, count, _, _ in rows for p in range(count)]
    pool = cluster_pool(cluster)
    chunks = [
        # Thousands of topics: chunks sent together, the log starts and ends of each at once.
        (
            chunk,
            pool.submit(log_ends, cluster, chunk, latest=False),
            pool.submit(log_ends, cluster, chunk, latest=True),
        )
        for chunk in (partitions[i : i + OFFSETS_CHUNK] for i in range(0, len(partitions), OFFSETS_CHUNK))
    ]
    messages: dict[str, int] = dict.fromkeys((r[0] for r in rows), 0)
    for chunk, starts, ends in chunks:
        for (topic, _), low, high in zip(chunk, starts.result(), ends.result(), strict=True):
            if high > low:
                messages[topic] += high - low
    return messages


def _fetch_configs(cluster: str, names: Sequence[str]) -> dict[str, Configs]:
    described = describe_topic_configs(cluster, names)
    result: dict[str, Configs] = {}
    for name in names:
        conf = described.get(name, {})
        ms, size, cleanup = conf.get("retention.ms"), conf.get("retention.bytes"), conf.get("cleanup.policy")
        result[name] = (
            _int_or_none(ms.value if ms else None),
            _int_or_none(size.value if size else None),
            cleanup.value if cleanup else None,
        )
    return result


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _fresh(key: str) -> tuple[float, dict[str, Any]]:
    """(started_at, data) of an enrichment blob younger than the TTL, else an empty one from now."""
    blob = cache_get(key)
    now = time.time()
    return blob if blob and now - blob[0] < _ttl() else (now, {})


def _enriched(
    cluster: str, rows: Sequence[IndexRow], warnings: list[str], *, counts: bool = True, configs: bool = True
) -> tuple[dict[str, int], dict[str, Configs]]:
    """Message counts and retention configs (each when asked) covering `rows`: from the cache,
    fetching only what is missing, both at once."""
    # (started_at, data): pages enriched later join the blob but never extend its life,
    # so no count is older than the TTL.
    counted_at, counted = _fresh(_counts_key(cluster)) if counts else (0.0, {})
    described_at, described = _fresh(_enrich_key(cluster)) if configs else (0.0, {})
    no_count = [r for r in rows if r[0] not in counted] if counts else []
    no_configs = [r[0] for r in rows if r[0] not in described] if configs else []
    if not no_count and not no_configs:
        return counted, described
    pool = cluster_pool(cluster)
    future = pool.submit(_fetch_configs, cluster, no_configs) if no_configs else None
    try:
        if no_count:
            counted.update(_fetch_counts(cluster, no_count))
            cache_set(_counts_key(cluster), (counted_at, counted), timeout=_ttl() - (time.time() - counted_at))
        if future is not None:
            described.update(future.result())
            cache_set(_enrich_key(cluster), (described_at, described), timeout=_ttl() - (time.time() - described_at))
    except BackboneError as exc:
        # The names and partitions are still worth showing; counts come back on refresh.
        warning = f"Message counts and retention are unavailable right now: {exc.message}"
        if warning not in warnings:
            warnings.append(warning)
    return counted, described


def _retention_key(value: int | None) -> float:
    return float("inf") if value is not None and value < 0 else float(value or 0)


def _rates(cluster: str) -> dict[str, float] | None:
    """Events/s per moving topic of the last throughput sample; None before the first one."""
    from topics.throughput.models import ThroughputLatest  # models load after the app registry

    # Only the (sparse) rates: the row's `ends` names every topic, 2.5 MB of JSON to decode on
    # each page view at 100,000 topics (bench/topics_100k.py).
    found = ThroughputLatest.objects.filter(cluster=cluster).values_list("rates", flat=True).first()
    return None if found is None else {t: float(v) for t, v in found.items()}


def topic_page(
    cluster: str,
    *,
    search: str = "",
    sort: str = "name",
    order: str = "asc",
    page: int = 1,
    page_size: int = PAGE_SIZE,
    internal: bool = False,
    refresh: bool = False,
    user: Any = None,
) -> TopicPage:
    """One page of the cluster's topics; raises InvalidRequest for a bad search or parameter.

    Only the topics `user` may see are listed, counted, sorted and enriched (None: every topic,
    for internal callers). `refresh` re-reads the cluster when `user` is within the refresh rate
    limits; otherwise the cached data is served with a warning saying so.
    """
    if sort not in SORTS:
        raise InvalidRequest(f"sort must be one of {', '.join(SORTS)}", fields={"sort": "unknown sort"})
    if order not in ("asc", "desc"):
        raise InvalidRequest("order must be asc or desc", fields={"order": "must be asc or desc"})
    page_size = min(max(1, page_size), MAX_PAGE_SIZE)
    matches = name_filter(search)
    warnings: list[str] = []
    if refresh:
        decision = refresh_allowed(user, cluster, what="topics")
        refresh = decision.allowed
        if not refresh:
            warnings.append(decision.note)
    if refresh:
        invalidate(cluster)
    fetched_at, index = topic_index(cluster, refresh=refresh, warnings=warnings)
    # Visibility first: nothing below (counts, sorting by messages, enrichment) sees a hidden topic.
    if user is not None:
        index = visible_rows(user, cluster, fetched_at, index)
    rows = [r for r in index if internal or not is_internal_topic(r[0])]
    if matches is not None and search.strip().startswith(REGEX_PREFIX):
        # A regex is run on the name's UTF-8 bytes: RE2's same answer without the wrapper's
        # character offsets for str, a third of the time (100,000 names, bench/topics_100k.py).
        rows = [r for r in rows if matches.search(r[0].encode())]
    elif matches is not None:  # a substring: `in`, on str
        rows = [r for r in rows if matches.search(r[0])]
    reverse = order == "desc"
    counts: dict[str, int] = {}
    configs: dict[str, Configs] = {}
    sizes: TopicSizes | None = None
    if sort in ("messages", "retention"):
        # These orders need every matching topic's count (a ListOffsets over all partitions) or
        # its configs (a DescribeConfigs each), only what they sort by; unknown values go last.
        counts, configs = _enriched(cluster, rows, warnings, counts=sort == "messages", configs=sort == "retention")
        retention: dict[str, float] = (
            {n: _retention_key(c[0]) for n, c in configs.items() if c[0] is not None} if sort == "retention" else {}
        )
        value: Mapping[str, float] = counts if sort == "messages" else retention
        known = [r for r in rows if r[0] in value]
        known.sort(key=lambda r: (value[r[0]], r[0]), reverse=reverse)
        rows = known + [r for r in rows if r[0] not in value]
    elif sort == "rate":
        # The last throughput sample (one database row): a topic that did not move is 0 events/s.
        rates = _rates(cluster)
        rows.sort(key=lambda r: (rates.get(r[0], 0.0) if rates is not None else 0.0, r[0]), reverse=reverse)
    elif sort == "partitions":
        rows.sort(key=lambda r: (r[1], r[0]), reverse=reverse)
    elif sort == "size":
        sizes = topic_sizes(cluster, [(r[0], r[1]) for r in rows], everything=True)
        by_size = {r[0]: size for r in rows if (size := sizes.size(r[0], r[1])) is not None}
        if sizes.unknown:
            warnings.append(f"{sizes.unknown} Sorted by name instead.")
        known = sorted((r for r in rows if r[0] in by_size), key=lambda r: (by_size[r[0]], r[0]), reverse=reverse)
        # Unknown sizes go last, by name (all rows, in the asked order, when no size is known at all).
        rows = known + [r for r in rows if r[0] not in by_size][:: -1 if reverse and not known else 1]
    elif reverse:  # name
        rows.reverse()
    count = len(rows)
    pages = max(1, -(-count // page_size))
    page = min(max(1, page), pages)
    shown = rows[(page - 1) * page_size : page * page_size]
    # The page's sizes (one DescribeLogDirs per broker when not cached) are asked meanwhile.
    asked = None if sizes is not None else cluster_pool(cluster).submit(topic_sizes, cluster, [r[:2] for r in shown])
    # The page's rows get what the order did not read (what it read, they have, or it failed).
    more_counts, more_configs = _enriched(
        cluster, shown, warnings, counts=sort != "messages", configs=sort != "retention"
    )
    counts = counts if sort == "messages" else more_counts
    configs = configs if sort == "retention" else more_configs
    shown_sizes = asked.result() if asked is not None else cast(TopicSizes, sizes)
    warnings.extend(shown_sizes.warnings)
    policies = ordered_policies()
    rates = _rates(cluster)
    result = []
    for name, partitions, rf, under in shown:
        messages = counts.get(name)
        ms, size, cleanup = configs.get(name, (None, None, None))
        policy = governing_policy(name, policies)
        result.append(
            TopicRow(
                name=name,
                partitions=partitions,
                replication_factor=rf,
                under_replicated=under,
                internal=is_internal_topic(name),
                messages=messages,
                size=shown_sizes.size(name, partitions),
                retention_ms=ms,
                retention_bytes=size,
                cleanup_policy=cleanup,
                policy=policy.name if policy else None,
                rate=None if rates is None else rates.get(name, 0.0),
            )
        )
    return TopicPage(
        rows=result,
        count=count,
        page=page,
        page_size=page_size,
        sort=sort,
        order=order,
        fetched_at=fetched_at,
        warnings=warnings,
        size_unknown=shown_sizes.unknown,
    )
